"""Progressive indexing against a one-phase build, in one run, each arm with a fresh, empty embedding cache.

    .venv/bin/python bench/progressive.py                 # jsquad + jaquad + niilc dev corpora (11,725 chunks)
    .venv/bin/python bench/progressive.py --limit 1145    # the first 1,145 records (jsquad's dev corpus)

`--queries N` compares the first N dev queries of each set (default 200; niilc has 659). `--instant` uses
the tests' instant bigram encoder instead of the model: the two arms then differ by what progressive
writing adds (the words commit, the fill's commits and re-opens), not by the model's time, which on a
shared machine moves far more than 5 % from run to run; the fill then commits every run (the most commits
it makes; with the model they grow so that committing costs at most 3 % of encoding).

Prints the one-phase all-in seconds (wall and CPU); for the progressive arm, the seconds to the words generation, to
the first BM25 answer (alpha 0) equal to the complete index's, and to every vector (wall and CPU); the commits'
count; whether the two complete indexes hold the same vectors (max abs difference, chunks that differ); and
whether the complete progressive index answers every dev query exactly as the one-phase one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from index_speed import BENCH, SETS, corpus

from hybridsearch import HybridIndex, IndexConfig, embedding, filling, writer
from hybridsearch.backends.local import LocalBackend
from hybridsearch.config import DenseConfig
from hybridsearch.encoders import load_encoder
from hybridsearch.progress import ProgressEvent


def queries(limit: int) -> list[str]:
    """The first `limit` dev queries of each set."""
    texts = []
    for name in SETS:
        with open(BENCH / name / "dev" / "queries.jsonl", encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for line, _ in zip(handle, range(limit))]
    return texts


def warm_up(texts: list[str]) -> None:
    """Import torch and run the model once, so that the first arm does not pay for it alone (each arm
    still loads its own encoder, as `hsearch index` does)."""
    load_encoder(DenseConfig(), None).encode_documents(texts[:32])


def cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and its finished children (tokenizer workers): on a
    shared machine they move far less with other work than the wall clock does."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def one_phase(source: Path, index: Path, config: IndexConfig) -> tuple[float, float]:
    """Wall and CPU seconds of a one-phase write."""
    progressive, writer.PROGRESSIVE_FROM = writer.PROGRESSIVE_FROM, 10**12
    try:
        started, cpu = time.perf_counter(), cpu_seconds()
        writer.write_index(index, [source], config=config)
        return time.perf_counter() - started, cpu_seconds() - cpu
    finally:
        writer.PROGRESSIVE_FROM = progressive


def progressive(source: Path, index: Path, config: IndexConfig, query: str, expected: list[str]) -> dict[str, float]:
    words = threading.Event()
    times: dict[str, float] = {}

    def progress(event: ProgressEvent) -> None:
        if event.stage == "searchable by words" and not words.is_set():
            times["words"] = time.perf_counter() - started
            words.set()

    started, cpu = time.perf_counter(), cpu_seconds()
    thread = threading.Thread(target=lambda: writer.write_index(index, [source], config=config, progress=progress))
    thread.start()
    words.wait()
    with HybridIndex.open(index) as opened:
        while True:
            if [hit.id for hit in opened.search(query, k=10, alpha=0)] == expected:
                times["first_answer"] = time.perf_counter() - started
                break
    thread.join()
    times["complete"] = time.perf_counter() - started
    times["cpu"] = cpu_seconds() - cpu
    times["commits"] = int(sorted(p.name for p in index.glob("gen-*"))[-1][4:])
    return times


def vector_difference(one: Path, two: Path) -> str:
    """How far apart the chunk and sentence vectors of two complete indexes of the same files are."""
    first, second = LocalBackend.open(one), LocalBackend.open(two)
    try:
        rows = np.arange(first.num_chunks)
        chunks = np.abs(first.vectors.vectors(rows) - second.vectors.vectors(rows)).max(axis=1)
        said = f"chunk vectors: max abs difference {chunks.max():.3g}, {np.count_nonzero(chunks)} chunks differ"
        if first.sentences is not None and second.sentences is not None:
            a, b = first.sentences.vectors.astype(np.float32), second.sentences.vectors.astype(np.float32)
            sentences = np.abs(a - b).max(axis=1)
            said += f"; sentence vectors: max {sentences.max():.3g}, {np.count_nonzero(sentences)} of {len(a)} differ"
        return said
    finally:
        first.close()
        second.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="records of the dev corpora to index (default: all)")
    parser.add_argument("--queries", type=int, default=200, help="dev queries of each set compared once complete")
    parser.add_argument("--instant", action="store_true", help="the tests' instant bigram encoder, not the model")
    args = parser.parse_args()
    config = IndexConfig()
    if args.instant:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        import conftest  # noqa: F401 - registers the fake:… encoders

        config = IndexConfig(dense=DenseConfig(model="fake:bigrams"))
        filling.COMMIT_SHARE = float("inf")  # a commit per run: the most commits a fill makes
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = corpus(folder, args.limit)
        asked = queries(args.queries)
        if not args.instant:
            warm_up(asked)
        os.environ["HSEARCH_EMBEDDING_CACHE"] = str(folder / "cache-one.sqlite")
        seconds, cpu = one_phase(source, folder / "one", config)
        with HybridIndex.open(folder / "one") as opened:
            chunks = opened.info()["counts"]["chunks"]
            expected = [hit.id for hit in opened.search(asked[0], k=10, alpha=0)]
            reference = [[(h.id, h.score) for h in opened.search(q, k=10)] for q in asked]
        os.environ["HSEARCH_EMBEDDING_CACHE"] = str(folder / "cache-progressive.sqlite")
        times = progressive(source, folder / "progressive", config, asked[0], expected)
        with HybridIndex.open(folder / "progressive") as opened:
            same = reference == [[(h.id, h.score) for h in opened.search(q, k=10)] for q in asked]
        difference = vector_difference(folder / "one", folder / "progressive")
    print(f"{chunks} chunks; one phase: {seconds:.1f} s all in, {cpu:.1f} CPU s")
    print(f"progressive: words generation {times['words']:.1f} s, first BM25 answer {times['first_answer']:.1f} s "
          f"({100 * times['first_answer'] / seconds:.1f} % of one phase), complete {times['complete']:.1f} s "
          f"({100 * (times['complete'] / seconds - 1):+.1f} %), {times['commits']:.0f} commits "
          f"(runs of {embedding.ENCODE_RUN} chunks), {times['cpu']:.1f} CPU s "
          f"({100 * (times['cpu'] / cpu - 1):+.1f} %)")  # fmt: skip
    print(difference)
    print(f"complete index answers {len(asked)} dev queries (default alpha) as the one-phase one: {same}")


if __name__ == "__main__":
    main()
