"""Sparse BM25: raw term frequencies on disk, the whole corpus scored in one sparse product (the
formula, shared with the other backends: `scoring/bm25.py`).

Raw counts and lengths are stored, and with them the per-term weights computed from them when the
index is written (IDF and average length are exact for whatever chunks the index holds). Loading
memory-maps everything and computes nothing; a query reads only its own terms' rows.

The vocabulary (with word pairs, millions of terms in a large index) is not read when an index is
opened: a sorted array of 64-bit term hashes is memory-mapped and a term is found by binary search;
the term strings themselves (`vocab.json`) are read only when something asks for them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from scipy import sparse

from .config import BM25Config
from .scoring.bm25 import idf, length_norms, term_weights

__all__ = ["BM25Index", "Vocabulary", "term_hash", "top_k"]

_FILES = ("data.npy", "indices.npy", "indptr.npy", "doc_len.npy")
_WEIGHT_FILES = ("weights_data.npy", "weights_indices.npy", "weights_indptr.npy")  # terms × chunks
_TERMS_FILE = "vocab.json"
_HASH_FILES = ("term_hashes.npy", "term_ids_by_hash.npy")


def term_hash(term: str) -> int:
    """The 64-bit hash of `term` that a saved vocabulary is sorted by (see `Vocabulary`)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little")


def _read_terms(file: BinaryIO) -> list[str]:
    """The term list of an open `vocab.json` (pread: safe from many threads, and after the file is deleted)."""
    size = os.fstat(file.fileno()).st_size
    try:
        terms = json.loads(os.pread(file.fileno(), size, 0).decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"vocab.json is unreadable ({error})") from None
    if not isinstance(terms, list) or not all(isinstance(term, str) for term in terms):
        raise ValueError("vocab.json is not a list of terms")
    return terms


class Vocabulary:
    """Terms and their ids (ids = positions in the term list).

    Built from a list, it is a dict. Loaded from disk, it is the memory-mapped sorted term hashes with
    the id of each: a lookup hashes the term and binary-searches. A term absent from the index could
    share a hash with one that is present (odds about n / 2**64 per term); two present terms that share
    one are told apart by reading the term list.
    """

    def __init__(
        self, terms: list[str] | None = None, folder: Path | None = None, ids: dict[str, int] | None = None
    ) -> None:
        """From `terms` (with `ids`, their term → position dict when the caller has it), or from `folder`."""
        self._terms = terms
        self._file: BinaryIO | None = None
        self._ids = ids if ids is not None or terms is None else {term: i for i, term in enumerate(terms)}
        if folder is not None:
            self._hashes, self._by_hash = (np.load(folder / name, mmap_mode="r") for name in _HASH_FILES)
            if (
                self._hashes.dtype != np.uint64
                or self._by_hash.dtype.kind != "i"
                or self._hashes.ndim != 1
                or (self._hashes.shape != self._by_hash.shape)
            ):
                raise ValueError("the term hashes are damaged")
            self._file = open(folder / _TERMS_FILE, "rb")  # noqa: SIM115 - read on first use; `close` releases it
        self._reading = threading.Lock()

    @classmethod
    def load(cls, folder: Path) -> Vocabulary:
        """Open a saved vocabulary (term hashes memory-mapped; the term list read when first needed)."""
        return cls(folder=folder)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def save(self, folder: Path) -> None:
        terms = self.terms
        (folder / _TERMS_FILE).write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        hashes = np.fromiter((term_hash(term) for term in terms), dtype=np.uint64, count=len(terms))
        order = np.argsort(hashes, kind="stable")
        np.save(folder / _HASH_FILES[0], hashes[order])
        np.save(folder / _HASH_FILES[1], order.astype(np.int64))

    @property
    def terms(self) -> list[str]:
        """Every term in id order (read from disk on first use when the vocabulary was loaded)."""
        if self._terms is not None:
            return self._terms
        with self._reading:
            if self._terms is None:
                assert self._file is not None
                self._terms = _read_terms(self._file)
        return self._terms

    def id(self, term: str) -> int | None:
        """The id of `term`, or None when the index does not hold it."""
        if self._ids is not None:
            return self._ids.get(term)
        wanted = np.uint64(term_hash(term))
        first = int(np.searchsorted(self._hashes, wanted, side="left"))
        if first == len(self._hashes) or self._hashes[first] != wanted:
            return None
        last = int(np.searchsorted(self._hashes, wanted, side="right"))
        if last - first == 1:
            return int(self._by_hash[first])
        return next((int(i) for i in self._by_hash[first:last] if self.terms[int(i)] == term), None)

    def __len__(self) -> int:
        return len(self._hashes) if self._ids is None else len(self._ids)


class BM25Index:
    """Term-frequency matrix (chunks × terms) with the BM25 weights derived from it."""

    def __init__(
        self,
        tf: sparse.csr_matrix,
        vocab: Vocabulary | list[str],
        config: BM25Config | None = None,
        weights: sparse.csr_matrix | None = None,
        doc_len: np.ndarray | None = None,
    ) -> None:
        self.config = config or BM25Config()
        self.tf = tf
        self.vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary(vocab)
        self.doc_len = np.asarray(tf.sum(axis=1)).ravel() if doc_len is None else doc_len
        self._weights = self.computed_weights() if weights is None else weights  # terms × chunks

    def computed_weights(self) -> sparse.csr_matrix:
        """The terms × chunks weight matrix, computed from the raw counts."""
        idfs = idf(np.bincount(self.tf.indices, minlength=len(self.vocab)), self.tf.shape[0], self.config.variant)
        return _weights(self.tf, self.doc_len, idfs, self.config).T.tocsr()

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], config: BM25Config | None = None) -> BM25Index:
        """Index tokenised chunks (one list of terms per chunk, in chunk-id order)."""
        return cls.from_counts([Counter(terms) for terms in documents], config)

    @classmethod
    def from_counts(cls, rows: Sequence[Mapping[str, float]], config: BM25Config | None = None) -> BM25Index:
        """Index chunks given as term → count mappings (in chunk-id order)."""
        term_ids: dict[str, int] = {}
        indptr, indices, counts = [0], [], []
        for row in rows:
            for term, count in row.items():
                indices.append(term_ids.setdefault(term, len(term_ids)))
                counts.append(count)
            indptr.append(len(indices))
        tf = sparse.csr_matrix(
            (
                np.asarray(counts, dtype=np.float64),
                np.asarray(indices, dtype=np.int32),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(rows), len(term_ids)),
        )
        tf.sort_indices()
        return cls(tf, Vocabulary(list(term_ids), ids=term_ids), config)

    def counts(self, chunk_id: int) -> dict[str, float]:
        """The term counts of one chunk (what `from_counts` takes back)."""
        start, end = self.tf.indptr[chunk_id], self.tf.indptr[chunk_id + 1]
        terms = self.vocab.terms
        return {terms[t]: float(c) for t, c in zip(self.tf.indices[start:end].tolist(), self.tf.data[start:end])}

    @property
    def num_chunks(self) -> int:
        return int(self.tf.shape[0])

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for the query `terms` (unknown terms add nothing)."""
        counts = Counter(i for i in map(self.vocab.id, terms) if i is not None)
        if not counts:
            return np.zeros(self.num_chunks)
        scores = np.zeros(self.num_chunks)
        weights = self._weights
        for row, times in counts.items():  # only these rows of the (memory-mapped) weights are read
            start, end = weights.indptr[row], weights.indptr[row + 1]
            scores[weights.indices[start:end]] += times * weights.data[start:end]
        return scores

    def best_possible(self, terms: Sequence[str], allowed: np.ndarray | None = None) -> float:
        """The most a chunk could score for the query `terms`: each term's highest weight in the index
        (with `allowed`, one bool per chunk: among those chunks), summed as `scores` sums them (a chunk
        that scores it matches the whole query at its strongest)."""
        counts = Counter(i for i in map(self.vocab.id, terms) if i is not None)
        weights = self._weights
        best = 0.0
        for row, times in counts.items():
            start, end = weights.indptr[row], weights.indptr[row + 1]
            found = (
                weights.data[start:end]
                if allowed is None
                else weights.data[start:end][allowed[weights.indices[start:end]]]
            )
            best += times * float(found.max(initial=0.0))
        return best

    def matched_terms(self, terms: Sequence[str], chunk_ids: Sequence[int]) -> list[list[str]]:
        """For each chunk, the distinct query terms that occur in it, in query order."""
        unique = list(dict.fromkeys(terms))
        known = {term: i for term, i in zip(unique, map(self.vocab.id, unique)) if i is not None}
        matched = []
        for chunk_id in chunk_ids:
            present = set(self.tf.indices[self.tf.indptr[chunk_id] : self.tf.indptr[chunk_id + 1]].tolist())
            matched.append([term for term, i in known.items() if i in present])
        return matched

    def close(self) -> None:
        self.vocab.close()

    def save(self, folder: Path) -> None:
        """Write the raw counts, weights and vocabulary (`.npy` files and the term list as JSON) in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "data.npy", self.tf.data)
        np.save(folder / "indices.npy", self.tf.indices)
        np.save(folder / "indptr.npy", self.tf.indptr)
        np.save(folder / "doc_len.npy", self.doc_len)
        for name, array in zip(_WEIGHT_FILES, (self._weights.data, self._weights.indices, self._weights.indptr)):
            np.save(folder / name, array)
        self.vocab.save(folder)

    @classmethod
    def load(cls, folder: Path, config: BM25Config | None = None) -> BM25Index:
        """Read what `save` wrote, memory-mapped; only shapes are checked here (`problems` checks values)."""
        data, indices, indptr, doc_len = (np.load(folder / name, mmap_mode="r") for name in _FILES)
        w_data, w_indices, w_indptr = (np.load(folder / name, mmap_mode="r") for name in _WEIGHT_FILES)
        for name, array, kind in (("data", data, "f"), ("indices", indices, "i"), ("indptr", indptr, "i"),
                                  ("doc_len", doc_len, "f"), ("weights_data", w_data, "f"),
                                  ("weights_indices", w_indices, "i"), ("weights_indptr", w_indptr, "i")):  # fmt: skip
            if array.ndim != 1 or array.dtype.kind != kind:
                raise ValueError(f"{name}.npy is not a flat array of {'numbers' if kind == 'f' else 'whole numbers'}")
        vocab = Vocabulary.load(folder)
        try:
            shape = (len(doc_len), len(vocab))
            if len(indptr) != shape[0] + 1 or len(data) != len(indices) or indptr[-1] != len(data):
                raise ValueError("the term counts are inconsistent")
            if len(w_indptr) != shape[1] + 1 or len(w_data) != len(data) or len(w_indices) != len(data):
                raise ValueError("the term weights do not match the term counts")
            tf = sparse.csr_matrix((data, indices, indptr), shape=shape)
            weights = sparse.csr_matrix((w_data, w_indices, w_indptr), shape=(shape[1], shape[0]))
            return cls(tf, vocab, config, weights, doc_len)
        except BaseException:
            vocab.close()
            raise

    def problems(self) -> list[str]:
        """A full check of the stored values: the arrays' structure first (so that nothing below reads
        out of bounds), then lengths and weights recomputed from the raw counts."""
        found = _structure_problems("BM25 term counts", self.tf, self.num_chunks, len(self.vocab), counts=True)
        found += _structure_problems("BM25 term weights", self._weights, len(self.vocab), self.num_chunks)
        if found:
            return found
        if not np.array_equal(np.asarray(self.tf.sum(axis=1)).ravel(), self.doc_len):
            found.append("BM25 chunk lengths disagree with the term counts")
        expected = self.computed_weights()
        same_layout = np.array_equal(expected.indptr, self._weights.indptr) and np.array_equal(
            expected.indices, self._weights.indices
        )
        if not same_layout or not np.allclose(expected.data, self._weights.data, rtol=1e-12, atol=0):
            found.append("BM25 term weights disagree with the term counts")
        if np.any(self.doc_len < 0):
            found.append("negative BM25 chunk lengths")
        return found


def _structure_problems(
    name: str, matrix: sparse.csr_matrix, rows: int, columns: int, counts: bool = False
) -> list[str]:
    """What is wrong with a CSR matrix's arrays themselves: row pointers, column numbers, values
    (finite; counts also positive: Okapi's weights can be negative)."""
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    if len(indptr) != rows + 1 or indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        return [f"{name}: row pointers are damaged"]
    if len(indices) and (indices.min() < 0 or indices.max() >= columns):
        return [f"{name}: column numbers out of range"]
    if not np.all(np.isfinite(data)) or (counts and len(data) and data.min() <= 0):
        return [f"{name}: values that are {'not positive' if counts else 'not'} numbers"]
    return []


def _weights(tf: sparse.csr_matrix, doc_len: np.ndarray, idfs: np.ndarray, config: BM25Config) -> sparse.csr_matrix:
    """The chunks × terms weight matrix of the counts `tf` (the average length: of these chunks)."""
    avg_len = doc_len.mean() if len(doc_len) and doc_len.mean() > 0 else 1.0
    norms = length_norms(doc_len, avg_len, config)  # per chunk
    rows = np.repeat(np.arange(tf.shape[0]), np.diff(tf.indptr))
    data = term_weights(np.asarray(tf.data, dtype=np.float64), norms[rows], config, idfs[tf.indices])
    return sparse.csr_matrix((data, np.asarray(tf.indices), np.asarray(tf.indptr)), shape=tf.shape)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` highest scores, best first; ties by lower index, also at the cut (so a
    top-k of a subset is the subset of a top-k)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[part].min()
        above = part[scores[part] > threshold]  # every score above the cut is in `part`
        part = np.concatenate([above, _first_equal(scores, threshold, k - len(above))])
    else:
        part = np.arange(len(scores))
    return part[np.lexsort((part, -scores[part]))]


def _first_equal(scores: np.ndarray, value: float, count: int, block: int = 1 << 16) -> np.ndarray:
    """The `count` lowest indices whose score equals `value` (read a block at a time: usually one)."""
    found: list[np.ndarray] = []
    for start in range(0, len(scores), block):
        found.append((start + np.flatnonzero(scores[start : start + block] == value))[:count])
        count -= len(found[-1])
        if count <= 0:
            break
    return np.concatenate(found).astype(np.int64)
