"""Retrieval quality on a BEIR-layout dataset: BM25 only, dense only and hybrid, per alpha.

    .venv/bin/python bench/quality.py ../shared/bench/jsquad/dev --term-form surface --alphas 0,0.6,1

Builds the index under indexes/bench-<dataset>-<term form>-<chunk size> once (reused afterwards)
and prints one Markdown table row per alpha.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hybridsearch import HybridIndex, IndexConfig
from hybridsearch.config import ChunkConfig, LoaderConfig, TokenizerConfig
from hybridsearch.errors import IndexNotFoundError
from hybridsearch.evaluate import METRICS, evaluate, load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--term-form", default="base", choices=["surface", "base", "lemma"])
    parser.add_argument("--chunk-size", type=int, default=ChunkConfig.size)
    parser.add_argument("--alphas", default="0,0.6,1", help="comma-separated alphas")
    parser.add_argument("--fusion", default="minmax", choices=["minmax", "zscore", "rrf"])
    args = parser.parse_args()

    dataset = load_dataset(args.dataset)
    name = f"bench-{args.dataset.resolve().parent.name}-{args.term_form}-{args.chunk_size}"
    index_dir = Path("indexes") / name
    config = IndexConfig(
        loader=LoaderConfig(id_field="_id"),
        chunk=ChunkConfig(size=args.chunk_size, overlap=min(ChunkConfig.overlap, args.chunk_size // 4)),
        tokenizer=TokenizerConfig(term_form=args.term_form),
    )
    try:
        index = HybridIndex.open(index_dir)
    except IndexNotFoundError:
        started = time.perf_counter()
        index = HybridIndex.build(dataset.corpus, index_dir, config=config, show_progress=True)
        print(f"built {index_dir} in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    alphas = [float(a) for a in args.alphas.split(",")]
    started = time.perf_counter()
    results = evaluate(index, dataset, alphas, args.fusion)
    seconds = time.perf_counter() - started
    print(f"| dataset | terms | chunk | fusion | alpha | {' | '.join(METRICS)} |")
    print("|---|---|---|---|---|" + "---|" * len(METRICS))
    for alpha, metrics in results.items():
        values = " | ".join(f"{metrics[m]:.4f}" for m in METRICS)
        row = [args.dataset.resolve().parent.name, args.term_form, str(args.chunk_size), args.fusion, f"{alpha:g}"]
        print(f"| {' | '.join(row)} | {values} |")
    print(
        f"{len(dataset.queries)} queries, {index.bm25.num_chunks} chunks, evaluated in {seconds:.0f} s", file=sys.stderr
    )


if __name__ == "__main__":
    main()
