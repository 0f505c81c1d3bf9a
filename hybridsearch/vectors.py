"""Dense vectors in FAISS, keyed by chunk id: inner product over L2-normalised vectors, exact (`flat`,
`sq8`: 8-bit scalar-quantised) or approximate (`hnsw`, `hnsw-sq8`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .config import VectorConfig, VectorKind

__all__ = ["VectorStore"]

_HNSW_LINKS = 32
_HNSW_EF_CONSTRUCTION = 80
_PARALLEL_SCAN_MIN = 30_000


class VectorStore:
    """A FAISS `IndexIDMap2` over a flat, HNSW or SQ8 index: cosine similarity, chunk ids as FAISS ids."""

    def __init__(self, index: Any, config: VectorConfig | None = None) -> None:
        import faiss

        self.index = index
        self.config = config or VectorConfig()
        inner: Any = faiss.downcast_index(index.index)
        self._hnsw: Any = inner.hnsw if hasattr(inner, "hnsw") else None
        self.kind: VectorKind  # what this store is (`auto` resolved when it was built)
        if self._hnsw is not None:
            eight_bit = hasattr(faiss.downcast_index(inner.storage), "sq")
            self.kind = VectorKind.HNSW_SQ8 if eight_bit else VectorKind.HNSW
        else:
            self.kind = VectorKind.SQ8 if hasattr(inner, "sq") else VectorKind.FLAT

    @classmethod
    def build(
        cls, vectors: np.ndarray, ids: np.ndarray | None = None, config: VectorConfig | None = None
    ) -> VectorStore:
        """Index `vectors` (rows L2-normalised) under `ids` (default: row numbers)."""
        import faiss

        config = config or VectorConfig()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.arange(len(vectors), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        dim = vectors.shape[1]
        kind = config.kind_for(len(vectors))
        inner: Any
        if kind is VectorKind.HNSW:
            inner = faiss.IndexHNSWFlat(dim, _HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
        elif kind is VectorKind.HNSW_SQ8:
            eight_bit: Any = faiss.ScalarQuantizer.QT_8bit
            inner = faiss.IndexHNSWSQ(dim, eight_bit, _HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
        elif kind is VectorKind.SQ8:
            inner = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        else:
            inner = faiss.IndexFlatIP(dim)
        if len(vectors) and not inner.is_trained:  # the 8-bit kinds learn each dimension's range
            inner.train(vectors)
        index = faiss.IndexIDMap2(inner)
        if len(vectors):
            index.add_with_ids(vectors, ids)
        return cls(index, config)

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
        if self._hnsw is not None:
            self._hnsw.efSearch = max(self.config.ef_search, k)
        # FAISS splits one query's scan across threads: a loss on small indexes (10k vectors: 2.1 ms on
        # two threads, 1.4 ms on one), a gain on large ones (100k: 31.6 ms on one, 16.1 ms on two)
        with _threads(1 if len(self) < _PARALLEL_SCAN_MIN else None):
            scores, ids = self.index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of the given chunk ids (as stored: exact, or decoded from 8 bits for `sq8`)."""
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
    def load(cls, path: Path, config: VectorConfig | None = None) -> VectorStore:
        import faiss

        return cls(faiss.read_index(str(path)), config)


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Run FAISS on `count` threads (None: as configured) inside the block."""
    import faiss

    before = faiss.omp_get_max_threads()
    if count is not None:
        faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
