"""Hostile files that are small on disk: reading each one through `iter_documents` in a process of its own.

    .venv/bin/python bench/hostile_files.py                          # every kind, up to 600 s each
    .venv/bin/python bench/hostile_files.py --only vmerge-1mb --timeout 300
    .venv/bin/python bench/hostile_files.py --src /tmp/hs-before     # the loaders of another checkout

Each file is written by tests/office_files.py (this checkout's) into a temporary folder, then read
by a child `python -c` that imports hybridsearch from `--src` (PYTHONPATH) and loads that one file.
Per file: its size, the child's wall time (start and import included) and the load alone, the
child's peak resident memory (ru_maxrss from wait4, nothing subtracted; the baseline row is a child
that loads a tiny .docx), the documents and characters read and the first warning. A child still
running after `--timeout` seconds is killed; its row says so, with the peak it had reached.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from office_files import (  # noqa: E402
    write_docx,
    write_inflating_docx,
    write_inflating_xlsx,
    write_repeated_page_pdf,
    write_repeated_slide_pptx,
    write_vmerge_docx,
)

#: kind → (file name, what it is, its writer)
KINDS: dict[str, tuple[str, str, Callable[[Path], Path]]] = {
    "baseline": (
        "tiny.docx", "a tiny .docx (the baseline)",
        lambda path: write_docx(path, [(1, "火星", ["火星は赤い惑星と呼ばれる。"])]),
    ),
    "vmerge-67k": (
        "vmerge-67k.docx", ".docx table 2,000 × 5, vertical merges of 300 rows",
        lambda path: write_vmerge_docx(path, 2_000, 5, 300),
    ),
    "vmerge-1mb": (
        "vmerge-1mb.docx", ".docx table 30,000 × 5, vertical merges of 300 rows",
        lambda path: write_vmerge_docx(path, 30_000, 5, 300),
    ),
    "inflating-docx": (
        "inflating.docx", ".docx whose document.xml inflates to 100 MB",
        lambda path: write_inflating_docx(path, 100),
    ),
    "inflating-xlsx": (
        "inflating.xlsx", ".xlsx whose sharedStrings.xml inflates to 100 MB",
        lambda path: write_inflating_xlsx(path, 100),
    ),
    "repeated-pages": (
        "repeated.pdf", "PDF listing one page 100,000 times",
        lambda path: write_repeated_page_pdf(path, 100_000),
    ),
    "repeated-slides": (
        "repeated.pptx", ".pptx listing one slide 30,000 times",
        lambda path: write_repeated_slide_pptx(path, 30_000),
    ),
}  # fmt: skip

CHILD = """
import json, sys, time
import hybridsearch
from hybridsearch.loaders.files import iter_documents
warnings = []
started = time.perf_counter()
documents = list(iter_documents([sys.argv[1]], warn=warnings.append))
print(json.dumps({"load_s": time.perf_counter() - started, "documents": len(documents),
                  "characters": sum(len(document.text) for document in documents), "warnings": warnings,
                  "module": hybridsearch.__file__}))
"""


@dataclass(frozen=True)
class Reading:
    """What one child did with one file."""

    wall_s: float
    peak_mb: float
    killed: bool
    exit_code: int
    output: dict[str, Any]
    error: str


def read_in_child(file: Path, python: str, src: Path, timeout: float) -> Reading:
    """Load `file` in a child running `python` with `src` first on its path; kill it past `timeout` seconds."""
    env = os.environ | {"PYTHONPATH": str(src)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        # cwd: the file's folder, so `python -c` does not import hybridsearch from the folder it was started in
        child = subprocess.Popen([python, "-c", CHILD, str(file)], stdout=out, stderr=err, env=env, cwd=file.parent)
        killed = False
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                child.kill()
                killed = True
                _, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = out.read().decode(errors="replace").strip().splitlines()
        error = err.read().decode(errors="replace").strip().splitlines()
    output = json.loads(lines[-1]) if child.returncode == 0 and lines else {}
    return Reading(wall, usage.ru_maxrss / 1024, killed, child.returncode, output, error[-1] if error else "")


def row(kind: str, file: Path, reading: Reading, timeout: float) -> str:
    """One Markdown table row."""
    _, what, _ = KINDS[kind]
    size = file.stat().st_size
    on_disk = f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 2**10:,.0f} KB"
    peak = f"{reading.peak_mb:,.0f} MB"
    if reading.killed:
        return f"| {what} | {on_disk} | > {timeout:.0f} s, killed | – | {peak} when killed | – | – | – |"
    if reading.exit_code != 0:
        failure = f"exit {reading.exit_code}: {reading.error}"[:100]
        return f"| {what} | {on_disk} | {reading.wall_s:.1f} s | – | {peak} | – | – | {failure} |"
    output = reading.output
    warnings = [warning.replace(f"{file.parent}/", "") for warning in output["warnings"]]
    warning = warnings[0][:100].replace("|", "\\|") if warnings else ""
    return (
        f"| {what} | {on_disk} | {reading.wall_s:.1f} s | {output['load_s']:.1f} s | {peak} | {output['documents']} "
        f"| {output['characters']:,} | {warning} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated kinds (the baseline always runs): {', '.join(KINDS)}")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per file before its child is killed")
    parser.add_argument("--python", default=sys.executable, help="the Python that reads the files")
    parser.add_argument("--src", type=Path, default=ROOT, help="the checkout whose hybridsearch reads them")
    args = parser.parse_args()
    kinds = list(KINDS) if not args.only else ["baseline", *args.only.split(",")]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kind {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    print("| file | on disk | wall | load | peak RSS | documents | characters | first warning |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in dict.fromkeys(kinds):
            name, _, write = KINDS[kind]
            file = write(Path(tmp) / name)
            print(f"{kind}: reading {file.stat().st_size:,} bytes …", file=sys.stderr, flush=True)
            reading = read_in_child(file, args.python, args.src.resolve(), args.timeout)
            module = reading.output.get("module", "")
            if kind == "baseline" and not Path(module).is_relative_to(args.src.resolve()):
                sys.exit(f"the child imported hybridsearch from {module or '(nowhere)'}, not from --src {args.src}")
            print(row(kind, file, reading, args.timeout))
            sys.stdout.flush()
            file.unlink()


if __name__ == "__main__":
    main()
