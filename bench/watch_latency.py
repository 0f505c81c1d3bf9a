"""From a saved edit to search results: `hsearch watch` on a 200-document folder, 50 small edits.

    .venv/bin/python bench/watch_latency.py ../shared/bench/jsquad/dev/corpus.jsonl [--edits 50] [--poll SECONDS]

Writes 200 Markdown files (title + passage) from a BEIR corpus into a temporary folder, builds the
index with the real default model (`hsearch index`), starts `hsearch watch` on it in its own process,
then edits one file at a time: a sentence of another passage (one not in the folder) is appended and
the file saved as editors do (a temp file renamed over it). From the save, another process (this
one, with its own `HybridIndex`) refreshes every 10 ms and, at each new generation, runs two
searches for that sentence, filtered to the edited file: BM25 only (alpha 0), to see the file's BM25
score change (its new words are searchable), and dense only (alpha 1), to see its dense score change
(its new vector is in); a latency ends when that search has answered. The next edit waits for both.
Prints p50/p95/max of both latencies and of the watcher's own update times (its log lines).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from folders import write_markdown_folder

from hybridsearch import HybridIndex

HSEARCH = str(Path(sys.executable).with_name("hsearch"))
TIMEOUT = 60.0


def score(index: HybridIndex, query: str, path: str, alpha: float) -> float | None:
    """The edited file's best BM25 (alpha 0) or dense (alpha 1) score for `query`, on the newest generation."""
    index.refresh()
    hits = index.search(query, k=1, alpha=alpha, where={"path": {"glob": path}}, collapse=False)
    if not hits:
        return None
    return hits[0].bm25 if alpha == 0 else hits[0].dense


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus")
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--poll", type=float, default=None, help="run hsearch watch --poll SECONDS")
    args = parser.parse_args()
    with open(args.corpus, encoding="utf-8") as handle:
        records = [json.loads(line) for _, line in zip(range(args.documents + args.edits), handle)]
    folder_records, extra = records[: args.documents], records[args.documents :]
    with tempfile.TemporaryDirectory() as tmp:
        docs, location = Path(tmp) / "docs", Path(tmp) / "index"
        write_markdown_folder(folder_records, docs, per_folder=50)
        env = {**os.environ, "HSEARCH_EMBEDDING_CACHE": str(Path(tmp) / "embeddings.sqlite")}  # nothing cached
        subprocess.run([HSEARCH, "index", str(docs), "--index", str(location), "-q"], check=True, env=env)
        command = [HSEARCH, "watch", str(docs), "--index", str(location)]
        if args.poll is not None:
            command += ["--poll", str(args.poll)]
        watcher = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        lines: list[str] = []
        assert watcher.stderr is not None
        stderr = watcher.stderr
        threading.Thread(target=lambda: lines.extend(iter(stderr.readline, "")), daemon=True).start()
        try:
            while not any("caught up" in line for line in lines):
                if watcher.poll() is not None:
                    raise SystemExit("hsearch watch stopped: " + "".join(lines))
                time.sleep(0.05)
            words, vectors = run_edits(location, docs, extra, args.edits)
        finally:
            watcher.send_signal(signal.SIGINT)
            watcher.wait(timeout=60)
        updates = [float(m.group(1)) for line in lines if (m := re.search(r"removed \((\d+\.\d) s\)$", line))][1:]
    how = f"--poll {args.poll:g}" if args.poll else "file-system events"
    print(f"{args.edits} edits of a {args.documents}-file folder, hsearch watch ({how}), default model, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print("| from the save to | p50 s | p95 s | max s |\n|---|---|---|---|")
    for name, values in (("the words searchable (alpha 0)", words), ("the new vector searchable (alpha 1)", vectors),
                         ("(the watcher's own update, its log)", updates)):  # fmt: skip
        if values:
            print(f"| {name} | {statistics.median(values):.2f} | {percentile(values, 0.95):.2f} | {max(values):.2f} |")


def run_edits(location: Path, docs: Path, extra: list[dict[str, str]], edits: int) -> tuple[list[float], list[float]]:
    words: list[float] = []
    vectors: list[float] = []
    files = sorted(docs.rglob("*.md"))
    with HybridIndex.open(location) as index:
        index.search("warm up", alpha=1)  # the query model is loaded before the first edit
        for n in range(edits):
            file = files[(n * 7) % len(files)]  # spread over the folders
            path = file.relative_to(docs).as_posix()
            sentence = extra[n]["text"].split("。")[0] + "。"
            before = (score(index, sentence, f"**/{path}", 0), score(index, sentence, f"**/{path}", 1))
            temporary = file.with_name(file.name + ".tmp")
            temporary.write_text(file.read_text(encoding="utf-8") + sentence + "\n", encoding="utf-8")
            os.replace(temporary, file)
            saved = time.perf_counter()
            seen: dict[int, float] = {}
            checked = index.version
            while len(seen) < 2:
                index.refresh()
                if index.version != checked:  # a new generation: has it the new words, the new vector?
                    checked = index.version
                    for alpha in (0, 1):
                        if alpha not in seen and score(index, sentence, f"**/{path}", alpha) != before[alpha]:
                            seen[alpha] = time.perf_counter() - saved
                if time.perf_counter() - saved > TIMEOUT:
                    raise SystemExit(f"edit {n} of {path} not searchable within {TIMEOUT:g} s")
                time.sleep(0.01)
            words.append(seen[0])
            vectors.append(seen[1])
    return words, vectors


if __name__ == "__main__":
    main()
