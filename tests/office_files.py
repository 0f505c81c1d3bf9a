"""Files written here, at test time, from text we choose: a 規程 of numbered articles (sentences long
enough to wrap across lines and pages) as a PDF. No file is copied from elsewhere."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

#: (subject, action) pairs of the generated 規程; each article is one sentence built from them
_SUBJECTS = [
    "年次有給休暇", "出張旅費", "在宅勤務", "育児休業", "健康診断", "通勤手当",
    "情報セキュリティ", "備品の貸与", "時間外労働", "慶弔休暇", "社内研修", "個人情報の取扱い",
]  # fmt: skip
_ACTIONS = [
    "所属長の承認を得たうえで人事部に申請しなければならない",
    "定められた様式により事前に届け出るものとする",
    "会社が別に定める基準に従って支給する",
    "社員の申出により取得させることができる",
    "毎年一回以上実施し、その結果を本人に通知する",
    "業務上必要な範囲に限り認めるものとする",
]


def regulation_sentences(count: int, seed: int = 7) -> list[str]:
    """`count` distinct sentences of a generated 規程 (第N条 …。), each 60–110 characters."""
    rng = random.Random(seed)
    sentences = []
    for number in range(1, count + 1):
        subject, action = rng.choice(_SUBJECTS), rng.choice(_ACTIONS)
        detail = rng.choice(["社員", "契約社員", "派遣社員", "役員"]) + f"の第{number}号様式に関する手続きについて"
        sentences.append(f"第{number}条　{subject}について、{detail}は、{action}。")
    return sentences


def write_pdf(
    path: Path,
    pages: Sequence[Sequence[str]],
    *,
    header: str = "",
    footer: bool = False,
    embed_font: str | None = None,
    line_chars: int = 34,
    title: str = "",
    author: str = "",
) -> Path:
    """A PDF whose page i holds the paragraphs `pages[i]`, each wrapped every `line_chars`
    characters (mid-sentence, as a typeset page does), with a running `header` and a page-number
    footer (「- n -」) if asked. The font is reportlab's Japanese CID font (HeiseiKakuGo-W5, not
    embedded), or the TrueType file `embed_font` embedded as a subset, as office exports do."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if embed_font:
        font = Path(embed_font).stem
        pdfmetrics.registerFont(TTFont(font, embed_font))
    else:
        font = "HeiseiKakuGo-W5"
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    page = canvas.Canvas(str(path), pagesize=A4, invariant=True)
    page.setTitle(title)
    page.setAuthor(author)
    width, height = A4
    for number, paragraphs in enumerate(pages, start=1):
        y = height - 60
        if header:
            page.setFont(font, 9)
            page.drawString(60, height - 40, header)
        page.setFont(font, 12)
        for paragraph in paragraphs:
            for start in range(0, len(paragraph), line_chars):
                page.drawString(60, y, paragraph[start : start + line_chars])
                y -= 18
            y -= 8
        if footer:
            page.setFont(font, 9)
            page.drawCentredString(width / 2, 30, f"- {number} -")
        page.showPage()
    page.save()
    return path
