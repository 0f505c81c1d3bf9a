"""What the reader filter costs a search: a 100k-chunk index whose documents each have one reader
group, searched as principals who may read 1 %, 10 % and 90 % of it, against the same records
indexed without readers and searched with no filter, in one process, query by query in turn.

    .venv/bin/python bench/reader_filter.py            # 100,000 records (bench/scale.py's corpus)
    .venv/bin/python bench/reader_filter.py 10000 --queries 100

The corpus and its vectors are bench/scale.py's (real Japanese passages recombined, vectors in the
real model's space); record i is readable by `group:g{i % 100}`, so a principal in groups g00–g09
may read 10 % of it. Warm latency includes query encoding (the real query path). The first search
of each principal reads the metadata columns once per generation and is not timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from scale import CACHE, RecombinedEncoder, build, make_corpus, percentile, queries

from hybridsearch import HybridIndex, IndexConfig, Principal
from hybridsearch.cli import ProgressBars
from hybridsearch.config import LoaderConfig

SHARES = {"1 %": 1, "10 %": 10, "90 %": 90}


def with_readers(count: int) -> Path:
    """The scale corpus with a `readers` column (record i: group g{i % 100}) and its index (cached)."""
    corpus, vectors = make_corpus(count)
    index_dir = CACHE / f"index-{count}-readers"
    if HybridIndex.stored_config(index_dir) is None:
        folder = CACHE / f"readers-{count}"
        folder.mkdir(parents=True, exist_ok=True)
        with open(corpus, encoding="utf-8") as source, open(folder / "corpus.jsonl", "w", encoding="utf-8") as out:
            for row, record in enumerate(map(json.loads, source)):
                out.write(json.dumps(record | {"readers": f"group:g{row % 100:02d}"}, ensure_ascii=False) + "\n")
        config = IndexConfig(loader=LoaderConfig(max_file_mb=4096))
        bars = ProgressBars(quiet=False)
        started = time.perf_counter()
        encoder = RecombinedEncoder(corpus, vectors)
        HybridIndex.build(folder, index_dir, config=config, encoder=encoder, progress=bars, warn=bars.warn).close()
        bars.close()
        print(f"built {index_dir.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return index_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chunks", type=int, nargs="?", default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    plain_dir, readers_dir = build(args.chunks, "auto"), with_readers(args.chunks)
    principals = {
        share: Principal("bench", groups=[f"g{group:02d}" for group in range(groups)])
        for share, groups in SHARES.items()
    }
    latencies: dict[str, list[float]] = {"no filter": [], **{share: [] for share in SHARES}}
    leaked = 0
    with HybridIndex.open(plain_dir) as plain, HybridIndex.open(readers_dir) as ruled:
        plain.search("準備", k=10)
        for principal in principals.values():
            ruled.search("準備", k=10, principal=principal)
        for text in queries(args.queries):
            started = time.perf_counter()
            plain.search(text, k=10)
            latencies["no filter"].append((time.perf_counter() - started) * 1000)
            for share, principal in principals.items():
                started = time.perf_counter()
                hits = ruled.search(text, k=10, principal=principal)
                latencies[share].append((time.perf_counter() - started) * 1000)
                allowed = {f"group:{group}" for group in principal.groups}
                leaked += sum(not allowed & set(hit.metadata["readers"]) for hit in hits)
    base = statistics.median(latencies["no filter"])
    results = {
        name: {
            "p50_ms": round(statistics.median(found), 1),
            "p95_ms": round(percentile(found, 0.95), 1),
            "p50_vs_no_filter": round(statistics.median(found) / base, 2),
        }
        for name, found in latencies.items()
    }
    print(json.dumps({"chunks": args.chunks, "queries": args.queries, "hits_of_others": leaked, **results}, indent=2))


if __name__ == "__main__":
    main()
