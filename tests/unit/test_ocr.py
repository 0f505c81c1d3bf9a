"""OCR of scanned PDFs (--ocr): pages drawn here as images without a text layer (tests/scanned_pdfs.py),
read by Tesseract through the PDF loader and the CLI; a stand-in `tesseract` for time limits and failures."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FAKE_MODEL
from office_files import CJK_FONT, NEEDS_CJK_FONT, write_pdf
from scanned_pdfs import NEEDS_NOTO_CJK, NOTO_CJK, REGULATION, character_error_rate, write_scan

from hybridsearch.cli import cli
from hybridsearch.config import IndexConfig, LoaderConfig
from hybridsearch.loaders import LoadReport, iter_documents, ocr
from hybridsearch.locations import Locator, Region
from hybridsearch.schema import Document

MISSING = ocr.unavailable()
needs_font = pytest.mark.skipif(not NOTO_CJK.is_file(), reason=NEEDS_NOTO_CJK)
needs_tesseract = pytest.mark.skipif(
    bool(MISSING), reason=f"OCR needs the Debian packages tesseract-ocr and tesseract-ocr-jpn: {MISSING}"
)

PAGE_1 = REGULATION[:3]  # 第1条 to 第3条
PAGE_2 = REGULATION[9:12]  # the manual: passwords, the recycle bin, meeting rooms


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def load(path: Path, warnings: list[str], **config: object) -> tuple[list[Document], LoadReport]:
    report = LoadReport()
    documents = list(iter_documents([path], LoaderConfig(**config), report=report, warn=warnings.append))  # type: ignore[arg-type]
    return documents, report


@needs_font
def test_without_ocr_a_scan_is_skipped_with_a_reason_that_names_ocr(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    write_scan(tmp_path / "docs" / "scan.pdf", [PAGE_1])
    (tmp_path / "docs" / "memo.txt").write_text("会議は毎週月曜日に開く。", encoding="utf-8")
    result = run("index", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL)
    assert result.exit_code == 3, result.output  # written, but the scan was skipped
    reason = "no text found; scanned PDF? OCR is not run (--ocr reads pages without a text layer with Tesseract)"
    assert f"warning: skipped {tmp_path / 'docs' / 'scan.pdf'}: {reason}" in result.stderr


@needs_font
@needs_tesseract
def test_ocr_reads_a_scan_that_is_then_found_with_its_page(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    scan = write_scan(tmp_path / "docs" / "scan.pdf", [PAGE_1, PAGE_2])
    warnings: list[str] = []
    (document,), _ = load(scan, warnings, ocr=True)
    assert warnings == []
    pages = [(region.place["page"], region.place["ocr"]) for region in document.regions]
    assert sorted(set(pages)) == [(1, True), (2, True)]  # a region per page, and per 第N条 on it
    assert document.regions[0].place["heading"] == ["第1条(目的)"]  # the articles OCR read are headings
    second = next(region.start for region in document.regions if region.place["page"] == 2)
    assert character_error_rate("".join(PAGE_1), document.text[:second]) <= 0.05
    assert character_error_rate("".join(PAGE_2), document.text[second:]) <= 0.05
    assert "第1条(目的)この規程は" in document.text  # no spaces between Japanese characters

    index = str(tmp_path / "idx")
    result = run("index", str(tmp_path / "docs"), "--index", index, "--model", FAKE_MODEL, "--ocr", "-q")
    assert result.exit_code == 0, result.output
    hit = json.loads(run("query", "会議室の予約", "--index", index, "--json", "-k", "1", "--alpha", "0").stdout)[
        "hits"
    ][0]
    assert "会議室の予約" in hit["text"]
    location = hit["location"]
    assert location["page"] <= 2 <= location.get("page_end", location["page"]) and location["ocr"] is True
    assert location["label"].startswith(("p. 2, OCR", "pp. 1–2, OCR"))
    shown = run("query", "会議室の予約", "--index", index, "-k", "1", "--alpha", "0").stdout
    assert f"({location['label']})" in shown


@needs_tesseract
@pytest.mark.skipif(not (CJK_FONT and NOTO_CJK.is_file()), reason=NEEDS_CJK_FONT)
def test_a_pdf_with_some_scanned_pages_marks_only_those_as_ocr(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    typed = write_pdf(tmp_path / "typed.pdf", [["第10条（休日）会社の休日は土曜日、日曜日および祝日とする。"]])
    scanned = write_scan(tmp_path / "scanned.pdf", [PAGE_2])
    merged = pdfium.PdfDocument(typed)
    other = pdfium.PdfDocument(scanned)
    merged.import_pages(other)
    merged.save(tmp_path / "mixed.pdf")
    other.close()
    merged.close()

    warnings: list[str] = []
    (plain,), _ = load(tmp_path / "mixed.pdf", warnings)
    assert "会議室" not in plain.text and [region.place for region in plain.regions] == [
        {"page": 1, "heading": ["第10条（休日）"]}
    ]
    assert warnings == [
        f"{tmp_path / 'mixed.pdf'}: 1 of 2 pages have no text layer (scanned?); they are not indexed: "
        "OCR is not run (--ocr reads pages without a text layer with Tesseract)"
    ]
    (read,), _ = load(tmp_path / "mixed.pdf", warnings := [], ocr=True)
    assert warnings == [] and "会社の休日は土曜日" in read.text and "会議室の予約" in read.text
    assert [(region.place["page"], region.place.get("ocr")) for region in read.regions] == [(1, None), (2, True)]
    whole = Locator(read.regions)(0, len(read.text))
    assert (whole["page"], whole["page_end"], whole["ocr"]) == (1, 2, True) and whole["label"].startswith(
        "pp. 1–2, OCR"
    )
    assert Locator(read.regions)(0, 5)["label"] == "p. 1, 第10条（休日）"


@needs_font
def test_without_tesseract_or_its_japanese_data_ocr_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = write_scan(tmp_path / "scan.pdf", [PAGE_1])
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract here
    (_, report) = load(scan, [], ocr=True)
    assert report.skipped_files == [
        (
            str(scan),
            "no text found; scanned PDF? --ocr cannot run: the tesseract command is not installed "
            "(apt install tesseract-ocr tesseract-ocr-jpn)",
        )
    ]
    if MISSING:
        return
    monkeypatch.undo()
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))  # Tesseract without its language data
    (_, report) = load(scan, [], ocr=True)
    assert report.skipped_files[0][1] == (
        "no text found; scanned PDF? --ocr cannot run: Tesseract has no Japanese data (jpn.traineddata; "
        "apt install tesseract-ocr tesseract-ocr-jpn)"
    )


#: A stand-in for `tesseract`: it lists jpn, logs each page it is given, and reads a portrait page as
#: spaced-out Japanese, sleeps on a landscape one and fails on a square one.
FAKE_TESSERACT = """#!{python}
import io, sys, time
from PIL import Image
if "--list-langs" in sys.argv:
    print("List of available languages in \\"/fake/\\" (1):\\njpn")
    sys.exit(0)
width, height = Image.open(io.BytesIO(sys.stdin.buffer.read())).size
with open({log!r}, "a") as log:
    log.write(f"{{width}}x{{height}}\\n")
if width > height:
    time.sleep(30)
if width == height:
    print("Error, cannot read input", file=sys.stderr)
    sys.exit(1)
print("第1条 (目的) この 規程 は Windows 11 の 設定 を 定める 。\\f")
"""


@pytest.fixture
def fake_tesseract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "pages.log"
    (folder / "tesseract").write_text(FAKE_TESSERACT.format(python=sys.executable, log=str(log)), encoding="utf-8")
    (folder / "tesseract").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def write_blank_pages(path: Path, sizes: list[tuple[int, int]]) -> Path:
    from PIL import Image

    images = [Image.new("L", size, 255) for size in sizes]
    images[0].save(path, "PDF", resolution=72, save_all=True, append_images=images[1:])
    return path


def test_a_slow_or_failing_page_is_a_warning_and_the_others_are_read_once(
    tmp_path: Path, fake_tesseract: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr, "PAGE_SECONDS", 1.0)
    portrait, landscape, square = (300, 400), (400, 300), (300, 300)
    pdf = write_blank_pages(tmp_path / "scan.pdf", [portrait, landscape, square, portrait])
    warnings: list[str] = []
    (document,), _ = load(pdf, warnings, ocr=True)
    assert document.text == "第1条(目的)この規程はWindows 11の設定を定める。"
    assert [region.place for region in document.regions] == [{"page": 1, "ocr": True, "heading": ["第1条(目的)"]}]
    assert warnings == [
        f"{pdf}: OCR took over 1 s on page 2; not indexed",
        f"{pdf}: OCR could not read page 3 (tesseract exited with 1: Error, cannot read input); not indexed",
        f"{pdf}: 1 pages repeat an earlier page's text; they are read once",
        f"{pdf}: 2 of 4 pages have no text layer and OCR read none; they are not indexed",
    ]
    assert sorted(fake_tesseract.read_text().split()) == sorted(
        ["1250x1667", "1667x1250", "1250x1250"]
    )  # page 4 is page 1


def test_ocr_stops_at_the_files_time_limit(tmp_path: Path, fake_tesseract: Path) -> None:
    pdf = write_blank_pages(tmp_path / "scan.pdf", [(400, 300), (500, 300)])  # landscape: the fake never ends
    (_, report) = load(pdf, [], ocr=True, max_file_seconds=1.0)
    ((_, reason),) = report.skipped_files
    assert reason == "no text found; scanned PDF? OCR of its 2 scanned pages needs more than 1 s (--max-file-seconds)"


def test_a_pdf_whose_ocr_runs_out_of_time_keeps_its_text_pages(tmp_path: Path, fake_tesseract: Path) -> None:
    import pypdfium2 as pdfium

    typed = write_pdf(tmp_path / "typed.pdf", [["第10条（休日）会社の休日は土曜日、日曜日および祝日とする。"]])
    merged = pdfium.PdfDocument(typed)
    blank = pdfium.PdfDocument(write_blank_pages(tmp_path / "scan.pdf", [(400, 300), (500, 300)]))
    merged.import_pages(blank)
    merged.save(tmp_path / "mixed.pdf")
    blank.close()
    merged.close()
    warnings: list[str] = []
    (document,), _ = load(tmp_path / "mixed.pdf", warnings, ocr=True, max_file_seconds=1.0)
    assert "会社の休日は土曜日" in document.text  # the text layer is kept
    assert any("OCR of its 2 scanned pages needs more than 1 s" in warning for warning in warnings), warnings


def test_spaces_next_to_japanese_characters_are_dropped() -> None:
    assert (
        ocr.japanese_spacing("第 1 条 (目的) この 規程 は 、 Windows 11 の 設定")
        == "第1条(目的)この規程は、Windows 11の設定"
    )
    assert ocr.japanese_spacing("The rule  applies") == "The rule  applies"


def test_ocr_is_an_index_setting_off_by_default_and_off_in_older_indexes() -> None:
    assert IndexConfig().loader.ocr is False
    written = IndexConfig().to_dict()
    del written["loader"]["ocr"]
    assert IndexConfig.from_dict(written).loader.ocr is False
    assert IndexConfig().stored_settings()["loader.ocr"] is False  # switching it needs --rebuild
    assert "--ocr / --no-ocr" in CliRunner().invoke(cli, ["index", "--help"], terminal_width=200).output


def test_a_location_says_ocr_only_where_a_page_was_read_by_it() -> None:
    regions = [Region(0, {"page": 1}), Region(10, {"page": 2, "ocr": True})]
    assert Locator(regions)(0, 5) == {"page": 1, "label": "p. 1"}
    assert Locator(regions)(12, 15) == {"page": 2, "ocr": True, "label": "p. 2, OCR"}
