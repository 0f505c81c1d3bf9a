"""Dense vectors in FAISS, a row per chunk: inner product over L2-normalised vectors, exact (`flat`,
`sq8`: 8-bit scalar-quantised) or approximate (`hnsw`, `hnsw-sq8`).

With sentence vectors (`DenseConfig.sentences`), every sentence of a chunk of two or more sentences
is also encoded (title + sentence), and a chunk's dense score mixes its own cosine with its best
sentence's (`scoring/dense.py`, shared with the other backends).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ...bm25 import top_k
from ...config import VectorConfig, VectorKind
from ...scoring.dense import with_best_sentence

# with_best_sentence: also re-exported for bench/ablate.py, which imports it from here
__all__ = ["EXACT_SCAN_MAX", "SentenceVectors", "VectorStore", "with_best_sentence"]

SENTENCE_VECTORS = "sentence-vectors.npy"
SENTENCE_STARTS = "sentence-starts.npy"

_HNSW_LINKS = 32
_HNSW_EF_CONSTRUCTION = 80
#: An HNSW search is exact below this many candidate rows (a filter that keeps few chunks)…
EXACT_SCAN_MAX = 20_000
#: …and when a filter keeps less than this share of the chunks, where a graph walk finds too few.
MIN_HNSW_SHARE = 0.25


class VectorStore:
    """A FAISS flat, HNSW or SQ8 index over L2-normalised chunk vectors (inner product = cosine); a
    vector's position is its chunk's row.

    Searching changes no state (no thread count, no efSearch on the index: HNSW gets its breadth as a
    per-call parameter), so many threads can search at once. A flat index is scanned with numpy over
    FAISS's own storage, which also serves masks and exhaustive candidate lists without a heap.
    """

    def __init__(self, index: Any, config: VectorConfig | None = None) -> None:
        import faiss

        self._owner = index  # the wrapper that owns the C++ index (the downcast one does not)
        index = faiss.downcast_index(index)
        self.index: Any = index
        self.config = config or VectorConfig()
        self._hnsw: Any = getattr(index, "hnsw", None)
        self._storage: Any = faiss.downcast_index(index.storage) if self._hnsw is not None else index
        if self._hnsw is not None:
            _check_graph(self._hnsw, int(index.ntotal))
        if int(self._storage.ntotal) != int(index.ntotal):
            raise ValueError("the HNSW graph and its vectors disagree on their number")
        self._floats = _float_rows(self._storage)  # None for 8-bit storage
        self.kind: VectorKind  # what this store is (`auto` resolved when it was built)
        if self._hnsw is not None:
            self.kind = VectorKind.HNSW if self._floats is not None else VectorKind.HNSW_SQ8
        else:
            self.kind = VectorKind.FLAT if self._floats is not None else VectorKind.SQ8

    @classmethod
    def build(cls, vectors: np.ndarray, config: VectorConfig | None = None) -> VectorStore:
        """Index `vectors` (rows L2-normalised); row i is chunk i."""
        import faiss

        config = config or VectorConfig()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        kind = config.kind_for(len(vectors))
        index: Any
        if kind is VectorKind.HNSW:
            index = faiss.IndexHNSWFlat(dim, _HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
        elif kind is VectorKind.HNSW_SQ8:
            eight_bit: Any = faiss.ScalarQuantizer.QT_8bit
            index = faiss.IndexHNSWSQ(dim, eight_bit, _HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
        elif kind is VectorKind.SQ8:
            index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexFlatIP(dim)
        if len(vectors) and not index.is_trained:  # the 8-bit kinds learn each dimension's range
            index.train(vectors)
        if len(vectors):
            index.add(vectors)
        return cls(index, config)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the `k` nearest chunks to one query vector, best first; with `allowed` (one
        bool per row) only among those rows. Exact for flat and 8-bit flat indexes, and for HNSW when
        the allowed rows are at most EXACT_SCAN_MAX, under MIN_HNSW_SHARE of all, or when `k` asks
        for a quarter of them or more."""
        count = len(self) if allowed is None else int(np.count_nonzero(allowed))
        k = min(k, count)
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        query = np.ascontiguousarray(query.reshape(-1), dtype=np.float32)
        share = count / len(self)
        if self._hnsw is None or k * 4 >= count or count <= EXACT_SCAN_MAX or share < MIN_HNSW_SHARE:
            return self._exact(query, k, allowed)
        found = self._graph(query, k, allowed, share)
        if len(found[1]) < k:  # a narrow filter starved the graph walk
            return self._exact(query, k, allowed)
        return found

    def _exact(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """An exact scan; ties by row (`top_k`), as an index of only the allowed rows would order them."""
        if self._floats is not None:  # numpy over FAISS's own storage
            rows = np.arange(len(self)) if allowed is None else np.flatnonzero(allowed)
            if allowed is None or 4 * len(rows) >= len(self):
                scores = _dot(self._floats, query)[rows] if allowed is not None else _dot(self._floats, query)
            else:  # a few rows: copy just those
                scores = _dot(self._floats[rows], query)
            best = top_k(scores, k)
            return scores[best].astype(np.float32), rows[best].astype(np.int64)
        import faiss

        params = faiss.SearchParameters()
        with _selecting(params, allowed):  # 8-bit vectors: FAISS decodes and scores only the allowed rows
            scores, found = self._storage.search(query.reshape(1, -1), k, params=params)
        scores, found = scores[0], found[0].astype(np.int64)
        order = np.lexsort((found, -scores))
        return scores[order], found[order]

    def _graph(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None, share: float
    ) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(self.config.ef_search, k, int(k / share))
        with _selecting(params, allowed):
            scores, rows = self.index.search(query.reshape(1, -1), k, params=params)
        keep = rows[0] >= 0
        return scores[0][keep], rows[0][keep].astype(np.int64)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of these rows (as stored: exact, or decoded from 8 bits)."""
        if not len(rows):
            return np.zeros((0, self.dim), np.float32)
        rows = np.asarray(rows, dtype=np.int64)
        if self._floats is not None:
            return np.array(self._floats[rows])
        return self.index.reconstruct_batch(rows)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, config: VectorConfig | None = None) -> VectorStore:
        import faiss

        return cls(faiss.read_index(str(path)), config)


def _check_graph(hnsw: Any, total: int) -> None:
    """Raise ValueError unless an HNSW graph stays within its nodes: a damaged file that FAISS reads
    whole would otherwise send a search out of bounds. Checked: each node's link slots, the entry
    point on the top level, and every link above level 0 pointing at a node that has that level (the
    few nodes above level 0 hold those links: at 100k vectors the check reads about 2 % of them)."""
    import faiss

    size = int(hnsw.neighbors.size())
    neighbors = faiss.rev_swig_ptr(hnsw.neighbors.data(), size) if size else np.zeros(0, np.int32)  # a view
    offsets = faiss.vector_to_array(hnsw.offsets).astype(np.int64)
    levels = faiss.vector_to_array(hnsw.levels).astype(np.int64)  # how many levels each node is on
    slots = faiss.vector_to_array(hnsw.cum_nneighbor_per_level).astype(np.int64)  # link slots below each level
    entry, top = int(hnsw.entry_point), int(hnsw.max_level)
    valid = (
        len(offsets) == total + 1
        and len(levels) == total
        and offsets[0] == 0
        and offsets[-1] == len(neighbors)
        and (not total or (levels.min() >= 1 and levels.max() < len(slots)))
        and (not total or np.array_equal(np.diff(offsets), slots[levels]))
        and (not len(neighbors) or (neighbors.min() >= -1 and neighbors.max() < total))
        and (total == 0 or (0 <= entry < total and top == levels[entry] - 1 == levels.max() - 1))
    )
    if valid and total:
        upper = np.flatnonzero(levels >= 2)
        starts = offsets[upper] + slots[1]
        positions = _ranges(starts, offsets[upper] + slots[levels[upper]] - starts)
        owners = np.repeat(upper, slots[levels[upper]] - slots[1])
        level = np.searchsorted(slots, positions - offsets[owners], side="right") - 1
        linked = neighbors[positions]
        valid = bool(np.all((linked == -1) | (levels[np.maximum(linked, 0)] > level)))
    if not valid:
        raise ValueError("the HNSW graph points outside its vectors")


@contextmanager
def _selecting(params: Any, allowed: np.ndarray | None) -> Iterator[None]:
    """Restrict a FAISS search to the `allowed` rows (a bitmap selector held alive for the search)."""
    if allowed is None:
        yield
        return
    import faiss

    bitmap = np.packbits(allowed, bitorder="little")
    selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
    params.sel = selector
    yield  # this frame keeps `selector` and `bitmap` alive until the search has returned


def _float_rows(index: Any) -> np.ndarray | None:
    """A flat float32 index's vectors as a (rows, dim) view of FAISS's own storage; None for other kinds."""
    import faiss

    if not isinstance(index, faiss.IndexFlat) or not index.ntotal:
        return np.zeros((0, index.d), np.float32) if isinstance(index, faiss.IndexFlat) else None
    return faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)


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
        self._converting = threading.Lock()

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

    def of_chunks(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stored (float16) sentence vectors of these chunks, in their order, and how many each has."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = self.starts[rows + 1] - self.starts[rows]
        return np.asarray(self.vectors[_ranges(self.starts[rows], counts)]), counts

    def mixed(self, query: np.ndarray, rows: np.ndarray, chunk_scores: np.ndarray) -> np.ndarray:
        """The dense scores of chunks: their cosines `chunk_scores`, mixed with their best sentence's."""
        counts = self.starts[rows + 1] - self.starts[rows]
        owners = np.flatnonzero(counts)
        if not len(owners):
            return chunk_scores
        firsts, counts = self.starts[rows[owners]], counts[owners]
        query = np.asarray(query, dtype=np.float32)
        if 4 * counts.sum() >= len(self):  # most rows (a small index, scored exhaustively): convert them once
            with self._converting:
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

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def save(self, folder: Path) -> None:
        np.save(folder / SENTENCE_VECTORS, self.vectors)
        np.save(folder / SENTENCE_STARTS, self.starts)

    @classmethod
    def load(cls, folder: Path) -> SentenceVectors:
        vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r")
        starts = np.load(folder / SENTENCE_STARTS)
        if vectors.ndim != 2 or vectors.dtype != np.float16:
            raise ValueError(f"{SENTENCE_VECTORS} is not a float16 matrix")
        valid = (
            starts.ndim == 1 and starts.dtype.kind == "i" and len(starts) and starts[0] == 0
            and not np.any(np.diff(starts) < 0)
        )  # fmt: skip
        if not valid or starts[-1] != len(vectors):
            raise ValueError(f"{SENTENCE_STARTS} does not match the {len(vectors)} sentence vectors")
        return cls(vectors, starts, open(folder / SENTENCE_VECTORS, "rb"))  # held for `_rows`


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
