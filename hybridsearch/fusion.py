"""Score fusion, pure numpy: put BM25 and dense scores on one scale, then mix them with alpha.

The candidates are the union of both sides' lists. A candidate missing from one side's list gets
that side's minimum raw score there. Normalisation is per query over the candidates, by a rule
registered by name (`register_fusion`; the built-in ones are the names of `config.Fusion`):

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

A candidate with no dense side at all (`unscored`: a chunk whose vector has not been computed yet,
while an index fills in) competes on its BM25 side alone: whatever the rule and alpha, its dense_norm
and its score are its bm25_norm (its raw dense score stays the list's minimum).

The last three put each side on its own scale (`linear_rule`) and mix linearly:
`score = alpha * dense_norm + (1 - alpha) * bm25_norm`. Ties in the fused score are broken by the
raw score of the side alpha weights more (dense when alpha >= 0.5), then the other side's, then the
chunk id; so alpha = 0 and 1 keep each side's exact order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import Fusion, check_alpha
from .errors import InputError

__all__ = ["COSINE_SCALE", "Fused", "FusionRule", "RRF_K", "Side", "fuse", "linear_rule", "register_fusion"]

RRF_K = 60
#: The cosine distance below the best that costs the dense side all its weight (`coverage` fusion).
COSINE_SCALE = 0.1


@dataclass(frozen=True)
class Side:
    """One side's scores over the candidates, aligned with their ids: `raw` (a candidate missing from
    this side's list gets the list's minimum, 0 for an empty list) and `rank` (1-based in that list,
    0 when missing)."""

    raw: np.ndarray
    rank: np.ndarray

    @property
    def listed(self) -> bool:
        """Whether this side's list held any candidate."""
        return bool(self.rank.any())


#: A fusion rule: (bm25, dense, alpha, bm25_ceiling) → (bm25_norm, dense_norm, score), arrays aligned
#: with the candidates; `bm25_ceiling` is the most a chunk could score on BM25 for the query.
FusionRule = Callable[[Side, Side, float, float], tuple[np.ndarray, np.ndarray, np.ndarray]]

_RULES: dict[str, FusionRule] = {}


def register_fusion(name: str | Fusion, rule: FusionRule) -> None:
    """Fuse with `rule` when `fuse` is asked for `name` (a later registration wins)."""
    _RULES[str(name)] = rule


def linear_rule(normalise: Callable[[Side], np.ndarray]) -> FusionRule:
    """The rule that puts each side on its own scale with `normalise`, then mixes them as
    `alpha * dense_norm + (1 - alpha) * bm25_norm`."""

    def rule(bm25: Side, dense: Side, alpha: float, bm25_ceiling: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bm25_norm, dense_norm = normalise(bm25), normalise(dense)
        return bm25_norm, dense_norm, alpha * dense_norm + (1 - alpha) * bm25_norm

    return rule


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
    fusion: Fusion | str,
    k: int = 10,
    bm25_ceiling: float = 0.0,
    unscored: np.ndarray | None = None,
) -> Fused:
    """Fuse two ranked candidate lists (ids with raw scores, best first) with the rule registered as
    `fusion` and keep the top `k`; `bm25_ceiling` is the most a chunk could score on BM25 for the
    query (for `coverage`); `unscored` ids have no dense side (they score their bm25_norm)."""
    alpha = check_alpha(alpha)
    rule = _rule(fusion)
    ids = np.union1d(bm25_ids, dense_ids).astype(np.int64)
    bm25, dense = _align(ids, bm25_ids, bm25_scores), _align(ids, dense_ids, dense_scores)
    bm25_norm, dense_norm, score = rule(bm25, dense, alpha, bm25_ceiling)
    if unscored is not None and len(unscored):
        lone = np.isin(ids, unscored)
        dense_norm, score = np.where(lone, bm25_norm, dense_norm), np.where(lone, bm25_norm, score)
    first, second = (dense.raw, bm25.raw) if alpha >= 0.5 else (bm25.raw, dense.raw)
    order = np.lexsort((ids, -second, -first, -score))[: max(k, 0)]
    return Fused(ids[order], score[order], bm25.raw[order], bm25_norm[order], dense.raw[order], dense_norm[order])


def _rule(fusion: Fusion | str) -> FusionRule:
    rule = _RULES.get(str(fusion))
    if rule is None:
        raise InputError(f"Unknown fusion {fusion!r}; choose one of: {', '.join(_RULES)}.")
    return rule


def _align(ids: np.ndarray, side_ids: np.ndarray, side_scores: np.ndarray) -> Side:
    """One side's raw scores and 1-based ranks over `ids`; missing ids get the side's minimum and rank 0."""
    raw = np.full(len(ids), float(side_scores.min()) if len(side_scores) else 0.0)
    rank = np.zeros(len(ids), dtype=np.int64)
    if len(side_ids):
        positions = np.searchsorted(ids, side_ids)
        raw[positions] = side_scores
        rank[positions] = np.arange(1, len(side_ids) + 1)
    return Side(raw, rank)


def _coverage(bm25: Side, dense: Side, alpha: float, bm25_ceiling: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bm25_norm = bm25.raw / bm25_ceiling if bm25_ceiling > 0 else np.zeros_like(bm25.raw)
    dense_norm = 1 - (dense.raw.max(initial=0.0) - dense.raw) / COSINE_SCALE if dense.listed else 0 * dense.raw
    weight = (1 - alpha) * float(np.sqrt(max(bm25_norm.max(initial=0.0), 0.0)))
    return bm25_norm, dense_norm, (1 - weight) * dense_norm + weight * bm25_norm


def _minmax(side: Side) -> np.ndarray:
    low, high = (side.raw.min(), side.raw.max()) if len(side.raw) else (0.0, 0.0)
    return (side.raw - low) / (high - low) if high > low else np.zeros_like(side.raw)


def _zscore(side: Side) -> np.ndarray:
    spread = side.raw.std()
    return (side.raw - side.raw.mean()) / spread if spread > 0 else np.zeros_like(side.raw)


def _rrf(side: Side) -> np.ndarray:
    return np.where(side.rank > 0, 1.0 / (RRF_K + side.rank), 0.0)


register_fusion(Fusion.COVERAGE, _coverage)
register_fusion(Fusion.MINMAX, linear_rule(_minmax))
register_fusion(Fusion.ZSCORE, linear_rule(_zscore))
register_fusion(Fusion.RRF, linear_rule(_rrf))
