"""Fit and evaluate the hits' `confidence`: a logistic regression over a hit's evidence, from dev sets.

    .venv/bin/python bench/confidence.py [--sets jsquad,jaquad,niilc] [--corpora ...] [--thresholds 0.1,0.2,...]

Answerable queries: each set's judged questions on its own corpus; unanswerable ones: each set's
questions on another set's corpus (a question whose article is in that corpus is left out;
bench/fusion_study.py's `collect`; `--corpora` names those corpora when they are not just the sets',
e.g. a set whose own questions are too many to encode here). Every query's first 10 hits under the
default fusion become rows: features (`hybridsearch.confidence.features`) and whether the hit is
relevant. Answerable and unanswerable queries weigh half each in the fit, each set (each pair) the
same within its half.
Prints the coefficients to put in `hybridsearch/confidence.py`, then, for the first hit of every
query (what "no good match" decides on): ROC AUC, and precision / recall at the default
threshold; also with each set left out of the fit (fitted on the others), which is what a corpus
we have not seen would get.

With `--thresholds`, nothing is fitted: the weights that ship (`hybridsearch.confidence.calibration`,
what `Hit.confidence` is computed with) score every query's first hit, and for each threshold it
prints the share of answerable queries whose right first hit is weak (hidden), whose wrong first hit
passes (shown as strong), of unanswerable queries whose first hit passes, of queries with no good
match (first hit weak), and the precision of the first hits that pass. `--alpha` and `--term-form`
default to the library's (`hybridsearch.config`), which the shipped weights were fitted with.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable

import numpy as np
from fusion_study import collect, coverage
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from hybridsearch.confidence import DEFAULT_THRESHOLD, FEATURES, calibration, features
from hybridsearch.config import DEFAULT_ALPHA, DEFAULT_MODEL, TokenizerConfig

TOP = 10
#: (features, relevant, is the query's first hit) of a group's rows.
Rows = tuple[np.ndarray, np.ndarray, np.ndarray]


def rows(data: dict[str, np.ndarray], alpha: float, dense: bool = True) -> Rows:
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
    parser.add_argument("--corpora", help="the corpora the sets' questions are asked of unanswered (default: --sets)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="the library's default unless given")
    parser.add_argument("--term-form", default=str(TokenizerConfig().term_form), help="the library's default")
    parser.add_argument("--thresholds", help="comma-separated: the shipped weights' first hits at each (no fit)")
    args = parser.parse_args()
    sets = args.sets.split(",")
    corpora = args.corpora.split(",") if args.corpora else sets
    thresholds = [float(t) for t in args.thresholds.split(",")] if args.thresholds else None
    if thresholds and not all(0 <= t <= 1 for t in thresholds):
        parser.error(f"--thresholds must lie between 0 and 1 (got {args.thresholds}).")
    print(f"term form {args.term_form}, alpha {args.alpha:g}, fusion coverage")
    for dense in (True, False):
        print(f"\n### {'hybrid' if dense else 'BM25 only (alpha 0)'}")
        alpha = args.alpha if dense else 0.0
        if thresholds:
            sweep(grouped_rows(sets, corpora, args.term_form, alpha, dense), thresholds, dense)
        else:
            study(sets, corpora, args.term_form, alpha, dense)


def grouped_rows(sets: list[str], corpora: list[str], term_form: str, alpha: float, dense: bool) -> dict[str, Rows]:
    """The rows of every set on its own corpus, then of every set on each other corpus ("a on b": unanswerable)."""
    found = {name: rows(collect(name, term_form), alpha, dense) for name in sets}
    for a, b in itertools.product(sets, corpora):
        if a != b:
            found[f"{a} on {b}"] = rows(collect(a, term_form, b), alpha, dense)
    return found


def sweep(groups: dict[str, Rows], thresholds: list[float], dense: bool) -> None:
    """Per threshold, what the shipped weights do with each query's first hit (no refit)."""
    fitted = calibration(DEFAULT_MODEL, dense)
    if fitted is None:
        raise SystemExit(f"{DEFAULT_MODEL} has no fitted weights in hybridsearch/confidence.py.")
    first = {name: (fitted.confidence(x[top]), y[top]) for name, (x, y, top) in groups.items()}
    answerable = {name: first[name] for name in first if " on " not in name}
    unanswerable = {name: first[name] for name in first if " on " in name}

    def pooled(names: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([p for p, _ in names.values()]), np.concatenate([y for _, y in names.values()])

    known = answerable | {"**answerable, pooled**": pooled(answerable)}
    tables: list[tuple[str, dict[str, tuple[np.ndarray, np.ndarray]], Callable[[np.ndarray, np.ndarray], float]]] = [
        ("Right first hits hidden (relevant but weak), share of answerable queries",
         known, lambda passed, y: (y & ~passed).mean()),
        ("Wrong first hits shown (not relevant, yet passing), share of answerable queries",
         known, lambda passed, y: (~y & passed).mean()),
        ("Unanswerable queries whose first hit passes (a false good match)",
         unanswerable | {"**unanswerable, pooled**": pooled(unanswerable)}, lambda passed, y: passed.mean()),
        ("No good match (the first hit weak), share of queries",
         first | {"**all, pooled**": pooled(first)}, lambda passed, y: (~passed).mean()),
        ("Precision of the first hits that pass (relevant among those passing)",
         known | {"**all, pooled** (unanswerable too)": pooled(first)},
         lambda passed, y: y[passed].mean() if passed.any() else np.nan),
        ("Recall: the right first hits that pass, share of the right first hits",
         known, lambda passed, y: passed[y].mean() if y.any() else np.nan),
    ]  # fmt: skip
    for title, names, cell in tables:
        print(f"\n{title}:\n")
        print("| first hits of | queries | " + " | ".join(f"{t:g}" for t in thresholds) + " |")
        print("|---|---|" + "---|" * len(thresholds))
        for label, (p, y) in names.items():
            cells = " | ".join(_share(cell(p >= t, y)) for t in thresholds)
            print(f"| {label} | {len(y):,} | {cells} |")


def _share(value: float) -> str:
    return "–" if np.isnan(value) else f"{value:.3f}"


def study(sets: list[str], corpora: list[str], term_form: str, alpha: float, dense: bool) -> None:
    groups = grouped_rows(sets, corpora, term_form, alpha, dense)

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
