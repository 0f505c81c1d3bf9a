"""A hit's `confidence`: the probability that it answers the query, from the evidence both sides give.

    confidence = 1 / (1 + exp(-(w · features + b)))

The features of a hit (`FEATURES`):

- `cosine`: its dense score (cosine, mixed with its best sentence's);
- `behind_best`: how far that is below the best dense score among the query's candidates;
- `coverage`: its BM25 score as a share of the most the query could score (every query term at its
  strongest weight in the index), so 1 means it holds all the query's words where they weigh most;
- `best_coverage`: the same share for the query's best BM25 match: how much of the query the corpus
  holds at all.

Absolute cosines differ from model to model, so the weights are fitted per model, on the dev sets of
`../shared/bench` with answerable questions (each set on its own corpus) and unanswerable ones (each
set's questions on another set's corpus): `bench/confidence.py` fits them and reports AUC and
precision/recall (bench/README.md). A model without fitted weights gets no confidence (None); a
BM25-only search (alpha 0) uses the BM25 weights, fitted the same way on the two coverages alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DEFAULT_MODEL, DEFAULT_THRESHOLD

__all__ = [
    "DEFAULT_THRESHOLD",
    "FEATURES",
    "NO_GOOD_MATCH",
    "Calibration",
    "calibration",
    "features",
    "register_calibration",
]

FEATURES = ("cosine", "behind_best", "coverage", "best_coverage")
#: What the CLI says when no hit reaches the threshold.
NO_GOOD_MATCH = "該当する文書が見つかりませんでした"


@dataclass(frozen=True)
class Calibration:
    """Logistic weights over `FEATURES` (the dense ones 0 for BM25 only) and an intercept."""

    weights: tuple[float, float, float, float]
    intercept: float

    def confidence(self, rows: np.ndarray) -> np.ndarray:
        """The probability for each row of `features`."""
        logits = rows @ np.asarray(self.weights) + self.intercept
        return 1 / (1 + np.exp(-np.clip(logits, -50, 50)))


#: Fitted by `bench/confidence.py --sets jsquad,jaquad,niilc --term-form lemma --alpha 0.4` (the
#: figures in bench/README.md), per model; "bm25" for alpha 0.
_FITTED: dict[str, Calibration] = {
    DEFAULT_MODEL: Calibration((40.7492, -25.7887, 9.2851, -5.3631), -37.9594),
    "bm25": Calibration((0.0, 0.0, 12.7972, -7.1039), -4.3272),
}


def register_calibration(model: str, weights: Calibration) -> None:
    """Use `weights` for hits of `model` (a model fitted with `bench/confidence.py`, or a test's fake)."""
    _FITTED[model] = weights


def calibration(model: str, dense: bool) -> Calibration | None:
    """The weights for hits of `model` (None when it has none); BM25-only searches have their own."""
    return _FITTED.get(model if dense else "bm25")


def features(
    dense: np.ndarray | None, best_dense: float, bm25: np.ndarray, best_bm25: float, ceiling: float
) -> np.ndarray:
    """The `FEATURES` rows of hits with these raw scores, given the best of each side among the query's
    candidates and its BM25 ceiling (`dense` None: a BM25-only search)."""
    if ceiling > 0:
        share, best_share = bm25 / ceiling, np.full(len(bm25), best_bm25 / ceiling)
    else:
        share = best_share = np.zeros(len(bm25))
    if dense is None:
        cosine = behind = np.zeros(len(bm25))
    else:
        cosine, behind = dense, best_dense - dense
    return np.column_stack([cosine, behind, share, best_share]).astype(np.float64)
