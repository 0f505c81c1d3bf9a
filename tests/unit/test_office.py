"""Word, Excel and PowerPoint files written here: text in reading order, locations, metadata, updates."""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL
from office_files import regulation_sentences, write_docx, write_pdf, write_pptx, write_xlsx

from hybridsearch.cli import cli
from hybridsearch.loaders import iter_documents

_FILLER = regulation_sentences(40, seed=3)
#: sections of a manual, each longer than a chunk, so that each chunk lies under one heading
MANUAL = [
    (1, "第3章 手続き", ["本章では経費精算の手続きを定める。", *_FILLER[0:8]]),
    (2, "3.1 対象", [*_FILLER[8:12], "出張に伴う交通費と宿泊費を対象とする。", *_FILLER[12:16]]),
    (2, "3.2 申請手続き", [*_FILLER[16:20], "提出期限は出張終了後十日以内とする。", *_FILLER[20:24]]),
    (1, "第4章 雑則", [*_FILLER[24:28], "この規程は二〇二六年四月一日から施行する。", *_FILLER[28:32]]),
]
SALES = {
    "売上": [["月", "地域", "金額"], ["4月", "東京", 1200000], ["5月", "大阪", 980000.0], ["6月", "名古屋", 1500000]],
    "経費": [["費目", "金額"], ["交通費", 45000], ["会議費", 12000], ["研修費", 230000]],
}
DECK = [
    ("事業計画2026", ["新製品を三つ投入する", "海外展開を加速する"], "冒頭で昨年度の振り返りを話す。"),
    ("予算", ["研究開発費は前年比二割増", "広告費は据え置き"], ""),
    ("体制", ["新しい品質保証室を設置する"], "質疑では採用計画について聞かれる想定。"),
]


@pytest.fixture
def office_folder(tmp_path: Path) -> Path:
    """A folder as a user has one: a 30-page PDF, a Word file with headings, a two-sheet workbook, a deck."""
    folder = tmp_path / "share"
    folder.mkdir()
    sentences = regulation_sentences(300)
    write_pdf(folder / "rules.pdf", [sentences[i * 10 : (i + 1) * 10] for i in range(30)], header="社内規程集")
    table = [["費目", "上限"], ["宿泊費", "一泊一万二千円"]]
    write_docx(folder / "manual.docx", MANUAL, title="経費精算マニュアル", author="経理部", table=table)
    write_xlsx(folder / "sales.xlsx", SALES, title="売上と経費", author="経理部")
    write_pptx(folder / "plan.pptx", DECK)
    return folder


def test_word_reads_headings_tables_and_core_properties(office_folder: Path) -> None:
    (document,) = iter_documents([office_folder / "manual.docx"])
    assert document.title == "経費精算マニュアル" and document.metadata["author"] == "経理部"
    assert "宿泊費 | 一泊一万二千円" in document.text.splitlines()
    assert document.metadata["created"][:4].isdigit()
    places = {region.place["heading"][-1] for region in document.regions if region.place["heading"]}
    styled = {"第3章 手続き", "3.1 対象", "3.2 申請手続き", "第4章 雑則"}
    assert styled < places  # the headings styled as such, and the 第N条 paragraphs under them
    assert all(re.fullmatch(r"第\d+条", place) for place in places - styled)


def test_workbook_rows_become_lines_with_cells(office_folder: Path) -> None:
    (document,) = iter_documents([office_folder / "sales.xlsx"])
    lines = document.text.splitlines()
    assert lines[:3] == ["売上", "月 | 地域 | 金額", "4月 | 東京 | 1200000"]
    assert "5月 | 大阪 | 980000" in lines  # a whole float is shown without ".0"
    assert document.metadata["sheets"] == 2 and document.title == "売上と経費"
    sheet_starts = [region for region in document.regions if region.hard]
    assert [region.place["sheet"] for region in sheet_starts] == ["売上", "経費"]


def test_slides_read_title_first_and_mark_notes(office_folder: Path) -> None:
    (document,) = iter_documents([office_folder / "plan.pptx"])
    assert document.text.startswith(
        "事業計画2026\n新製品を三つ投入する\n海外展開を加速する\n冒頭で昨年度の振り返りを話す。"
    )
    assert document.title == "事業計画2026"  # no title property: the first slide's title
    places = [(region.place["slide"], region.place["notes"], region.hard) for region in document.regions]
    assert places == [(1, False, True), (1, True, False), (2, False, True), (3, False, True), (3, True, False)]


def _query(index_dir: Path, text: str) -> dict:
    result = CliRunner().invoke(cli, ["query", text, "--index", str(index_dir), "-k", "1", "--json", "--alpha", "0"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hits"][0]


def test_a_sentence_from_each_file_is_found_first_with_its_location(office_folder: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "idx"
    runner = CliRunner()
    built = runner.invoke(cli, ["index", str(office_folder), "--index", str(index_dir), "--model", FAKE_MODEL])
    assert built.exit_code == 0, built.output
    page = _query(index_dir, regulation_sentences(300)[123])
    assert page["path"].endswith("rules.pdf") and page["location"]["page"] <= 13 <= page["location"].get("page_end", 13)
    word = _query(index_dir, "提出期限は出張終了後十日以内")
    assert word["path"].endswith("manual.docx")
    assert word["location"]["label"].startswith("第3章 手続き > 3.2 申請手続き > 第")  # under the article before it
    sheet = _query(index_dir, "研修費")
    assert sheet["path"].endswith("sales.xlsx")
    assert (sheet["location"]["sheet"], sheet["location"]["label"]) == ("経費", "経費!A1:B4")
    slide = _query(index_dir, "採用計画")
    assert slide["path"].endswith("plan.pptx") and slide["location"]["label"] == "slide 3, notes"
    shown = runner.invoke(cli, ["query", "研究開発費", "--index", str(index_dir), "-k", "1"])
    assert "plan.pptx  (slide 2)" in shown.stdout

    amended = (2, "4.1 改定", [*_FILLER[32:36], "改定は経理部長が承認する。", *_FILLER[36:40]])
    write_docx(office_folder / "manual.docx", [*MANUAL, amended], title="経費精算マニュアル")
    again = runner.invoke(cli, ["index", str(office_folder), "--index", str(index_dir), "-q"])
    assert "0 added, 1 changed, 0 removed, 3 unchanged file(s)" in again.stderr
    assert _query(index_dir, "改定は経理部長が承認")["location"]["label"].startswith("第4章 雑則 > 4.1 改定 > 第")
    removed = runner.invoke(cli, ["remove", str(office_folder / "sales.xlsx"), "--index", str(index_dir)])
    assert removed.exit_code == 0 and "1 removed" in removed.stderr
    assert not _query(index_dir, "研修費")["path"].endswith("sales.xlsx")


def test_word_text_includes_links_insertions_and_content_controls_but_not_deletions(tmp_path: Path) -> None:
    import zipfile

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    body = (
        f"<w:document {w}><w:body><w:p><w:r><w:t>申請は</w:t></w:r>"
        "<w:hyperlink><w:r><w:t>総務部の窓口</w:t></w:r></w:hyperlink>"
        "<w:ins><w:r><w:t>または電子申請</w:t></w:r></w:ins><w:del><w:r><w:delText>郵送</w:delText></w:r></w:del>"
        "<w:sdt><w:sdtContent><w:r><w:t>で受け付ける</w:t></w:r></w:sdtContent></w:sdt>"
        "<w:r><w:tab/><w:t>。</w:t><w:br/><w:t>次行</w:t></w:r></w:p></w:body></w:document>"
    )
    path = tmp_path / "form.docx"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("word/document.xml", body)
    (document,) = iter_documents([path])
    assert document.text == "申請は総務部の窓口または電子申請で受け付ける\t。\n次行"
