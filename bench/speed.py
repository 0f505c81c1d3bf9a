"""Quickstart-scale speed: index corpora/, cold `hsearch query` (new process), warm search latency.

    .venv/bin/python bench/speed.py            # prints a Markdown table; medians over repeated runs

Run with the embedded model already rebuilt in the cache (the first `make quickstart` does that).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hybridsearch import HybridIndex

ROOT = Path(__file__).resolve().parent.parent
HSEARCH = str(Path(sys.executable).with_name("hsearch"))
QUERY = "赤い惑星は?"


def wall(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - started


def main(repeats: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = str(Path(tmp) / "idx")
        build = [HSEARCH, "index", str(ROOT / "corpora"), "--index", index_dir, "-q", "--rebuild"]
        index_runs = [wall(build) for _ in range(3)]
        cold = [wall([HSEARCH, "query", QUERY, "--index", index_dir]) for _ in range(repeats)]
        bm25_cold = [wall([HSEARCH, "query", QUERY, "--index", index_dir, "--alpha", "0"]) for _ in range(repeats)]
        index = HybridIndex.open(index_dir)
        index.search(QUERY)  # load the engine
        warm = []
        for _ in range(50):
            started = time.perf_counter()
            index.search(QUERY, k=10)
            warm.append((time.perf_counter() - started) * 1000)
        chunks = index.info()["counts"]["chunks"]
        index.close()
    warm.sort()
    print("| figure | value |\n|---|---|")
    index_seconds = statistics.median(index_runs)
    label = f"`hsearch index corpora/ --rebuild` ({chunks} chunks, model cached), median of 3"
    print(f"| {label} | {index_seconds:.1f} s |")
    print(f"| cold `hsearch query` (new process, alpha 0.6), median of {repeats} | {statistics.median(cold):.2f} s |")
    print(f"| cold `hsearch query --alpha 0` (BM25 only), median of {repeats} | {statistics.median(bm25_cold):.2f} s |")
    print(f"| warm `HybridIndex.search`, p50 / p95 of 50 | {warm[24]:.1f} / {warm[47]:.1f} ms |")


if __name__ == "__main__":
    main()
