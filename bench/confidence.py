"""Fit and evaluate the hits' `confidence`: a logistic regression over a hit's evidence, from dev sets.

    .venv/bin/python bench/confidence.py [--sets jsquad,jaquad,niilc]

Answerable queries: each set's judged questions on its own corpus; unanswerable ones: each set's
questions on another set's corpus (a question whose article is in that corpus is left out;
bench/fusion_study.py's `collect`). Every query's first 10 hits under the default fusion become
rows: features (`hybridsearch.confidence.features`) and whether the hit is relevant. Answerable and
unanswerable queries weigh half each in the fit, each set (each pair) the same within its half.
Prints the coefficients to put in `hybridsearch/confidence.py`, then, for the first hit of every
query (what "no good match" decides on): ROC AUC, and precision / recall at the default
threshold; also with each set left out of the fit (fitted on the others), which is what a corpus
we have not seen would get.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
from fusion_study import collect, coverage
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from hybridsearch.confidence import DEFAULT_THRESHOLD, FEATURES, features

TOP = 10


def rows(data: dict[str, np.ndarray], alpha: float, dense: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, relevant, is the query's first hit) of every query's first TOP hits."""
    x, y, first = [], [], []
    for i in range(len(data["keys"])):
        valid = data["keys"][i] >= 0
        keys, b, d = data["keys"][i][valid], data["bm25"][i][valid], data["dense"][i][valid]
        ceiling = float(data["ceiling"][i])
        score = coverage(b, d, data["stats"][i], ceiling, alpha)
        order = np.lexsort((keys, -b, -d, -score))[:TOP]
        relevant = set(str(data["relevant"][i]).split("\t"))
        x.append(features(d[order] if dense else None, float(d.max()), b[order], float(b.max()), ceiling))
        y.append([data["records"][key] in relevant for key in keys[order]])
        first.append(np.arange(len(order)) == 0)
    return np.concatenate(x), np.concatenate(y), np.concatenate(first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="jsquad,niilc")
    parser.add_argument("--alpha", type=float, default=0.6)
    parser.add_argument("--term-form", default="base")
    args = parser.parse_args()
    sets = args.sets.split(",")
    for dense in (True, False):
        print(f"\n### {'hybrid' if dense else 'BM25 only (alpha 0)'}")
        study(sets, args.term_form, args.alpha if dense else 0.0, dense)


def study(sets: list[str], term_form: str, alpha: float, dense: bool) -> None:
    groups = {name: rows(collect(name, term_form), alpha, dense) for name in sets}
    for a, b in itertools.permutations(sets, 2):
        groups[f"{a} on {b}"] = rows(collect(a, term_form, b), alpha, dense)

    def fit(names: list[str]) -> LogisticRegression:
        x = np.concatenate([groups[n][0] for n in names])
        y = np.concatenate([groups[n][1] for n in names])
        share = {n: 1 / sum((" on " in m) == (" on " in n) for m in names) for n in names}  # half and half
        weight = np.concatenate([np.full(len(groups[n][1]), share[n] / len(groups[n][1])) for n in names])
        return LogisticRegression(C=1.0, max_iter=1000).fit(x, y, sample_weight=weight * len(y))

    def report(model: LogisticRegression, names: list[str], label: str) -> None:
        x = np.concatenate([groups[n][0][groups[n][2]] for n in names])
        y = np.concatenate([groups[n][1][groups[n][2]] for n in names])
        p = model.predict_proba(x)[:, 1]
        passed = p >= DEFAULT_THRESHOLD
        precision = y[passed].mean() if passed.any() else float("nan")
        recall = passed[y].mean() if y.any() else float("nan")
        auc = roc_auc_score(y, p) if 0 < y.sum() < len(y) else float("nan")
        print(f"| {label} | {len(y):,} | {y.mean():.3f} | {auc:.3f} | {passed.mean():.3f} | {precision:.3f} "
              f"| {recall:.3f} |")  # fmt: skip

    model = fit(list(groups))
    weights = tuple(round(w, 4) for w in model.coef_[0].tolist())
    print(f"Calibration({weights}, {round(float(model.intercept_[0]), 4)})  # {', '.join(FEATURES)}")
    print(f"\n| first hits of | queries | relevant | AUC | passing {DEFAULT_THRESHOLD} | precision | recall |")
    print("|---|---|---|---|---|---|---|")
    for name in groups:
        report(model, [name], name)
    report(model, list(groups), "**all**")
    for name in sets:  # fitted without the set and its pairs
        held = [n for n in groups if name in n.split(" on ")]
        report(fit([n for n in groups if n not in held]), held, f"{name} and its pairs, fitted without them")


if __name__ == "__main__":
    main()
