"""Tiny randomly initialised sentence-transformers folders, one per model family our users pick.

Each is built locally (transformers + tokenizers, nothing downloaded) with its family's real module
layout, pooling and prompt config, but with a character-level vocabulary and 32-wide layers, so a
test can index and query with it in a second.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors

WIDTH = 32
MAX_TOKENS = 128

QWEN3_QUERY_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"


@dataclass(frozen=True)
class Family:
    """A model family's layout: architecture, specials, pooling and the prompts in its own config."""

    folder: str  # named like the real model, so the family table can recognise it
    architecture: str
    specials: tuple[str, ...]  # pad first
    template: str  # post-processor template; $A is the text
    pooling: str = "mean"
    prompts: dict[str, str] = field(default_factory=dict)  # what config_sentence_transformers.json carries
    dense: bool = False  # EmbeddingGemma's two Dense projections after pooling
    padding_side: str = "right"


FAMILIES = {
    "bert": Family("multilingual-e5-tiny", "bert", ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"), "[CLS] $A [SEP]"),
    "xlm-roberta": Family(
        "bge-m3-tiny", "xlm-roberta", ("<pad>", "<unk>", "<s>", "</s>", "<mask>"), "<s> $A </s>", pooling="cls"
    ),  # fmt: skip
    "modernbert": Family(
        "ruri-v3-tiny",
        "modernbert",
        ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
        "[CLS] $A [SEP]",
        prompts={"query": "検索クエリ: ", "document": "検索文書: "},
    ),  # fmt: skip
    "gemma3": Family(
        "embeddinggemma-tiny",
        "gemma3",
        ("<pad>", "<unk>", "<bos>", "<eos>"),
        "<bos> $A <eos>",
        dense=True,
        prompts={"query": "task: search result | query: ", "document": "title: none | text: "},
    ),  # fmt: skip
    "qwen3": Family(
        "Qwen3-Embedding-tiny",
        "qwen3",
        ("<|endoftext|>", "<unk>"),
        "$A <|endoftext|>",
        pooling="lasttoken",
        prompts={"query": QWEN3_QUERY_PROMPT, "document": ""},
        padding_side="left",
    ),  # fmt: skip
    "static": Family("static-embedding-japanese-tiny", "static", ("[PAD]", "[UNK]"), "$A"),
}


def char_tokenizer(family: Family, text: str) -> Tokenizer:
    """One token per character of `text`, ASCII and kana; the family's special tokens and template."""
    kana = "".join(chr(c) for c in range(0x3041, 0x3097)) + "".join(chr(c) for c in range(0x30A1, 0x30FB))
    chars = sorted(set(text + string.ascii_letters + string.digits + string.punctuation + kana + "ー、。「」") - {" "})
    vocab = {token: i for i, token in enumerate([*family.specials, *chars])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]" if "[UNK]" in vocab else "<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    if family.template != "$A":
        specials = [(token, vocab[token]) for token in family.specials if token in family.template]
        tokenizer.post_processor = processors.TemplateProcessing(single=family.template, special_tokens=specials)
    return tokenizer


def build(family_key: str, folder: Path, text: str) -> Path:
    """Save a tiny random model of `family_key` as a sentence-transformers folder under `folder`."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Dense,
        Normalize,
        Pooling,
        StaticEmbedding,
        Transformer,
    )

    family = FAMILIES[family_key]
    torch.manual_seed(0)
    tokenizer = char_tokenizer(family, text + "".join(family.prompts.values()))
    path = folder / family.folder
    if family.architecture == "static":
        modules: list[Any] = [StaticEmbedding(tokenizer, embedding_dim=WIDTH * 2)]
    else:
        hf_folder = folder / f"{family.folder}-hf"
        _save_transformer(family, tokenizer, hf_folder)
        modules = [Transformer(str(hf_folder), max_seq_length=MAX_TOKENS), Pooling(WIDTH, pooling_mode=family.pooling)]
        if family.dense:
            modules += [Dense(WIDTH, WIDTH * 4, bias=False), Dense(WIDTH * 4, WIDTH, bias=False)]
    model = SentenceTransformer(modules=[*modules, Normalize()], prompts=family.prompts or None, device="cpu")
    model.save(str(path))
    return path


def build_custom_code(folder: Path, text: str) -> Path:
    """A static model whose module class lives in the folder's own Python file (like SSE-MRL-ja), so
    loading it needs `trust_remote_code`."""
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    path = folder / "sse-mrl-ja-tiny"
    module = StaticEmbedding(char_tokenizer(FAMILIES["static"], text), embedding_dim=WIDTH * 2)
    path.mkdir(parents=True)
    module.save(str(path))
    (path / "sse_module.py").write_text(
        "import torch\n"
        "from sentence_transformers.sentence_transformer.modules import StaticEmbedding\n\n\n"
        "class SeparableTanhStatic(StaticEmbedding):\n"
        "    @classmethod\n"
        "    def load(cls, *args, **kwargs):\n"
        "        plain = StaticEmbedding.load(*args, **kwargs)\n"
        "        return cls(plain.tokenizer, embedding_weights=plain.embedding.weight.detach())\n\n"
        "    def forward(self, features, **kwargs):\n"
        "        features = super().forward(features, **kwargs)\n"
        "        features['sentence_embedding'] = torch.tanh(features['sentence_embedding'])\n"
        "        return features\n",
        encoding="utf-8",
    )
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sse_module.SeparableTanhStatic"}]
    (path / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    return path


def _save_transformer(family: Family, tokenizer: Tokenizer, folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    specials = family.specials
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=specials[0],
        unk_token=specials[1],
        model_max_length=MAX_TOKENS,
        padding_side=family.padding_side,
        **_named_specials(specials),
    )
    fast.save_pretrained(str(folder))
    ids = {token: tokenizer.token_to_id(token) for token in specials}
    _model(family.architecture, tokenizer.get_vocab_size(), ids).save_pretrained(str(folder))


def _named_specials(specials: tuple[str, ...]) -> dict[str, str]:
    names = {"[CLS]": "cls_token", "[SEP]": "sep_token", "[MASK]": "mask_token", "<s>": "bos_token",
             "</s>": "eos_token", "<mask>": "mask_token", "<bos>": "bos_token", "<eos>": "eos_token"}  # fmt: skip
    named = {names[token]: token for token in specials if token in names}
    if "<|endoftext|>" in specials:
        named["eos_token"] = "<|endoftext|>"
    return named


def _model(architecture: str, vocab_size: int, ids: dict[str, int]) -> Any:
    import transformers as t

    size: dict[str, Any] = {
        "vocab_size": vocab_size, "hidden_size": WIDTH, "intermediate_size": WIDTH * 2, "num_hidden_layers": 1,
        "num_attention_heads": 2, "max_position_embeddings": MAX_TOKENS + 2,
    }  # fmt: skip
    if architecture == "bert":
        return t.BertModel(t.BertConfig(**size, pad_token_id=ids["[PAD]"]))
    if architecture == "xlm-roberta":
        return t.XLMRobertaModel(t.XLMRobertaConfig(**size, pad_token_id=ids["<pad>"]), add_pooling_layer=False)
    if architecture == "modernbert":
        cls, sep = ids["[CLS]"], ids["[SEP]"]
        specials = {"cls_token_id": cls, "sep_token_id": sep, "bos_token_id": cls, "eos_token_id": sep}
        return t.ModernBertModel(t.ModernBertConfig(**size, pad_token_id=ids["[PAD]"], **specials))
    decoder = {"num_key_value_heads": 1, "head_dim": WIDTH // 2}
    if architecture == "gemma3":
        specials = {"pad_token_id": ids["<pad>"], "bos_token_id": ids["<bos>"], "eos_token_id": ids["<eos>"]}
        bidirectional = {"sliding_window": MAX_TOKENS, "use_bidirectional_attention": True}  # as EmbeddingGemma
        return t.Gemma3TextModel(t.Gemma3TextConfig(**size, **decoder, **specials, **bidirectional))
    if architecture == "qwen3":
        eos = ids["<|endoftext|>"]
        return t.Qwen3Model(t.Qwen3Config(**size, **decoder, pad_token_id=eos, eos_token_id=eos))
    raise ValueError(f"unknown architecture {architecture!r}")


def build_cross_encoder(folder: Path, text: str) -> Path:
    """A tiny random BERT cross-encoder (one relevance logit per pair) saved as a transformers folder,
    which sentence-transformers' CrossEncoder loads as it loads a downloaded reranker."""
    import torch
    import transformers as t
    from transformers import PreTrainedTokenizerFast

    torch.manual_seed(0)
    family = FAMILIES["bert"]
    tokenizer = char_tokenizer(family, text)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    path = folder / "japanese-reranker-tiny"
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=MAX_TOKENS * 2, pad_token="[PAD]", unk_token="[UNK]",
        **_named_specials(family.specials),
    )  # fmt: skip
    fast.save_pretrained(str(path))
    config = t.BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=WIDTH, intermediate_size=WIDTH * 2, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=MAX_TOKENS * 2 + 2, num_labels=1,
        pad_token_id=tokenizer.token_to_id("[PAD]"),
    )  # fmt: skip
    t.BertForSequenceClassification(config).save_pretrained(str(path))
    return path
