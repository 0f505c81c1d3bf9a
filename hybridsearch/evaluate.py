"""Retrieval quality on BEIR-layout data: nDCG@10, MRR@10, Recall@10/100, MAP@100 per alpha.

A dataset folder holds `corpus.jsonl` ({"_id", "title", "text"}), `queries.jsonl` ({"_id", "text"})
and `qrels/test.tsv` (query-id, corpus-id, score). Chunks are mapped back to their corpus record and
a record ranks by its best chunk. Queries are encoded once; every alpha reuses the same candidates.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import Fusion, IndexConfig
from .errors import InputError
from .index import HybridIndex
from .location import IndexLocation
from .search import Searcher, candidate_depth

__all__ = [
    "METRICS",
    "Dataset",
    "Evaluation",
    "best_alpha",
    "eval_index_dir",
    "evaluate",
    "load_dataset",
    "parse_alphas",
    "plot_sweep",
    "score_ranking",
]

METRICS = ("ndcg@10", "mrr@10", "recall@10", "recall@100", "map@100")
_DEPTH = 100  # records ranked per query


@dataclass(frozen=True)
class Dataset:
    """A BEIR-layout dataset: where its corpus is, its queries and its relevance judgements."""

    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_dataset(folder: str | Path, split: str = "test") -> Dataset:
    """Read a BEIR folder; only queries that have judgements are kept."""
    root = Path(folder)
    corpus, queries_path, qrels_path = root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"
    for path in (corpus, queries_path, qrels_path):
        if not path.is_file():
            raise InputError(f"{root} is not a BEIR dataset folder: {path.name} is missing ({path}).")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    queries = {}
    with open(queries_path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["_id"] in qrels:
                queries[record["_id"]] = record["text"]
    return Dataset(corpus, queries, {q: qrels[q] for q in queries})


def score_ranking(ranked: Sequence[str], relevant: dict[str, int]) -> dict[str, float]:
    """All METRICS for one query's ranked record ids (gain = relevance grade, log2 discount)."""
    gains = [relevant.get(doc, 0) for doc in ranked]
    ideal = sorted(relevant.values(), reverse=True)[:10]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    first = next((i for i, g in enumerate(gains[:10]) if g > 0), None)
    hits, precision_sum = 0, 0.0
    for i, gain in enumerate(gains[:100]):
        if gain > 0:
            hits += 1
            precision_sum += hits / (i + 1)
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "mrr@10": 1 / (first + 1) if first is not None else 0.0,
        "recall@10": sum(1 for g in gains[:10] if g > 0) / len(relevant),
        "recall@100": hits / len(relevant),
        "map@100": precision_sum / len(relevant),
    }


@dataclass(frozen=True)
class Evaluation:
    """Mean METRICS per alpha (with one fusion), for the index's own default (alpha and fusion), and
    for the oracle that picks each query's best alpha afterwards (an upper bound no fixed alpha reaches)."""

    results: dict[float, dict[str, float]]
    default: dict[str, float]
    oracle: dict[str, float]


def evaluate(
    index: HybridIndex,
    dataset: Dataset,
    alphas: Sequence[float],
    fusion: Fusion | str = Fusion.COVERAGE,
    progress: Callable[[int], None] | None = None,
    per_query: Callable[[dict[str, Any]], object] | None = None,
) -> Evaluation:
    """METRICS over the dataset's queries for each alpha (records ranked by their best chunk), for the
    index's default, and the per-query oracle; `per_query` gets one record per query: the ranks of its
    relevant records for BM25 only, dense only and the default, and its best alpha."""
    query_ids = list(dataset.queries)
    texts = [dataset.queries[q] for q in query_ids]
    totals = {alpha: dict.fromkeys(METRICS, 0.0) for alpha in alphas}
    default_total, oracle_total = dict.fromkeys(METRICS, 0.0), dict.fromkeys(METRICS, 0.0)
    default_alpha, default_fusion = index.config.alpha, index.config.fusion
    with index.searcher() as searcher:
        records = _Records(searcher)
        vectors = searcher.encode_queries(texts)
        depth = candidate_depth(_DEPTH, searcher.backend.num_chunks)
        for i, (query_id, text) in enumerate(zip(query_ids, texts)):
            prepared = searcher.prepare(text)
            candidates = searcher.candidates(prepared.terms, vectors[i], depth, own_terms=prepared.own_terms)
            relevant = dataset.qrels[query_id]
            scored = {}
            for alpha in alphas:
                ranked = records.first(candidates.fuse(alpha, fusion, depth).ids)
                scored[alpha] = score_ranking(ranked, relevant), ranked
                _add(totals[alpha], scored[alpha][0])
            default_ranked = records.first(candidates.fuse(default_alpha, default_fusion, depth).ids)
            default_metrics = score_ranking(default_ranked, relevant)
            _add(default_total, default_metrics)
            best = max(alphas, key=lambda alpha: scored[alpha][0]["ndcg@10"])  # the first (smallest) on a tie
            _add(oracle_total, scored[best][0])
            if per_query is not None:
                bm25, dense = (records.first(candidates.fuse(a, fusion, depth).ids) for a in (0.0, 1.0))
                per_query({
                    "id": query_id, "query": text, "relevant": sorted(relevant),
                    "ranks": {name: _ranks(ranked, relevant)
                              for name, ranked in (("bm25", bm25), ("dense", dense), ("default", default_ranked))},
                    "ndcg@10": default_metrics["ndcg@10"], "best_alpha": best,
                    "best_ndcg@10": scored[best][0]["ndcg@10"],
                })  # fmt: skip
            if progress:
                progress(1)
    count = max(len(query_ids), 1)

    def mean(total: dict[str, float]) -> dict[str, float]:
        return {name: value / count for name, value in total.items()}

    return Evaluation({alpha: mean(total) for alpha, total in totals.items()}, mean(default_total), mean(oracle_total))


def _add(total: dict[str, float], metrics: dict[str, float]) -> None:
    for name, value in metrics.items():
        total[name] += value


def _ranks(ranked: Sequence[str], relevant: dict[str, int]) -> dict[str, int | None]:
    """The 1-based rank of each relevant record in a ranking (None: not in its first `_DEPTH`)."""
    position = {record: i + 1 for i, record in enumerate(ranked)}
    return {record: position.get(record) for record in sorted(relevant)}


class _Records:
    """Chunk keys → record ids (the document's record, or its path for a whole file), read as needed."""

    def __init__(self, searcher: Searcher) -> None:
        self.backend = searcher.backend
        self.known: dict[int, str] = {}

    def first(self, keys: np.ndarray) -> list[str]:
        """The first `_DEPTH` distinct records of a chunk ranking."""
        ranked: dict[str, None] = {}
        keys_list = keys.tolist()
        for start in range(0, len(keys_list), 4 * _DEPTH):
            block = keys_list[start : start + 4 * _DEPTH]
            missing = [key for key in block if key not in self.known]
            for key, chunk in zip(missing, self.backend.chunks(missing)):
                self.known[key] = chunk.record or chunk.path
            for key in block:
                ranked.setdefault(self.known[key])
                if len(ranked) == _DEPTH:
                    return list(ranked)
        return list(ranked)


def parse_alphas(spec: str) -> list[float]:
    """Alphas from `start:stop:step` (inclusive, e.g. `0:1:0.1`), a comma list, or one number."""
    try:
        if ":" in spec:
            start, stop, step = (float(part) for part in spec.split(":"))
            if step <= 0:
                raise ValueError
            count = int(round((stop - start) / step)) + 1
            values = [round(start + i * step, 10) for i in range(count)]
        else:
            values = [float(part) for part in spec.split(",")]
    except ValueError:
        raise InputError(
            f"Cannot read alphas {spec!r}: use start:stop:step (0:1:0.1), a list (0,0.5,1) or one number."
        ) from None
    if not values or any(not 0 <= a <= 1 for a in values):
        raise InputError(f"Alphas must lie between 0 and 1 (got {spec!r}).")
    return sorted(set(values))


def eval_index_dir(dataset: Dataset, config: IndexConfig, root: str | Path = Path("indexes")) -> str | Path:
    """Where the index of a dataset's corpus lives, under `root` (a folder, or an engine's location
    without the index name, `qdrant+local://indexes/qdrant`): keyed by the corpus's sha256 and the
    settings."""
    digest = hashlib.sha256()
    with open(dataset.corpus, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(config.stored_settings(), sort_keys=True).encode())  # not the query defaults
    corpus = re.sub(r"[^A-Za-z0-9_]+", "-", dataset.corpus.resolve().parent.parent.name).strip("-")
    name = f"eval-{corpus or 'corpus'}-{digest.hexdigest()[:12]}"  # a name any engine takes
    child = IndexLocation.parse(root).child(name)
    return child.folder if child.is_local else child.text


def best_alpha(results: dict[float, dict[str, float]], metric: str = "ndcg@10") -> float:
    """The alpha with the highest `metric` (the smaller alpha on a tie)."""
    return max(sorted(results), key=lambda alpha: results[alpha][metric])


def plot_sweep(results: dict[float, dict[str, float]], path: Path, title: str) -> None:
    """Metric-vs-alpha curves, with BM25 (alpha 0) and dense (alpha 1) as dashed horizontal lines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install matplotlib") from None
    alphas = sorted(results)
    figure, axes = plt.subplots(figsize=(8, 5))
    for index, metric in enumerate(METRICS):
        color = f"C{index}"
        axes.plot(alphas, [results[a][metric] for a in alphas], marker="o", color=color, label=metric)
        for end, style in ((0.0, "--"), (1.0, ":")):
            if end in results:
                axes.axhline(results[end][metric], color=color, linestyle=style, linewidth=0.8)
    axes.set_xlabel("alpha (0 = BM25 only, 1 = dense only)")
    axes.set_ylabel("score")
    axes.set_title(f"{title}  (dashed: BM25 only, dotted: dense only)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(METRICS), fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
