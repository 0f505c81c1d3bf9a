"""OCR of scanned PDFs (--ocr): character error rate and pages per second through the PDF loader.

    .venv/bin/python bench/ocr_check.py [--pages 20] [--dpi 200] [--skew 0.5] [--noise 20]

Needs Tesseract with its Japanese data (Debian tesseract-ocr, tesseract-ocr-jpn) and the Noto CJK font
the pages are drawn in (fonts-noto-cjk). `--pages` A4 pages, each five paragraphs of a 文書管理規程 and
its manual (tests/scanned_pdfs.py, a different draw per page), are drawn in 10.5 pt and saved as a
PDF of JPEG page images at `--dpi` (a scanner's resolution), each turned by up to `--skew` degrees
with grey noise of `--noise` (standard deviation, 0–255) added; the file is read with `--ocr` through
`iter_documents`, as `hsearch index --ocr` reads it. The character error rate is the edit distance
between each page's text and what was read of that page (its region), over the page's length, both
in NFKC without whitespace (search normalises both forms alike), summed over the pages. Pages per
second count the whole load: opening, rendering, Tesseract and joining lines; CPU seconds per page
(this process and its Tesseract processes) do not depend on what else the machine runs. Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from scanned_pdfs import NEEDS_NOTO_CJK, NOTO_CJK, comparable, edit_distance, scan_pages, write_scan  # noqa: E402

from hybridsearch.config import LoaderConfig  # noqa: E402
from hybridsearch.loaders import LoadReport, iter_documents  # noqa: E402
from hybridsearch.loaders.ocr import unavailable  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20, help="pages in the scanned PDF")
    parser.add_argument("--dpi", type=int, default=200, help="resolution the pages are scanned at")
    parser.add_argument("--skew", type=float, default=0.5, help="largest turn of a page, in degrees")
    parser.add_argument("--noise", type=float, default=20.0, help="grey noise added (standard deviation, 0-255)")
    args = parser.parse_args()
    missing = unavailable()
    if missing:
        sys.exit(f"--ocr cannot run: {missing}")
    if not NOTO_CJK.is_file():
        sys.exit(NEEDS_NOTO_CJK)
    pages = scan_pages(args.pages)
    with tempfile.TemporaryDirectory() as folder:
        scan = write_scan(Path(folder) / "scan.pdf", pages, dpi=args.dpi, skew=args.skew, noise=args.noise)
        size = scan.stat().st_size
        warnings: list[str] = []
        report = LoadReport()
        started, used = time.perf_counter(), _cpu_seconds()
        config = LoaderConfig(ocr=True, max_file_seconds=3600)
        documents = list(iter_documents([scan], config, report=report, warn=warnings.append))
        seconds, used = time.perf_counter() - started, _cpu_seconds() - used
    if not documents:
        sys.exit(f"nothing read: {report.skipped_files}")
    (document,) = documents
    read = {region.place["page"]: region.start for region in document.regions}
    ends = sorted(read.values())[1:] + [len(document.text)]
    texts = {page: document.text[start:end] for (page, start), end in zip(sorted(read.items()), ends)}
    errors = characters = 0
    for number, paragraphs in enumerate(pages, 1):
        reference = comparable("".join(paragraphs))
        errors += edit_distance(reference, comparable(texts.get(number, "")))
        characters += len(reference)
    version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False)
    print(
        json.dumps(
            {
                "pages": args.pages,
                "scan_dpi": args.dpi,
                "skew_degrees": args.skew,
                "noise": args.noise,
                "pdf_mb": round(size / 2**20, 2),
                "pages_read": len(texts),
                "characters": characters,
                "character_error_rate": round(errors / characters, 4),
                "seconds": round(seconds, 2),
                "pages_per_second": round(args.pages / seconds, 2),
                "cpu_seconds_per_page": round(used / args.pages, 2),
                "warnings": warnings,
                "tesseract": (version.stdout or version.stderr).split("\n", 1)[0],
                "cpus": os.cpu_count(),
                "cpu": platform.processor() or platform.machine(),
            },
            ensure_ascii=False,
        )
    )


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (the Tesseract processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
