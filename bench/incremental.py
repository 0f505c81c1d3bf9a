"""Incremental re-indexing on a 1,000-document folder: first run, unchanged re-run, one file edited.

    .venv/bin/python bench/incremental.py ../shared/bench/jsquad/dev/corpus.jsonl

Writes 1,000 Markdown files (title + passage) from a BEIR corpus into a temporary folder (the
passages are not kept), then times `hsearch index` three times in new processes, with the real model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from folders import write_markdown_folder

HSEARCH = str(Path(sys.executable).with_name("hsearch"))


def run(docs: Path, index_dir: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [HSEARCH, "index", str(docs), "--index", str(index_dir), "-q"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return time.perf_counter() - started, result.stderr.strip().splitlines()[-1].split(": ", 1)[1]


def main(corpus: str, count: int = 1000) -> None:
    with open(corpus, encoding="utf-8") as handle:
        records = [json.loads(line) for _, line in zip(range(count), handle)]
    with tempfile.TemporaryDirectory() as tmp:
        docs, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        write_markdown_folder(records, docs, per_folder=100)
        first, first_summary = run(docs, index_dir)
        unchanged, unchanged_summary = run(docs, index_dir)
        edited = docs / "05" / "doc0500.md"
        edited.write_text(edited.read_text(encoding="utf-8") + "\n追記した一文。\n", encoding="utf-8")
        one, one_summary = run(docs, index_dir)
    print("| run | seconds | vs first | summary |\n|---|---|---|---|")
    for name, seconds, summary in (
        (f"first index of {len(records)} files", first, first_summary),
        ("re-run, nothing changed", unchanged, unchanged_summary),
        ("re-run, one file edited", one, one_summary),
    ):
        print(f"| {name} | {seconds:.1f} | {seconds / first:.1%} | {summary} |")


if __name__ == "__main__":
    main(sys.argv[1])
