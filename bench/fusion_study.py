"""Fusion rules compared offline on each dev set's candidates: nDCG@10 and Recall@10 per rule and alpha.

    .venv/bin/python bench/fusion_study.py [DATASET ...] [--term-form base|lemma] [--rules A,B]

For every judged query both sides' candidates are collected once (each side's top 300 chunks with
both raw scores, each side's min/max/mean/std over the whole index, and the BM25 ceiling: the most
a chunk could score for the query, `BM25Index.best_possible`) and cached in
`indexes/fusion-study-<set>-<term form>.npz`; then each rule re-ranks them. The dense side and the
chunks are those of an evaluation index with the base term form (built here when missing, as
`hsearch eval` would with `term_form=base`); `--term-form lemma`
re-tokenises chunks and queries for the BM25 side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from hybridsearch import HybridIndex
from hybridsearch.bm25 import BM25Index
from hybridsearch.chunking import model_input
from hybridsearch.config import IndexConfig, LoaderConfig, TermForm, TokenizerConfig
from hybridsearch.evaluate import Dataset, eval_index_dir, load_dataset, score_ranking
from hybridsearch.tokenization import Tokenizer

KEEP = 300
CROSS_QUERIES = 1000  # unanswerable queries per pair of sets
#: The evaluation indexes studied: the base term form (`--term-form` recomputes BM25 with another).
STUDY_INDEX = IndexConfig(loader=LoaderConfig(id_field="_id"), tokenizer=TokenizerConfig(term_form=TermForm.BASE))
SETS = ("jsquad", "jaquad", "niilc")
BENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"


def _titles(dataset: Dataset) -> dict[str, str]:
    with open(dataset.corpus, encoding="utf-8") as handle:
        return {(row := json.loads(line))["_id"]: row.get("title", "") for line in handle}


def collect(name: str, term_form: str = "base", corpus: str | None = None) -> dict[str, np.ndarray]:
    """Both sides' candidates for every judged query of `name`'s dev set (cached); the BM25 side from
    the index, or with another term form from the chunks re-tokenised here. With `corpus`, the
    queries are asked of that set's index instead, as unanswerable ones: every passage counts as not
    relevant, and a query whose relevant passage's article (title) is in that corpus is left out
    (at most CROSS_QUERIES of them, evenly spaced)."""
    corpus = corpus or name
    suffix = "" if corpus == name else f"-on-{corpus}"
    cache = Path("indexes") / f"fusion-study-{name}{suffix}-{term_form}.npz"
    if cache.exists():
        return dict(np.load(cache, allow_pickle=False))
    dataset = load_dataset(BENCH / name / "dev")
    config = STUDY_INDEX
    query_ids = list(dataset.queries)
    if corpus != name:
        target = load_dataset(BENCH / corpus / "dev")
        known, titles = set(_titles(target).values()), _titles(dataset)
        query_ids = [q for q in query_ids if not any(titles.get(doc) in known for doc in dataset.qrels[q])]
        query_ids = query_ids[:: -(-len(query_ids) // CROSS_QUERIES)]  # evenly spaced, at most CROSS_QUERIES
        dataset = Dataset(target.corpus, dataset.queries, {q: {} for q in query_ids})
    vectors_file = eval_index_dir(load_dataset(BENCH / name / "dev"), config) / "query-vectors.npy"
    index_dir = eval_index_dir(dataset, config)
    if HybridIndex.stored_config(index_dir) is None:
        HybridIndex.build(dataset.corpus, index_dir, config=config).close()
    index = HybridIndex.open(index_dir)
    with index.searcher() as searcher:
        backend = searcher.backend
        n = backend.num_chunks
        records = [c.record or c.path for c in backend.chunks(list(range(n)))]
        bm25_index, tokenizer = backend.bm25, searcher.tokenizer
        if term_form != str(backend.config.tokenizer.term_form):
            tokenizer = Tokenizer(replace(backend.config.tokenizer, term_form=TermForm.parse(term_form)))
            chunks = backend.chunks(list(range(n)))
            bm25_index = BM25Index.build([tokenizer.document_terms(model_input(c.title, c.text)) for c in chunks])
        every = list(load_dataset(BENCH / name / "dev").queries)
        if vectors_file.exists():  # bench/ablate.py's too: every judged query of the set, in order
            vectors = np.load(vectors_file)
        else:
            started = time.perf_counter()
            vectors = searcher.encode_queries([dataset.queries[q] for q in every])
            print(f"{name}: {len(every)} queries encoded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            np.save(vectors_file, vectors)
        row = {q: i for i, q in enumerate(every)}
        vectors = vectors[[row[q] for q in query_ids]]
        texts = [dataset.queries[q] for q in query_ids]
        keys, bm25, dense, stats, ceiling, relevant = [], [], [], [], [], []
        for query_id, text, vector in zip(query_ids, texts, vectors):
            terms = list(dict.fromkeys(tokenizer.query_terms(text)))  # as Searcher.prepare
            sparse_all = bm25_index.scores(terms)
            side = backend.dense(vector, n, None)
            dense_all = np.empty(n)
            dense_all[side.keys] = side.scores
            top = np.union1d(np.argsort(-sparse_all, kind="stable")[:KEEP], side.keys[:KEEP])
            top = np.pad(top, (0, 2 * KEEP - len(top)), constant_values=-1)
            keys.append(top)
            bm25.append(np.where(top >= 0, sparse_all[top], np.nan))
            dense.append(np.where(top >= 0, dense_all[top], np.nan))
            stats.append([f(a) for a in (sparse_all, dense_all) for f in (np.min, np.max, np.mean, np.std)])
            ceiling.append(bm25_index.best_possible(terms))
            relevant.append("\t".join(dataset.qrels[query_id]) or "-")
    arrays = {
        "keys": np.array(keys), "bm25": np.array(bm25), "dense": np.array(dense), "stats": np.array(stats),
        "ceiling": np.array(ceiling), "relevant": np.array(relevant), "records": np.array(records),
    }  # fmt: skip
    np.savez(cache, **arrays)
    return arrays


Rule = Callable[[np.ndarray, np.ndarray, np.ndarray, float, float], np.ndarray]
# a rule: (BM25 raw, dense raw, stats, BM25 ceiling, alpha) → fused score; stats = BM25 min, max, mean,
# std, then dense min, max, mean, std, each over the whole index (these small sets are scored exhaustively)


def _minmax(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return (x - low) / (high - low) if high > low else np.zeros_like(x)


def _coverage(b: np.ndarray, ceiling: float) -> np.ndarray:
    """BM25 as a share of what the query could score at best."""
    return b / ceiling if ceiling > 0 else np.zeros_like(b)


def _z(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    return (x - mean) / std if std > 0 else np.zeros_like(x)


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(-x, kind="stable"), kind="stable") + 1


def minmax(b: np.ndarray, d: np.ndarray, s: np.ndarray, c: float, alpha: float) -> np.ndarray:
    """The default until now: both sides min-max."""
    return alpha * _minmax(d, s[4], s[5]) + (1 - alpha) * _minmax(b, s[0], s[1])


def zscore(b: np.ndarray, d: np.ndarray, s: np.ndarray, c: float, alpha: float) -> np.ndarray:
    return alpha * _z(d, s[6], s[7]) + (1 - alpha) * _z(b, s[2], s[3])


def rrf(b: np.ndarray, d: np.ndarray, s: np.ndarray, c: float, alpha: float) -> np.ndarray:
    return alpha / (60 + _ranks(d)) + (1 - alpha) / (60 + _ranks(b))


def coverage_minmax(b: np.ndarray, d: np.ndarray, s: np.ndarray, c: float, alpha: float) -> np.ndarray:
    """BM25 / its ceiling; dense min-max."""
    return alpha * _minmax(d, s[4], s[5]) + (1 - alpha) * _coverage(b, c)


def coverage_above_mean(b: np.ndarray, d: np.ndarray, s: np.ndarray, c: float, alpha: float) -> np.ndarray:
    """BM25 / its ceiling; dense: how far above the average chunk, as a share of the best's lead."""
    lead = np.clip((d - s[6]) / (s[5] - s[6]), 0, None) if s[5] > s[6] else np.zeros_like(d)
    return alpha * lead + (1 - alpha) * _coverage(b, c)


def coverage_gap(b: np.ndarray, d: np.ndarray, s: np.ndarray, c: float, alpha: float) -> np.ndarray:
    """BM25 / its ceiling; dense: 1 - (best cosine - cosine) / 0.1 (raw cosines, one fixed scale)."""
    return alpha * (1 - (s[5] - d) / 0.1) + (1 - alpha) * _coverage(b, c)


def coverage_weighted(b: np.ndarray, d: np.ndarray, s: np.ndarray, c: float, alpha: float) -> np.ndarray:
    """As coverage_gap, with the BM25 side's weight times the query's coverage by its best match."""
    share = _coverage(b, c)
    weight = (1 - alpha) * float(share.max(initial=0.0))
    return (1 - weight) * (1 - (s[5] - d) / 0.1) + weight * share


def coverage(b: np.ndarray, d: np.ndarray, s: np.ndarray, c: float, alpha: float) -> np.ndarray:
    """As coverage_gap, with the BM25 side's weight times the square root of that coverage: the
    library's `coverage` fusion (hybridsearch/fusion.py)."""
    share = _coverage(b, c)
    weight = (1 - alpha) * float(np.sqrt(share.max(initial=0.0)))
    return (1 - weight) * (1 - (s[5] - d) / 0.1) + weight * share


RULES: dict[str, Rule] = {
    "minmax": minmax, "zscore": zscore, "rrf": rrf, "coverage-minmax": coverage_minmax,
    "coverage-above-mean": coverage_above_mean, "coverage-gap": coverage_gap, "coverage-weighted": coverage_weighted,
    "coverage": coverage,
}  # fmt: skip


def evaluate(data: dict[str, np.ndarray], rule: Rule, alpha: float) -> tuple[float, float]:
    """Mean nDCG@10 and Recall@10 of `rule` at `alpha` over the cached queries."""
    records = data["records"]
    ndcg = recall = 0.0
    count = len(data["keys"])
    for i in range(count):
        valid = data["keys"][i] >= 0
        keys, b, d = data["keys"][i][valid], data["bm25"][i][valid], data["dense"][i][valid]
        score = rule(b, d, data["stats"][i], float(data["ceiling"][i]), alpha)
        order = np.lexsort((keys, -d, -b, -score)) if alpha < 0.5 else np.lexsort((keys, -b, -d, -score))
        ranked = list(dict.fromkeys(records[keys[order]].tolist()))[:100]
        metrics = score_ranking(ranked, dict.fromkeys(str(data["relevant"][i]).split("\t"), 1))
        ndcg += metrics["ndcg@10"]
        recall += metrics["recall@10"]
    return ndcg / count, recall / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=SETS)
    parser.add_argument("--rules", default=",".join(RULES))
    parser.add_argument("--term-form", default="base")
    parser.add_argument("--alphas", default="0,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1")
    args = parser.parse_args()
    alphas = [float(a) for a in args.alphas.split(",")]
    for name in args.sets:
        data = collect(name, args.term_form)
        for rule in args.rules.split(","):
            row = [evaluate(data, RULES[rule], alpha) for alpha in alphas]
            best = max(range(len(alphas)), key=lambda j: row[j][0])
            cells = " ".join(f"{a:g}:{n:.4f}" for a, (n, _) in zip(alphas, row))
            print(f"{name:7} {rule:20} best {alphas[best]:g} {row[best][0]:.4f} | {cells}", flush=True)


if __name__ == "__main__":
    main()
