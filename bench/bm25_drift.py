"""Average-length drift: how BM25 rankings change when stored weights keep an old average chunk length.

    .venv/bin/python bench/bm25_drift.py [--base jsquad] [--added jaquad]

An engine that stores each chunk's BM25 tf/length part (the Qdrant backend) computed it with the
average chunk length of the index when it was written; documents added later move the true average.
This script indexes the `--base` corpus (its title + passage texts, as hsearch chunks them when they
are short), adds 10 %, 50 % and 100 % more chunks from the `--added` corpus, and ranks the base
corpus's dev queries two ways over the grown index: with every weight at the true average (what a
fresh build or a re-weight gives) and with every weight at the base's average (no re-weighting). It
reports the drift of the average, the share of queries whose top 10 is identical, and nDCG@10 of
both on the base's judgements (the added chunks are distractors). The weights are the backends'
formula (`hybridsearch.scoring.bm25`); IDF uses the grown index's counts in both, as the engine's does.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
from scipy import sparse

from hybridsearch.chunking import model_input
from hybridsearch.config import BM25Config, TokenizerConfig
from hybridsearch.evaluate import load_dataset, score_ranking
from hybridsearch.scoring.bm25 import idf, length_norms, term_weights
from hybridsearch.tokenization import Tokenizer, count_terms

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"


def corpus(name: str) -> list[tuple[str, str]]:
    """(id, title + text) of a BEIR corpus."""
    with open(BENCH / name / "dev" / "corpus.jsonl", encoding="utf-8") as handle:
        return [(r["_id"], model_input(r.get("title", ""), r["text"])) for r in map(json.loads, handle)]


def rankings(tf: sparse.csr_matrix, average: float, queries: list[list[int]], config: BM25Config) -> list[list[int]]:
    """Each query's top 10 rows by BM25 with every weight's length part at `average`."""
    lengths = np.asarray(tf.sum(axis=1)).ravel()
    idfs = idf(np.bincount(tf.indices, minlength=tf.shape[1]), tf.shape[0], config.variant)
    rows = np.repeat(np.arange(tf.shape[0]), np.diff(tf.indptr))
    data = term_weights(tf.data, length_norms(lengths, average, config)[rows], config, idfs[tf.indices])
    weights = sparse.csr_matrix((data, tf.indices, tf.indptr), shape=tf.shape).T.tocsr()
    found = []
    for terms in queries:
        scores = np.zeros(tf.shape[0])
        for term in terms:
            start, end = weights.indptr[term], weights.indptr[term + 1]
            scores[weights.indices[start:end]] += weights.data[start:end]
        top = np.lexsort((np.arange(len(scores)), -scores))[:10]
        found.append([int(row) for row in top if scores[row] > 0])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="jsquad")
    parser.add_argument("--added", default="jaquad")
    args = parser.parse_args()
    config, tokens = BM25Config(), TokenizerConfig()
    base, extra = corpus(args.base), corpus(args.added)
    random.Random(0).shuffle(extra)
    dataset = load_dataset(BENCH / args.base / "dev")
    counted = count_terms([text for _, text in base + extra[: len(base)]], tokens)
    vocabulary: dict[str, int] = {}
    indices, values, indptr = [], [], [0]
    for counts in counted:
        for term, count in counts.items():
            indices.append(vocabulary.setdefault(term, len(vocabulary)))
            values.append(float(count))
        indptr.append(len(indices))
    every = sparse.csr_matrix((values, indices, indptr), shape=(len(counted), len(vocabulary)))
    tokenizer = Tokenizer(tokens)
    ids = list(dataset.queries)
    queries = [[vocabulary[t] for t in tokenizer.query_terms(dataset.queries[q]) if t in vocabulary] for q in ids]
    base_rows = len(base)
    base_average = float(every[:base_rows].sum() / base_rows)
    names = [record for record, _ in base] + [f"added:{record}" for record, _ in extra[: len(base)]]
    print(f"{args.base} + {args.added}")
    columns = "added | chunks | average length: base → true | drift | same first hit | same top 10"
    print(f"| {columns} | nDCG@10 re-weighted | nDCG@10 stale |")
    print("|---|---|---|---|---|---|---|---|")
    for share in (0.1, 0.5, 1.0):
        rows = base_rows + int(share * base_rows)
        grown = every[:rows]
        true = float(grown.sum() / rows)
        exact, stale = rankings(grown, true, queries, config), rankings(grown, base_average, queries, config)
        same = sum(a == b for a, b in zip(exact, stale)) / len(ids)
        first = sum(a[:1] == b[:1] for a, b in zip(exact, stale)) / len(ids)
        quality = []
        for ranked in (exact, stale):
            scores = [score_ranking([names[r] for r in top], dataset.qrels[q])["ndcg@10"]
                      for q, top in zip(ids, ranked)]  # fmt: skip
            quality.append(float(np.mean(scores)))
        drift = (true - base_average) / true
        print(f"| {share:.0%} | {rows:,} | {base_average:.1f} → {true:.1f} | {drift:+.1%} | {first:.3f} | {same:.3f} "
              f"| {quality[0]:.4f} | {quality[1]:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
