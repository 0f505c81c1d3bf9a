"""Warm search latency on a built index, for A/B runs of two checkouts on a noisy machine.

    .venv/bin/python bench/ab_search.py indexes/bench-scale/index-100000-auto
    PYTHONPATH=../other .venv/bin/python bench/ab_search.py ../other/indexes/bench-scale/index-100000-auto

200 dev questions at α = 0 (BM25 only) and 0.6; prints the median wall and CPU (this process, all
threads) milliseconds per search. Alternate the two runs several times and compare medians.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

from hybridsearch import HybridIndex

DEV = [Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / n / "dev" for n in ("jsquad", "jaquad")]


def main() -> None:
    questions = []
    for folder in DEV:
        with open(folder / "queries.jsonl", encoding="utf-8") as handle:
            questions += [json.loads(line)["text"] for line in handle]
    questions = random.Random(1).sample(questions, 200)
    index = HybridIndex.open(sys.argv[1])
    index.search("準備", k=10)  # load the query engine
    found = {}
    for alpha in (0.0, 0.6):
        wall, cpu = [], []
        for text in questions:
            started, used = time.perf_counter(), time.process_time()
            index.search(text, k=10, alpha=alpha)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - used) * 1000)
        found[f"alpha {alpha:g}"] = {
            "wall_ms": round(statistics.median(wall), 2),
            "cpu_ms": round(statistics.median(cpu), 2),
        }
    print(json.dumps(found))


if __name__ == "__main__":
    main()
