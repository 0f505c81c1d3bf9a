"""Old Office files (.doc, .xls, .ppt): seconds per file to convert with LibreOffice and read.

    .venv/bin/python bench/legacy_check.py                  # 3 repeats, then 4 conversions at once
    .venv/bin/python bench/legacy_check.py --repeat 5 --parallel 8

The modern files are written by tests/office_files.py (a small and a large one of each kind) and
saved as .doc/.xls/.ppt by LibreOffice once (not timed). Then, per file, the median of `--repeat`
runs of: `convert` alone (a fresh profile in a fresh temporary folder, LibreOffice started and
stopped: what each old file costs) and the whole load through `iter_documents` (conversion plus
the .docx/.xlsx/.pptx loader). Last, `--parallel` conversions started at once from threads (each
with its own profile): the wall time and the seconds per file that gives. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from office_files import regulation_sentences, write_docx, write_pptx, write_xlsx  # noqa: E402

from hybridsearch.config import LoaderConfig  # noqa: E402
from hybridsearch.loaders import iter_documents  # noqa: E402
from hybridsearch.loaders.base import LoadContext  # noqa: E402
from hybridsearch.loaders.legacy import LIBREOFFICE_PACKAGES, convert, find_soffice  # noqa: E402


def write_modern(folder: Path) -> list[Path]:
    """A small and a large .docx, .xlsx and .pptx."""
    sentences = regulation_sentences(2000)
    small_doc = [(1, "第1章 総則", sentences[:10]), (2, "第1条（目的）", sentences[10:20])]
    large_doc = [(1 + i % 2, f"第{i + 1}条", sentences[i * 20 : (i + 1) * 20]) for i in range(100)]
    head = ["月", "地域", "金額", "備考"]
    small_sheet = [head] + [[f"{m}月", "東京", m * 1000, "通常"] for m in range(1, 13)]
    large_sheet = [head] + [[f"{r}", "大阪", r * 7, sentences[r % 2000]] for r in range(2500)]
    small_deck = [("概要", sentences[:3], "話す内容"), ("予算", sentences[3:5], "")]
    large_deck = [(f"スライド{i}", sentences[i * 4 : i * 4 + 4], sentences[i]) for i in range(60)]
    return [
        write_docx(folder / "small.docx", small_doc, title="規程"),
        write_docx(folder / "large.docx", large_doc, title="規程集"),
        write_xlsx(folder / "small.xlsx", {"売上": small_sheet}),
        write_xlsx(folder / "large.xlsx", {f"シート{s}": large_sheet for s in range(4)}),
        write_pptx(folder / "small.pptx", small_deck),
        write_pptx(folder / "large.pptx", large_deck),
    ]


def save_legacy(soffice: str, modern: list[Path], folder: Path) -> list[Path]:
    """`modern` saved as .doc/.xls/.ppt by LibreOffice (one run per kind, one shared profile)."""
    profile = (folder / "profile").as_uri()
    for suffix, target in ((".docx", "doc"), (".xlsx", "xls"), (".pptx", "ppt")):
        sources = [str(path) for path in modern if path.suffix == suffix]
        command = [soffice, f"-env:UserInstallation={profile}", "--headless", "--norestore", "--convert-to", target]
        subprocess.run([*command, "--outdir", str(folder / "old"), *sources], check=True, capture_output=True)
    return sorted((folder / "old").iterdir(), key=lambda path: (path.suffix, path.stat().st_size))


def timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def measure(soffice: str, path: Path, repeat: int) -> dict[str, Any]:
    data = path.read_bytes()
    conversions, loads, chars = [], [], 0
    for _ in range(repeat):
        context = LoadContext(LoaderConfig(), lambda message: None)
        started = time.perf_counter()
        convert(data, path.suffix, context, soffice)
        conversions.append(time.perf_counter() - started)
        seconds, documents = timed(lambda: list(iter_documents([path])))
        loads.append(seconds)
        chars = sum(len(document.text) for document in documents)
    return {
        "file": path.name,
        "bytes": len(data),
        "chars": chars,
        "convert_s": round(statistics.median(conversions), 2),
        "load_s": round(statistics.median(loads), 2),
        "load_s_all": [round(seconds, 2) for seconds in loads],
    }


def parallel(soffice: str, paths: list[Path], workers: int) -> dict[str, Any]:
    """`workers` conversions at once (the files taken in turn), each with its own profile."""
    chosen = [paths[i % len(paths)] for i in range(workers)]

    def one(path: Path) -> None:
        convert(path.read_bytes(), path.suffix, LoadContext(LoaderConfig(), lambda message: None), soffice)

    with ThreadPoolExecutor(workers) as pool:
        seconds, _ = timed(lambda: list(pool.map(one, chosen)))
    return {"conversions": workers, "wall_s": round(seconds, 2), "s_per_file": round(seconds / workers, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per file (the median is shown)")
    parser.add_argument("--parallel", type=int, default=4, help="conversions started at once at the end (0: none)")
    args = parser.parse_args()
    soffice = find_soffice()
    if soffice is None:
        sys.exit(f"LibreOffice (soffice) is not installed: apt install {LIBREOFFICE_PACKAGES}")
    version = subprocess.run([soffice, "--version"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "modern").mkdir()
        old = save_legacy(soffice, write_modern(work / "modern"), work)
        rows = [measure(soffice, path, args.repeat) for path in old]
        at_once = parallel(soffice, old, args.parallel) if args.parallel else None
    report = {"soffice": soffice, "version": version, "cpus": os.cpu_count(), "files": rows, "parallel": at_once}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
