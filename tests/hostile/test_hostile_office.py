"""Office files and PDFs as users and attackers make them: sheets that start at B3, merged cells,
documents that inflate far past their size, page trees that list one page thousands of times; each
is read in bounded time and memory, or skipped with one warning while the run goes on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL
from office_files import (
    write_inflating_docx,
    write_inflating_xlsx,
    write_repeated_page_pdf,
    write_repeated_slide_pptx,
    write_vmerge_docx,
)

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.config import LoaderConfig
from hybridsearch.loaders import iter_documents
from hybridsearch.loaders.pdf import MAX_PAGES

FEE = "粗大ごみの収集手数料は一点につき四百円である。"


def _read(path: Path, config: LoaderConfig | None = None) -> tuple[list, list[str]]:
    warnings: list[str] = []
    return list(iter_documents([path], config, warn=warnings.append)), warnings


def test_a_sheet_whose_only_value_is_in_b3_is_read(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active["B3"] = FEE
    workbook.save(tmp_path / "b3.xlsx")
    (document,), warnings = _read(tmp_path / "b3.xlsx")
    assert warnings == [] and document.text.splitlines() == ["Sheet", FEE]
    assert document.regions[-1].place == {"sheet": "Sheet", "cells": "B3"}


def test_empty_cells_before_between_and_after_values_merged_cells_and_an_empty_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "料金表"
    sheet["B2"] = "品目と手数料"
    sheet.merge_cells("B2:D2")
    sheet["C4"], sheet["E4"] = "冷蔵庫", "二千円"  # empty before, between and after
    sheet["D6"] = "自転車"
    sheet.merge_cells("D6:D8")
    sheet["F20"] = "以上"
    workbook.create_sheet("空のシート")
    workbook.create_sheet("備考")["C3"] = FEE
    workbook.save(tmp_path / "fees.xlsx")
    (document,), warnings = _read(tmp_path / "fees.xlsx")
    assert warnings == []
    assert document.text.splitlines() == ["料金表", "品目と手数料", "冷蔵庫 | 二千円", "自転車", "以上", "備考", FEE]
    cells = [region.place["cells"] for region in document.regions if not region.hard]
    assert cells == ["B2", "C4:E4", "D6", "F20", "C3"]


def test_cells_that_continue_a_vertical_merge_are_read_from_the_xml_within_the_time_limit(tmp_path: Path) -> None:
    """2,000 rows × 5 columns continuing merges 300 rows long (67 KB): python-docx's row.cells walks up
    every chain with an XPath query per cell (195 s); the time limit here is 10 s."""
    folder = tmp_path / "share"
    folder.mkdir()
    write_vmerge_docx(folder / "ledger.docx", 2000, 5, 300)
    index_dir = tmp_path / "idx"
    args = ["index", str(folder), "--index", str(index_dir), "--model", FAKE_MODEL, "--max-file-seconds", "10"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (document,), _ = _read(folder / "ledger.docx")
    rows = document.text.splitlines()[1:]
    assert len(rows) == 2000 and rows[0] == rows[299] and rows[0] != rows[300]  # a continued cell: its merge's text
    assert rows[1].split(" | ")[1:] == ["区分1-2", "区分1-3", "区分1-4", "区分1-5"]


def test_a_file_over_the_time_limit_is_one_warning_and_the_run_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    write_vmerge_docx(folder / "ledger.docx", 50, 3, 10)
    (folder / "note.txt").write_text(FEE, encoding="utf-8")
    index_dir = tmp_path / "idx"
    args = ["index", str(folder), "--index", str(index_dir), "--model", FAKE_MODEL, "--max-file-seconds", "1e-9"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3 and "Traceback" not in result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        f"warning: skipped {folder / 'ledger.docx'}: took over 1e-09 s to read (the limit per file, "
        "--max-file-seconds); not indexed"
    ]
    assert [hit.path for hit in HybridIndex.open(index_dir).search("粗大ごみ", k=3, alpha=0)] == [
        str(folder / "note.txt")
    ]


def test_text_read_from_one_file_stops_at_the_size_limit(tmp_path: Path) -> None:
    small = LoaderConfig(max_file_mb=1)
    (document,), warnings = _read(write_inflating_docx(tmp_path / "long.docx", 4), small)
    assert len(document.text.encode()) <= 2**20
    assert warnings == [f"{tmp_path / 'long.docx'}: read its first 1 MB of text (the file size limit, --max-file-mb); "
                        "the rest is not indexed"]  # fmt: skip
    (document,), warnings = _read(write_inflating_xlsx(tmp_path / "long.xlsx", 4), small)
    assert len(document.text.encode()) <= 2**20
    (warning,) = warnings
    assert warning.startswith(f"{tmp_path / 'long.xlsx'}: read its first ") and warning.endswith(
        " shared strings (at most 1,000,000 and 1 MB of text); cells holding the others are read as empty"
    )


def _reading_peak_mb(path: Path) -> tuple[int, float]:
    """(documents, peak resident MB) of reading `path` in a child process (VmHWM: the child's own peak)."""
    code = (
        "import sys\n"
        "from hybridsearch.config import LoaderConfig\n"
        "from hybridsearch.loaders import iter_documents\n"
        # a generous time budget: this checks memory, and a loaded machine must not turn it into a timeout
        f"documents = list(iter_documents([{str(path)!r}], LoaderConfig(max_file_seconds=900)))\n"
        "peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
        "print(len(documents), peak.split()[1])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    documents, peak_kb = result.stdout.split()
    return int(documents), int(peak_kb) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
@pytest.mark.parametrize("write", [write_inflating_docx, write_inflating_xlsx], ids=["docx", "xlsx"])
def test_a_package_inflating_to_100_mb_is_read_in_bounded_memory(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / f"big.{write.__name__.rsplit('_', 1)[1]}", 100)
    assert path.stat().st_size < 10 * 2**20  # passes the zip-bomb check: the parts are ordinary text
    documents, peak_mb = _reading_peak_mb(path)
    assert documents == 1 and peak_mb < 300, f"reading {path.name} peaked at {peak_mb:.0f} MB"


def test_a_page_listed_many_times_is_read_once_and_pages_stop_at_the_cap(tmp_path: Path) -> None:
    # pdfium opens 10,000 pages in 20-35 s on two loaded cores: a generous budget, this checks the page cap
    same = write_repeated_page_pdf(tmp_path / "same.pdf", MAX_PAGES + 10)
    (document,), warnings = _read(same, LoaderConfig(max_file_seconds=900))
    assert warnings == [
        f"{tmp_path / 'same.pdf'}: read its first {MAX_PAGES:,} of {MAX_PAGES + 10:,} pages; the rest is not indexed",
        f"{tmp_path / 'same.pdf'}: {MAX_PAGES - 1:,} pages repeat an earlier page's text; they are read once",
    ]
    assert document.text.count("第1条") == 1 and {region.place["page"] for region in document.regions} == {1}


def test_a_slide_listed_many_times_is_read_once(tmp_path: Path) -> None:
    (document,), warnings = _read(write_repeated_slide_pptx(tmp_path / "same.pptx", 30_000))
    assert len(warnings) == 2 and "read its first 5,000 of 30,000 slides" in warnings[0]
    assert "lists the same slide more than once" in warnings[1]
    assert document.text.count("赤い惑星") == 1
    assert [region.place["slide"] for region in document.regions] == [1, 1]  # the slide and its notes
