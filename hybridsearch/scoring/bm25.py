"""The BM25 formula, for every backend. For a query term t with document frequency df(t) in a corpus
of N chunks, chunk d scores

    idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * len(d) / avglen))

summed over the query's terms (a repeated query term counts each time, as in rank_bm25). IDF:

- `lucene` (default): log(1 + (N - df + 0.5) / (df + 0.5)), always positive;
- `okapi`: log((N - df + 0.5) / (df + 0.5)), with negative values replaced by
  0.25 * (mean IDF over the vocabulary), exactly as `rank_bm25.BM25Okapi`.

The local backend stores the whole weight of each (term, chunk) pair; the Qdrant backend stores the
tf and length part (`term_weights` without `idfs`) and the engine multiplies in Lucene's IDF.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from ..config import BM25Config, BM25Variant

__all__ = ["idf", "length_norms", "term_weights"]

_OKAPI_EPSILON = 0.25
_Lengths = TypeVar("_Lengths", float, np.ndarray)  # one chunk's length, or an array of them


def idf(df: np.ndarray, n: int, variant: BM25Variant) -> np.ndarray:
    """The IDF of each term, from its document frequency `df` in `n` chunks."""
    df = df.astype(np.float64)
    if variant is BM25Variant.LUCENE:
        return np.log1p((n - df + 0.5) / (df + 0.5))
    found = np.log(n - df + 0.5) - np.log(df + 0.5)
    if len(found):
        found[found < 0] = _OKAPI_EPSILON * found.mean()
    return found


def length_norms(lengths: _Lengths, average: float, config: BM25Config) -> _Lengths:
    """k1 * (1 - b + b * length / average) of chunks of `lengths` terms: the length part of the
    denominator of their terms' weights."""
    return config.k1 * (1 - config.b + config.b * lengths / average)


def term_weights(
    counts: np.ndarray, norms: np.ndarray | float, config: BM25Config, idfs: np.ndarray | None = None
) -> np.ndarray:
    """idf * tf * (k1 + 1) / (tf + norm) for each count tf, with `norms` the length norm of its chunk
    (`length_norms`) and `idfs` its term's IDF; without `idfs`, the tf and length part alone."""
    scaled = counts * (config.k1 + 1) if idfs is None else idfs * counts * (config.k1 + 1)
    return scaled / (counts + norms)
