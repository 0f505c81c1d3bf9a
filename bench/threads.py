"""One HybridIndex searched by 1, 2, 4 and 8 threads while another process updates the index 20 times:
queries/s, latency, errors, and whether every hit list came from one complete generation.

    .venv/bin/python bench/threads.py [--searches 500]

The folder: the jsquad dev passages as Markdown files (in a temporary folder, never in the repo) and
ten "marker" files that every update rewrites with a new version number. Searches mix alpha 0, 0.6
and 1 over real dev questions; every tenth is a marker query (BM25 only), whose hit list must hold
all ten markers of one version: a mix of versions would be a list from two generations. Each thread
calls `refresh()` after every 25 searches. The updater is a second process running `write_index`
with one loaded encoder, its 20 updates spread over each phase (from the previous phase's rate).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hybridsearch import HybridIndex, SearchRequest

ROOT = Path(__file__).resolve().parent.parent
JSQUAD = ROOT.parent / "shared" / "bench" / "jsquad" / "dev"
MARKERS = 10
MARKER_QUERY = "観測所の更新番号と定期報告"


def write_markers(docs: Path, version: int) -> None:
    for i in range(MARKERS):
        (docs / f"marker-{i}.md").write_text(
            f"# 観測所の報告{i}\n\n観測所の定期報告、更新番号{version}の記録{i}。天候は晴れ。", encoding="utf-8"
        )


def update(docs: Path, index_dir: Path, updates: int, pause: float, first: int) -> None:
    """The second process: one encoder, then `updates` rewrites of the markers, each indexed."""
    from hybridsearch.encoders import load_encoder
    from hybridsearch.writer import write_index

    encoder = load_encoder()
    print("ready", flush=True)
    sys.stdin.readline()
    for version in range(first, first + updates):
        time.sleep(pause)
        write_markers(docs, version)
        write_index(index_dir, [docs], encoder=encoder)


def make_folder(docs: Path) -> list[str]:
    """The passages as files, the markers at version 0; returns the dev questions."""
    docs.mkdir(parents=True)
    with open(JSQUAD / "corpus.jsonl", encoding="utf-8") as handle:
        for number, record in enumerate(map(json.loads, handle)):
            (docs / f"p{number:05d}.md").write_text(f"# {record['title']}\n\n{record['text']}\n", encoding="utf-8")
    write_markers(docs, 0)
    with open(JSQUAD / "queries.jsonl", encoding="utf-8") as handle:
        return [record["text"] for record in map(json.loads, handle)]


def phase(index: HybridIndex, questions: list[str], threads: int, searches: int) -> dict[str, object]:
    latencies: list[float] = []
    errors: list[str] = []
    mixed: list[set[str]] = []
    generations: set[str] = set()
    lock = threading.Lock()

    def work(offset: int) -> None:
        for i in range(searches):
            marker = i % 10 == 0
            text = MARKER_QUERY if marker else questions[(offset * searches + i) % len(questions)]
            alpha = 0.0 if marker else (0.0, 0.6, 1.0)[i % 3]
            started = time.perf_counter()
            try:
                with index.searcher() as searcher:
                    hits = searcher.respond(SearchRequest(query=text, k=10, alpha=alpha)).hits
                    version = searcher.backend.version
            except Exception as error:  # noqa: BLE001 - counted and shown
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")
                continue
            elapsed = (time.perf_counter() - started) * 1000
            versions = {m.group(1) for h in hits if (m := re.search(r"更新番号(\d+)の", h.text))}
            with lock:
                latencies.append(elapsed)
                generations.add(version)
                if marker and (len(versions) != 1 or sum("更新番号" in h.text for h in hits) != MARKERS):
                    mixed.append(versions)
            if i % 25 == 24:
                index.refresh()

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "threads": threads,
        "searches": len(latencies) + len(errors),
        "seconds": seconds,
        "qps": (len(latencies) + len(errors)) / seconds,
        "p50_ms": statistics.median(latencies),
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
        "errors": errors,
        "mixed_lists": len(mixed),
        "generations": len(generations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=500, help="searches per thread in each phase")
    parser.add_argument("--updates", type=int, default=20, help="updates during each phase")
    parser.add_argument("--updater", nargs=4, help=argparse.SUPPRESS)  # DOCS INDEX PAUSE FIRST: the second process
    args = parser.parse_args()
    if args.updater:
        docs, index_dir, pause, first = args.updater
        update(Path(docs), Path(index_dir), args.updates, float(pause), int(first))
        return
    with tempfile.TemporaryDirectory() as tmp:
        docs, index_dir = Path(tmp) / "docs", Path(tmp) / "idx"
        questions = make_folder(docs)
        print(f"indexing {len(list(docs.iterdir()))} files …", file=sys.stderr)
        index = HybridIndex.build(docs, index_dir)
        index.search("準備", k=10)  # the query engine is loaded once, outside the phases
        rate, version, rows = 0.0, 1, []
        for threads in (1, 2, 4, 8):
            expected = args.searches * threads / rate if rate else 60.0
            pause = max(0.0, expected / args.updates - 1.5)  # an update itself takes about 1.5 s here
            command = [sys.executable, __file__, "--updates", str(args.updates), "--updater", str(docs),
                       str(index_dir), str(pause), str(version)]  # fmt: skip
            updater = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert updater.stdin is not None and updater.stdout is not None
            assert updater.stdout.readline().strip() == "ready"
            updater.stdin.write("go\n")
            updater.stdin.flush()
            row = phase(index, questions, threads, args.searches)
            row["updates_during"] = "all" if updater.poll() is not None else "some"
            updater.wait()
            updater.stdin.close()
            updater.stdout.close()
            version += args.updates
            index.refresh()
            rate = float(row["qps"])  # type: ignore[arg-type]
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "errors"}), file=sys.stderr)
        index.close()
    print("| threads | searches | queries/s | p50 / p95 ms | errors | lists from two generations | generations seen |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['threads']} | {row['searches']} | {row['qps']:.1f} | {row['p50_ms']:.1f} / {row['p95_ms']:.1f} "
            f"| {len(row['errors'])} | {row['mixed_lists']} | {row['generations']} |"  # type: ignore[arg-type]
        )
    for row in rows:
        for error in row["errors"][:3]:  # type: ignore[index]
            print(f"error ({row['threads']} threads): {error}", file=sys.stderr)


if __name__ == "__main__":
    main()
