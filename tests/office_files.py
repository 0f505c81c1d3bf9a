"""Files written here, at test time, from text we choose: a 規程 of numbered articles (sentences long
enough to wrap across lines and pages) as a PDF; Word, Excel and PowerPoint files; hostile packages
(a zip bomb, a sheet of a million rows). No file is copied from elsewhere."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

#: pdfium reads text drawn in a Japanese font that is not embedded (reportlab's CID fonts) through a
#: system CJK font; without one it loses glyphs such as a 。 alone on a line.
CJK_FONT = any(Path("/usr/share/fonts").rglob("*CJK*"))
NEEDS_CJK_FONT = "pdfium needs a system Japanese font for non-embedded fonts: install the Debian package fonts-noto-cjk"

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
    password: str = "",
    owner_password: str = "",
) -> Path:
    """A PDF whose page i holds the paragraphs `pages[i]`, each wrapped every `line_chars`
    characters (mid-sentence, as a typeset page does), with a running `header` and a page-number
    footer (「- n -」) if asked. The font is reportlab's Japanese CID font (HeiseiKakuGo-W5, not
    embedded), or the TrueType file `embed_font` embedded as a subset, as office exports do.
    `password` encrypts it (opening it needs the password); `owner_password` only restricts it
    (it opens without one)."""
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
    from reportlab.lib.pdfencrypt import StandardEncryption

    encrypt = StandardEncryption(password, ownerPassword=owner_password or None) if password or owner_password else None
    page = canvas.Canvas(str(path), pagesize=A4, invariant=True, encrypt=encrypt)
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


def write_docx(
    path: Path,
    sections: Sequence[tuple[int, str, Sequence[str]]],
    *,
    title: str = "",
    author: str = "",
    table: Sequence[Sequence[str]] = (),
) -> Path:
    """A Word file of `sections`, each (heading level, heading, paragraphs) styled 「Heading N」,
    then `table` (rows of cells) if given, with core properties `title` and `author`."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.core_properties.author = author
    for level, heading, paragraphs in sections:
        document.add_heading(heading, level=level)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for cells, row in zip(table, grid.rows):
            for text, cell in zip(cells, row.cells):
                cell.text = text
    document.save(str(path))
    return path


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[object]]], *, title: str = "", author: str = "") -> Path:
    """A workbook with one sheet per entry of `sheets` (rows of cell values, from A1)."""
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    workbook.properties.title = title
    workbook.properties.creator = author
    workbook.save(str(path))
    return path


def write_pptx(path: Path, slides: Sequence[tuple[str, Sequence[str], str]], *, title: str = "") -> Path:
    """A deck of `slides`, each (title, bullet lines, speaker notes or "")."""
    import pptx

    deck = pptx.Presentation()
    deck.core_properties.title = title
    for heading, bullets, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = heading
        slide.placeholders[1].text_frame.text = "\n".join(bullets)
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))
    return path


def write_zip_bomb(path: Path, member: str = "word/document.xml", inflated_mb: int = 2048) -> Path:
    """A zip named like an Office file whose `member` inflates to `inflated_mb` MB of zeros (a few MB on disk)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        with package.open(member, "w", force_zip64=True) as handle:
            block = b"\0" * 2**20
            for _ in range(inflated_mb):
                handle.write(block)
    return path


_XML = '<?xml version="1.0" encoding="UTF-8"?>'
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SHEET_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def write_long_sheet(path: Path, rows: int) -> Path:
    """A minimal .xlsx whose one sheet 「ログ」 has `rows` rows (n, 「行nの記録」), written directly in seconds."""
    import zipfile

    parts = {
        "[Content_Types].xml": (
            f'{_XML}<Types xmlns="{_PACKAGE}/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'{_XML}<Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'{_XML}<workbook xmlns="{_SHEET_MAIN}" xmlns:r="{_OFFICE}">'
            '<sheets><sheet name="ログ" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{_XML}<Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_OFFICE}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, text in parts.items():
            package.writestr(name, text)
        with package.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as handle:
            # the dimension, as Excel writes it (without one, openpyxl reads the whole sheet once to find it)
            handle.write(f'{_XML}<worksheet xmlns="{_SHEET_MAIN}"><dimension ref="A1:B{rows}"/><sheetData>'.encode())
            for start in range(1, rows + 1, 10_000):
                cells = (
                    f'<row r="{n}"><c r="A{n}"><v>{n}</v></c><c r="B{n}" t="inlineStr"><is><t>行{n}の記録</t></is></c>'
                    "</row>"
                    for n in range(start, min(start + 10_000, rows + 1))
                )
                handle.write("".join(cells).encode())
            handle.write(b"</sheetData></worksheet>")
    return path
