"""Tokenizing many chunks: worker processes against one process, on real passages.

    .venv/bin/python bench/tokenize_speed.py [--texts 20000]

The texts: title + passage of the jsquad and jaquad dev corpora, repeated to `--texts`. The same
script runs on another checkout with `PYTHONPATH=OTHER .venv/bin/python bench/tokenize_speed.py`,
which is how the worker processes were compared before and after they became plain subprocesses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from scale import passages

from hybridsearch.chunking import model_input
from hybridsearch.config import TokenizerConfig
from hybridsearch.tokenization import count_terms


def texts(count: int) -> list[str]:
    found = [model_input(title, text) for title, text in passages()]
    return (found * (count // len(found) + 1))[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    inputs, times = texts(args.texts), []
    for _ in range(args.repeats):
        started = time.perf_counter()
        counted = count_terms(inputs, TokenizerConfig())
        times.append(time.perf_counter() - started)
    assert len(counted) == len(inputs)
    seconds = statistics.median(times)
    rate = round(len(inputs) / seconds)
    print(json.dumps({"texts": len(inputs), "median_s": round(seconds, 2), "texts_per_s": rate}))


if __name__ == "__main__":
    main()
