"""Vectors that fill in after a words-first write (DESIGN.md §11, `filling.py`).

A generation whose chunks do not all have their vectors yet lists `has-vector.npy` (one bool per
chunk; format version 4): a chunk without has a zero vector, no sentence rows, and is no candidate
on the dense side. Its FAISS index is flat (exact) until the last vectors arrive; the generation
they complete is built as the index's configured kind and has no mask, as a one-phase build.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from ...config import IndexConfig, VectorConfig, VectorKind
from .generations import VECTOR_MASK, VECTORS
from .vectors import SentenceVectors, VectorStore

__all__ = [
    "FILLER",
    "FILL_LOG",
    "filler_lock",
    "load_mask",
    "merged_sentences",
    "running_filler",
    "save_vectors",
]

FILLER = "FILLING"  # the lock of the one process filling an index's vectors, holding its pid
FILL_LOG = "fill.log"  # what a background filler (`hsearch index --no-wait`) writes
_FILLING = VectorConfig(kind=VectorKind.FLAT)


@contextmanager
def filler_lock(index_dir: Path) -> Iterator[None]:
    """Be the one process filling this index's vectors; waits while another one is (a kill frees it)."""
    import fcntl

    with open(index_dir / FILLER, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()


def running_filler(index_dir: Path) -> int | None:
    """The pid of the process filling this index's vectors now; None when none is."""
    import fcntl

    with suppress(OSError), open(index_dir / FILLER, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


def load_mask(path: Path, chunks: int) -> np.ndarray:
    """The has-vector flags of a generation of `chunks` chunks (ValueError when they do not fit it)."""
    mask = np.load(path)
    if mask.dtype != np.bool_ or mask.shape != (chunks,):
        raise ValueError(f"{VECTOR_MASK} does not hold one flag for each of the {chunks} chunks")
    return mask


def save_vectors(
    work: Path, vectors: np.ndarray, has_vector: np.ndarray, config: IndexConfig, sentences: SentenceVectors | None
) -> None:
    """Write a generation's vectors: FAISS (flat while some are missing), sentence vectors, and the
    has-vector flags unless every chunk has its vectors."""
    complete = bool(has_vector.all())
    VectorStore.build(vectors, config=config.vectors if complete else _FILLING).save(work / VECTORS)
    if sentences is not None:
        sentences.save(work)
    if not complete:
        np.save(work / VECTOR_MASK, has_vector)


def merged_sentences(
    old: SentenceVectors, rows: np.ndarray, counts: np.ndarray, vectors: np.ndarray
) -> SentenceVectors:
    """`old`'s sentence vectors with chunk `rows` (which had none) given `counts[i]` rows of `vectors`
    each, all in chunk order."""
    all_counts = np.diff(old.starts)
    kept = np.flatnonzero(all_counts)
    kept_vectors, kept_counts = old.of_chunks(kept)
    all_counts[rows] = counts
    owners = np.concatenate([np.repeat(kept, kept_counts), np.repeat(rows, counts)])
    order = np.argsort(owners, kind="stable")  # a chunk's rows come from one side, in their order
    return SentenceVectors.build(np.concatenate([kept_vectors, vectors])[order], all_counts)
