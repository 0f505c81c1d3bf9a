"""The dense score of a chunk, for every backend. With sentence vectors (`DenseConfig.sentences`), a
chunk's dense score is its own cosine mixed with its best sentence's: a chunk vector averages what all
its sentences say, while a question is usually answered by one of them (measured: bench/README.md)."""

from __future__ import annotations

import numpy as np

__all__ = ["SENTENCE_SHARE", "with_best_sentence"]

#: A chunk's dense score: (1 - SENTENCE_SHARE) × its own cosine + SENTENCE_SHARE × its best sentence's.
SENTENCE_SHARE = 0.5


def with_best_sentence(chunk_scores: np.ndarray, best_sentence_scores: np.ndarray) -> np.ndarray:
    """A chunk's score mixed with its best sentence's (`SENTENCE_SHARE` of the latter)."""
    return (1 - SENTENCE_SHARE) * chunk_scores + SENTENCE_SHARE * best_sentence_scores
