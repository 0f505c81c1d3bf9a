"""Indexing throughput, all in and by stage, through the real writer on real Japanese text.

    .venv/bin/python bench/index_speed.py                   # jsquad + jaquad + niilc dev corpora
    .venv/bin/python bench/index_speed.py --limit 2000      # the first 2,000 records of them
    .venv/bin/python bench/index_speed.py --chunk-from-sentences  # one pass over the sentences (the faster opt-in)
    .venv/bin/python bench/index_speed.py --cache           # and a --rebuild through the warm cache
    .venv/bin/python bench/index_speed.py --device cuda     # the model on a GPU

Builds an index of the dev corpora (`../shared/bench/*/dev/corpus.jsonl`, records with `_id`) in a
temporary folder with default settings and the embedded model (rebuilt in the user cache first, so its
one-off rebuild is not counted), and prints seconds per stage (from the writer's progress events),
and chunks/s all in. The embedding cache is off unless `--cache` (then it is a fresh one in the
temporary folder, never the user's).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from hybridsearch import HybridIndex
from hybridsearch.config import DenseConfig, IndexConfig, LoaderConfig
from hybridsearch.encoders.embedded_model import ensure_embedded_model
from hybridsearch.writer import ProgressEvent

BENCH = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"
SETS = ("jsquad", "jaquad", "niilc")


def corpus(folder: Path, limit: int | None) -> Path:
    """One JSONL file of the three dev corpora's records (ids prefixed by their set), cut at `limit`."""
    out = folder / "corpus.jsonl"
    written = 0
    with open(out, "w", encoding="utf-8") as target:
        for name in SETS:
            with open(BENCH / name / "dev" / "corpus.jsonl", encoding="utf-8") as handle:
                for line in handle:
                    if limit is not None and written >= limit:
                        return out
                    record = json.loads(line)
                    record["_id"] = f"{name}-{record['_id']}"
                    target.write(json.dumps(record, ensure_ascii=False) + "\n")
                    written += 1
    return out


class Stages:
    """Seconds spent in each stage the writer reports, from the first event of a stage to the next stage's."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = {}
        self.current: str | None = None
        self.since = self.last = time.perf_counter()

    def __call__(self, event: ProgressEvent) -> None:
        now = self.last = time.perf_counter()
        if event.stage != self.current:
            if self.current is not None:
                self.seconds[self.current] += now - self.since
            self.current, self.since = event.stage, now
        self.counts[event.stage] = event.done

    def close(self) -> None:
        """End the last stage at its last event (what follows is the commit)."""
        if self.current is not None:
            self.seconds[self.current] += self.last - self.since
            self.current = None


def build(source: Path, index: Path, config: IndexConfig, cache: bool, device: str | None) -> tuple[float, Stages]:
    stages = Stages()
    started = time.perf_counter()
    built = HybridIndex.build(source, index, config=config, device=device, progress=stages, rebuild=True, cache=cache)
    built.close()
    stages.close()
    return time.perf_counter() - started, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="records to index [default: all]")
    parser.add_argument(
        "--chunk-from-sentences", action="store_true", help="chunk vectors from their sentences' (no pass per chunk)"
    )
    parser.add_argument(
        "--cache", action="store_true", help="then rebuild once more through a warm embedding cache (in the tmp folder)"
    )
    parser.add_argument("--device", help="torch device for the model, e.g. cuda [default: cpu]")
    args = parser.parse_args()
    ensure_embedded_model()
    dense = DenseConfig(chunk_from_sentences=args.chunk_from_sentences)
    config = IndexConfig(loader=LoaderConfig(id_field="_id"), dense=dense)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HSEARCH_EMBEDDING_CACHE"] = str(Path(tmp) / "embeddings.sqlite")
        source = corpus(Path(tmp), args.limit)
        runs = [("cold", *build(source, Path(tmp) / "index", config, args.cache, args.device))]
        if args.cache:
            runs.append(("warm cache, --rebuild", *build(source, Path(tmp) / "index", config, True, args.device)))
        index = HybridIndex.open(Path(tmp) / "index")
        counts = index.info()["counts"]
        index.close()
    chunks = counts["chunks"]
    for name, seconds, stages in runs:
        print(f"{name}: {chunks} chunks, {counts.get('sentences', 0)} sentences: {seconds:.1f} s all in, "
              f"{chunks / seconds:.1f} chunks/s")  # fmt: skip
        print("| stage | seconds | share |\n|---|---|---|")
        accounted = sum(stages.seconds.values())
        for stage, spent in stages.seconds.items():
            print(f"| {stage} | {spent:.1f} | {spent / seconds:.0%} |")
        rest = seconds - accounted
        print(f"| committing (after the last event) | {rest:.1f} | {rest / seconds:.0%} |")


if __name__ == "__main__":
    main()
