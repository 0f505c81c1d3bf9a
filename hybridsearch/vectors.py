"""Dense vectors in FAISS: exact inner product over L2-normalised vectors, keyed by chunk id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["VectorStore"]


class VectorStore:
    """A FAISS `IndexIDMap2(IndexFlatIP)`: cosine similarity, exact, with chunk ids as FAISS ids."""

    def __init__(self, index: Any) -> None:
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray | None = None) -> VectorStore:
        """Index `vectors` (rows L2-normalised) under `ids` (default: row numbers)."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.arange(len(vectors), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
        if len(vectors):
            index.add_with_ids(vectors, ids)
        return cls(index)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the `k` nearest chunks to one query vector, best first."""
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores, ids = self.index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of the given chunk ids (exact: the index is flat)."""
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def ids(self) -> np.ndarray:
        """Every chunk id held, in insertion order."""
        import faiss

        return faiss.vector_to_array(self.index.id_map)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> VectorStore:
        import faiss

        return cls(faiss.read_index(str(path)))
