from pathlib import Path

import pytest
from conftest import FAKE_MODEL
from office_files import write_bold_articles_docx, write_pdf

from hybridsearch import HybridIndex
from hybridsearch.config import ChunkConfig, IndexConfig
from hybridsearch.locations import article_heading

#: A 規程 written as they are: chapters and articles as plain lines, captions above or beside them.
RULES = [
    "就業規則",
    "第1章 総則",
    "（目的）",
    "第1条 この規程は、社員の就業に関する事項を定める。",
    "第2条（適用範囲）この規程は、すべての社員に適用する。",
    "第3章 休暇",
    "第20条 年次有給休暇",
    "入社6か月後に10日の年次有給休暇を付与する。",
    "第21条（慶弔休暇）社員が結婚したときは、慶弔休暇を5日与える。",
]


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("第3章 休暇", (1, "第3章 休暇")),
        ("第2節 手続き", (2, "第2節 手続き")),
        ("第21条（慶弔休暇）社員が結婚したときは…", (3, "第21条（慶弔休暇）")),
        ("第１条 この規程は、社員の就業に関する事項を定める。", (3, "第１条")),
        ("第十二条の2 特別休暇", (3, "第十二条の2 特別休暇")),
        ("会社の第1章とは関係のない文", None),
    ],
)
def test_article_lines(line: str, heading: tuple[int, str] | None) -> None:
    assert article_heading(line) == heading


@pytest.mark.parametrize("suffix", [".txt", ".md", ".docx"])
def test_a_regulation_without_heading_styles_gets_article_locations(tmp_path: Path, suffix: str) -> None:
    (tmp_path / "docs").mkdir()
    path = tmp_path / "docs" / f"就業規則{suffix}"
    if suffix == ".docx":
        write_bold_articles_docx(path, RULES)
    else:
        path.write_text("\n".join(RULES) + "\n", encoding="utf-8")
    small = IndexConfig(chunk=ChunkConfig(size=40, overlap=0))  # about an article a chunk
    with HybridIndex.build(tmp_path / "docs", tmp_path / "idx", config=small, model=FAKE_MODEL) as index:
        wedding = index.search("結婚したときの慶弔休暇", k=1, alpha=0)[0]
        purpose = index.search("就業に関する事項", k=1, alpha=0)[0]
    assert wedding.location["label"] == "第3章 休暇 > 第21条（慶弔休暇）"
    assert purpose.location["label"] == "第1章 総則 > 第1条（目的）"


def test_a_pdf_of_a_regulation_names_the_article_and_the_page(tmp_path: Path) -> None:
    """A 規程 exported to PDF: 第N章/第N条 lines give the heading path beside the page."""
    lines = ["就業規則", "第3章 休暇", "第20条（年次有給休暇）社員は入社6か月後に10日の年次有給休暇を取得できる。",
             "第21条（慶弔休暇）社員が結婚したときは、連続5日の慶弔休暇を取得できる。"]  # fmt: skip
    (tmp_path / "docs").mkdir()
    write_pdf(tmp_path / "docs" / "就業規則.pdf", [lines[:3], lines[3:]])
    with HybridIndex.build(tmp_path / "docs", tmp_path / "idx", model=FAKE_MODEL) as index:
        hit = index.search("結婚したら慶弔休暇は何日", k=1, alpha=0)[0]
    assert hit.location["page"] == 2 and hit.location["heading"] == ["第3章 休暇", "第21条（慶弔休暇）"]
    assert hit.location["label"] == "p. 2, 第3章 休暇 > 第21条（慶弔休暇）"
