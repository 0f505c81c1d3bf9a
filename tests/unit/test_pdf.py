"""PDF files written here with reportlab: text as a reader sees it, page locations, info fields, bad files."""

from pathlib import Path

import pytest
from conftest import FAKE_MODEL
from office_files import CJK_FONT, NEEDS_CJK_FONT, regulation_sentences, write_pdf

from hybridsearch import HybridIndex
from hybridsearch.loaders import LoadReport, iter_documents
from hybridsearch.loaders.pdf import reading_text


@pytest.mark.skipif(not CJK_FONT, reason=NEEDS_CJK_FONT)
def test_a_30_page_pdf_reads_whole_sentences_without_running_headers(tmp_path: Path) -> None:
    sentences = regulation_sentences(300)
    pages = [sentences[i * 10 : (i + 1) * 10] for i in range(30)]
    write_pdf(
        tmp_path / "rules.pdf", pages, header="社内規程集　2026年版", footer=True, title="社内規程集", author="人事部"
    )
    (document,) = iter_documents([tmp_path / "rules.pdf"])
    assert all(sentence in document.text for sentence in sentences)  # wrapped lines joined, no spaces added
    assert "2026年版" not in document.text and "- 3 -" not in document.text
    assert document.title == "社内規程集"
    assert (document.metadata["author"], document.metadata["pages"]) == ("人事部", 30)
    index = HybridIndex.build([tmp_path], tmp_path / "idx", model=FAKE_MODEL)
    target = sentences[123]  # on page 13
    hit = index.search(target, k=1, alpha=0)[0]
    assert target in hit.text and hit.location["page"] <= 13 <= hit.location.get("page_end", hit.location["page"])


def test_line_joining_keeps_latin_words_apart() -> None:
    text, starts = reading_text([["The rule applies to every", "employee.", "", "短い行"], ["二ページ目。"]])
    assert text == "The rule applies to every employee.\n短い行\n二ページ目。"
    assert starts == [0, text.index("二")]


def test_gaps_between_japanese_and_digits_are_not_spaces() -> None:
    text, _ = reading_text([["第 1 条 Windows 11 の設定は", "別表 A に定める。"]])
    assert text == "第1条Windows 11の設定は別表Aに定める。"


def test_bad_pdfs_are_skipped_with_a_reason(tmp_path: Path) -> None:
    write_pdf(tmp_path / "blank.pdf", [[]], footer=False)
    (tmp_path / "fake.pdf").write_text("これはPDFではない", encoding="utf-8")
    whole = write_pdf(tmp_path / "whole.pdf", [["火星は赤い惑星である。"]]).read_bytes()
    (tmp_path / "truncated.pdf").write_bytes(whole[: len(whole) // 3])
    report = LoadReport()
    assert list(iter_documents([tmp_path], report=report, warn=lambda message: None))[0].path.endswith("whole.pdf")
    reasons = dict((Path(path).name, reason) for path, reason in report.skipped_files)
    assert reasons["blank.pdf"] == (
        "no text found; scanned PDF? OCR is not run (--ocr reads pages without a text layer with Tesseract)"
    )
    assert reasons["fake.pdf"] == "not a PDF (no %PDF- header)"
    assert reasons["truncated.pdf"].startswith(("unreadable PDF", "no text found"))
