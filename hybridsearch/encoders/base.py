"""The encoder door: what an index needs from a dense model, and what it records about one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from ..config import DenseConfig
from ..errors import InputError, ModelMismatchError

__all__ = ["Encoder", "ModelSpec", "Progress", "check_vectors", "checked_dim", "truncate", "unit_rows"]

#: Called with how many more texts were encoded.
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
    """What the index needs from a dense model. Implementations are registered by the scheme of the
    model name (`register_encoder`); `encode_queries` may be called from many threads at once."""

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


def check_vectors(vectors: np.ndarray, count: int, dim: int) -> np.ndarray:
    """Validate encoder output: `count` finite rows of `dim` columns."""
    if vectors.shape != (count, dim) or not np.isfinite(vectors).all():
        raise ModelMismatchError(
            f"The encoder returned vectors of shape {vectors.shape} (expected ({count}, {dim}), finite)."
        )
    return vectors
