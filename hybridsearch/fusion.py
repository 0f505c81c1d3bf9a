"""Score fusion, pure numpy: put BM25 and dense scores on one scale, then mix them with alpha.

The candidates are the union of both sides' lists. A candidate missing from one side's list gets
that side's minimum raw score there. Normalisation is per query over the candidates:

- `coverage` (the default for new indexes): BM25 as the share of what the query could score at best
  (`bm25 / ceiling`, the ceiling being every query term at its highest weight in the index), dense
  as its distance below the best cosine (`1 - (best - cosine) / COSINE_SCALE`), and BM25's weight
  scaled by how much of the query its best match covers:

      weight = (1 - alpha) * sqrt(best share)     score = (1 - weight) * dense_norm + weight * bm25_norm

  A passage holding all the query's words where they weigh most has share 1; one that shares a common
  word or two has a small share, where min-max would lift it to 1. A query whose words the corpus holds
  only in part (a natural question worded unlike its answer) leans on meaning: alpha is the dense
  share when the best match covers the whole query, and it grows towards 1 as that coverage falls.
- `minmax`: (x - min) / (max - min); a side whose scores are all equal normalises to 0.
- `zscore`: (x - mean) / std; a side with no spread normalises to 0.
- `rrf`:    1 / (60 + rank) for the 1-based rank in that side's list; a missing candidate gets 0,
            as in standard reciprocal rank fusion (alpha then weights the two reciprocal ranks).

For the last three, `score = alpha * dense_norm + (1 - alpha) * bm25_norm`. Ties in the fused score
are broken by the raw score of the side alpha weights more (dense when alpha >= 0.5), then the other
side's, then the chunk id; so alpha = 0 and 1 keep each side's exact order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Fusion, check_alpha

__all__ = ["COSINE_SCALE", "Fused", "RRF_K", "fuse"]

RRF_K = 60
#: The cosine distance below the best that costs the dense side all its weight (`coverage` fusion).
COSINE_SCALE = 0.1


@dataclass(frozen=True)
class Fused:
    """The top candidates after fusion, best first; all arrays are aligned with `ids`."""

    ids: np.ndarray
    score: np.ndarray
    bm25: np.ndarray
    bm25_norm: np.ndarray
    dense: np.ndarray
    dense_norm: np.ndarray

    def take(self, positions: np.ndarray) -> Fused:
        """These candidates only, in this order."""
        return Fused(
            *(getattr(self, name)[positions] for name in ("ids", "score", "bm25", "bm25_norm", "dense", "dense_norm"))
        )


def fuse(
    bm25_ids: np.ndarray,
    bm25_scores: np.ndarray,
    dense_ids: np.ndarray,
    dense_scores: np.ndarray,
    alpha: float,
    fusion: Fusion | str = Fusion.MINMAX,
    k: int = 10,
    bm25_ceiling: float = 0.0,
) -> Fused:
    """Fuse two ranked candidate lists (ids with raw scores, best first) and keep the top `k`;
    `bm25_ceiling` is the most a chunk could score on BM25 for the query (for `coverage`)."""
    alpha = check_alpha(alpha)
    mode: Fusion = Fusion.parse(fusion)
    ids = np.union1d(bm25_ids, dense_ids).astype(np.int64)
    bm25_raw, bm25_rank = _align(ids, bm25_ids, bm25_scores)
    dense_raw, dense_rank = _align(ids, dense_ids, dense_scores)
    if mode is Fusion.COVERAGE:
        bm25_norm = bm25_raw / bm25_ceiling if bm25_ceiling > 0 else np.zeros_like(bm25_raw)
        dense_norm = 1 - (dense_raw.max(initial=0.0) - dense_raw) / COSINE_SCALE if len(dense_ids) else 0 * dense_raw
        weight = (1 - alpha) * float(np.sqrt(max(bm25_norm.max(initial=0.0), 0.0)))
        score = (1 - weight) * dense_norm + weight * bm25_norm
    else:
        bm25_norm = _normalise(bm25_raw, bm25_rank, mode)
        dense_norm = _normalise(dense_raw, dense_rank, mode)
        score = alpha * dense_norm + (1 - alpha) * bm25_norm
    first, second = (dense_raw, bm25_raw) if alpha >= 0.5 else (bm25_raw, dense_raw)
    order = np.lexsort((ids, -second, -first, -score))[: max(k, 0)]
    return Fused(ids[order], score[order], bm25_raw[order], bm25_norm[order], dense_raw[order], dense_norm[order])


def _align(ids: np.ndarray, side_ids: np.ndarray, side_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores and 1-based ranks of `ids` on one side; missing ids get the side's minimum and rank 0."""
    raw = np.full(len(ids), float(side_scores.min()) if len(side_scores) else 0.0)
    rank = np.zeros(len(ids), dtype=np.int64)
    if len(side_ids):
        positions = np.searchsorted(ids, side_ids)
        raw[positions] = side_scores
        rank[positions] = np.arange(1, len(side_ids) + 1)
    return raw, rank


def _normalise(raw: np.ndarray, rank: np.ndarray, fusion: Fusion) -> np.ndarray:
    if fusion is Fusion.RRF:
        return np.where(rank > 0, 1.0 / (RRF_K + rank), 0.0)
    if fusion is Fusion.ZSCORE:
        spread = raw.std()
        return (raw - raw.mean()) / spread if spread > 0 else np.zeros_like(raw)
    low, high = (raw.min(), raw.max()) if len(raw) else (0.0, 0.0)
    return (raw - low) / (high - low) if high > low else np.zeros_like(raw)
