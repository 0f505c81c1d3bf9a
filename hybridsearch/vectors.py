"""Dense vectors in FAISS, keyed by chunk id: inner product over L2-normalised vectors, exact (`flat`,
`sq8`: 8-bit scalar-quantised) or approximate (`hnsw`, `hnsw-sq8`).

With sentence vectors (`DenseConfig.sentences`), every sentence of a chunk of two or more sentences
is also encoded (title + sentence), and a chunk's dense score is the mean of its own cosine and its
best sentence's: a chunk vector averages what all its sentences say, while a question is usually
answered by one of them (measured: bench/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .config import VectorConfig, VectorKind

__all__ = ["SENTENCE_SHARE", "SentenceVectors", "VectorStore", "with_best_sentence"]

#: A chunk's dense score: (1 - SENTENCE_SHARE) × its own cosine + SENTENCE_SHARE × its best sentence's.
SENTENCE_SHARE = 0.5
SENTENCE_VECTORS = "sentence-vectors.npy"
SENTENCE_STARTS = "sentence-starts.npy"

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


class SentenceVectors:
    """The sentence vectors of each chunk of two or more sentences, in chunk order.

    Chunk `c`'s sentences are rows `starts[c]` to `starts[c + 1] - 1`; a chunk of one sentence has
    none (its sentence is the chunk). They are scored only for a query's candidate chunks, never
    searched on their own, so they are a plain float16 `.npy` (half the bytes of float32, at cosines
    within 0.001 of them) of which a query reads only its candidates' rows.
    """

    def __init__(self, vectors: np.ndarray, starts: np.ndarray, file: BinaryIO | None = None) -> None:
        self.vectors = vectors
        self.starts = starts
        self._file = file  # the .npy that `vectors` maps, for reading a query's rows (`_rows`)
        self._every: np.ndarray | None = None  # all rows as float32, once a query needs most of them

    @classmethod
    def build(cls, vectors: np.ndarray, counts: np.ndarray) -> SentenceVectors:
        """Hold `vectors` (rows L2-normalised), of which chunk `c` owns the next `counts[c]` rows."""
        starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
        if starts[-1] != len(vectors):
            raise ValueError(f"{len(vectors)} sentence vectors for {starts[-1]} sentences")
        return cls(np.asarray(vectors, dtype=np.float16), starts)

    @property
    def num_chunks(self) -> int:
        return len(self.starts) - 1

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.vectors)

    def of_chunks(self, chunk_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stored (float16) sentence vectors of these chunks, in their order, and how many each has."""
        chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        counts = self.starts[chunk_ids + 1] - self.starts[chunk_ids]
        return np.asarray(self.vectors[_ranges(self.starts[chunk_ids], counts)]), counts

    def mixed(self, query: np.ndarray, chunk_ids: np.ndarray, chunk_scores: np.ndarray) -> np.ndarray:
        """The dense scores of chunks: their cosines `chunk_scores`, mixed with their best sentence's."""
        counts = self.starts[chunk_ids + 1] - self.starts[chunk_ids]
        owners = np.flatnonzero(counts)
        if not len(owners):
            return chunk_scores
        firsts, counts = self.starts[chunk_ids[owners]], counts[owners]
        query = np.asarray(query, dtype=np.float32)
        if 4 * counts.sum() >= len(self):  # most rows (a small index, scored exhaustively): convert them once
            if self._every is None:
                self._every = np.asarray(self.vectors, dtype=np.float32)
            similarity = _dot(self._every, query)[_ranges(firsts, counts)]
        else:
            similarity = _dot(self._rows(firsts, counts), query)
        best = np.maximum.reduceat(similarity, np.concatenate([[0], np.cumsum(counts)[:-1]]))
        mixed = np.array(chunk_scores, dtype=np.float32)
        mixed[owners] = with_best_sentence(mixed[owners], best)
        return mixed

    def _rows(self, firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Rows `firsts[i]` to `firsts[i] + counts[i] - 1` for each i, in order, as float32. A loaded
        file is read with pread, not through its mapping: touching the mapping maps the pages around
        each row too, which at a million chunks grew the querying process by about 0.95 GB."""
        if self._file is None or not isinstance(self.vectors, np.memmap):
            return np.asarray(self.vectors[_ranges(firsts, counts)], dtype=np.float32)
        row_bytes, offset, handle = 2 * self.dim, self.vectors.offset, self._file.fileno()
        data = b"".join(
            os.pread(handle, int(c) * row_bytes, offset + int(f) * row_bytes) for f, c in zip(firsts, counts)
        )
        return np.frombuffer(data, dtype=np.float16).reshape(-1, self.dim).astype(np.float32)

    def save(self, folder: Path) -> None:
        np.save(folder / SENTENCE_VECTORS, self.vectors)
        np.save(folder / SENTENCE_STARTS, self.starts)

    @classmethod
    def load(cls, folder: Path) -> SentenceVectors:
        vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r")
        starts = np.load(folder / SENTENCE_STARTS)
        if vectors.ndim != 2 or vectors.dtype != np.float16:
            raise ValueError(f"{SENTENCE_VECTORS} is not a float16 matrix")
        valid = starts.ndim == 1 and len(starts) and starts[0] == 0 and not np.any(np.diff(starts) < 0)
        if not valid or starts[-1] != len(vectors):
            raise ValueError(f"{SENTENCE_STARTS} does not match the {len(vectors)} sentence vectors")
        return cls(vectors, starts, open(folder / SENTENCE_VECTORS, "rb"))  # held for `_rows`


def with_best_sentence(chunk_scores: np.ndarray, best_sentence_scores: np.ndarray) -> np.ndarray:
    """A chunk's score mixed with its best sentence's (`SENTENCE_SHARE` of the latter)."""
    return (1 - SENTENCE_SHARE) * chunk_scores + SENTENCE_SHARE * best_sentence_scores


def _dot(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """`matrix @ vector` without BLAS: OpenBLAS's threads keep spinning after a product and starve
    the query encoder's (28k sentences at 10k chunks: a search took 111 ms instead of 28 ms; without
    BLAS the product costs 1.7 ms instead of 1.1 ms)."""
    return np.einsum("ij,j->i", matrix, vector)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`starts[i]`, `starts[i] + 1` … (`counts[i]` numbers) for each i, concatenated."""
    total = int(counts.sum())
    if not total:
        return np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.repeat(starts - offsets, counts) + np.arange(total, dtype=np.int64)


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
