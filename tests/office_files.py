"""Files written here, at test time, from text we choose: a 規程 of numbered articles (sentences long
enough to wrap across lines and pages) as a PDF; Word, Excel and PowerPoint files; hostile packages
(a zip bomb, a sheet of a million rows, a table of long vertical merges, parts that inflate to 100 MB
of real-looking text, a page or slide listed many times). No file is copied from elsewhere."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
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


_WORD_MAIN = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_WORD_2010 = "http://schemas.microsoft.com/office/word/2010/wordml"
_COMPATIBILITY = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_WORD_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_STAMP = (2026, 1, 1, 0, 0, 0)  # every member's date, so the same arguments write the same bytes

#: the paragraph before write_vmerge_docx's table, and the sentence in its first and last merged cells
VMERGE_INTRO = "次の表は、備品の貸与記録を区分ごとに縦に結合したセルでまとめたものである。"
VMERGE_SENTENCE = "縦に結合されたセルの先頭には、火星探査機の部品番号が記されている。"

_DEPARTMENTS = [
    "総務部", "人事部", "経理部", "営業第一課", "営業第二課", "情報システム部",
    "品質保証部", "購買部", "法務部", "広報室", "研究開発センター", "大阪支店",
]  # fmt: skip
_OUTCOMES = [
    "所属長の承認を得たうえで申請された", "定められた様式により事前に届け出られた",
    "別に定める基準に従って処理された", "本人の申出により受理された", "監査の結果、差異は認められなかった",
    "翌月の会議で報告された", "担当者が確認し、台帳に記録した", "書類の不備により再提出を求められた",
]  # fmt: skip


def _package(path: Path, parts: dict[str, str | Iterable[bytes]]) -> Path:
    """A zip of `parts` in order (a member's text, or its bytes as chunks written as they come), deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, content in parts.items():
            member = zipfile.ZipInfo(name, date_time=_STAMP)
            member.compress_type = zipfile.ZIP_DEFLATED
            if isinstance(content, str):
                package.writestr(member, content)
                continue
            with package.open(member, "w") as handle:
                for chunk in content:
                    handle.write(chunk)
    return path


def _docx_parts(body: Iterable[bytes]) -> dict[str, str | Iterable[bytes]]:
    """The parts of a minimal .docx whose word/document.xml is `body` between <w:body> and </w:body>."""

    def document() -> Iterator[bytes]:
        yield (
            f'{_XML}<w:document xmlns:w="{_WORD_MAIN}" xmlns:w14="{_WORD_2010}" xmlns:mc="{_COMPATIBILITY}" '
            'mc:Ignorable="w14"><w:body>'
        ).encode()
        yield from body
        yield b"<w:sectPr/></w:body></w:document>"

    return {
        "[Content_Types].xml": (
            f'{_XML}<Types xmlns="{_PACKAGE}/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/word/document.xml" ContentType="{_WORD_TYPE}"/></Types>'
        ),
        "_rels/.rels": (
            f'{_XML}<Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_OFFICE}/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": document(),
    }


def _paragraph(text: str, para_id: int) -> str:
    """A Word paragraph of `text` (escaped by the caller; empty: an empty paragraph) with its
    w14:paraId, as Word 2010 and later write one."""
    opening = f'<w:p w14:paraId="{para_id:08X}" w14:textId="77777777"'
    return f"{opening}><w:r><w:t>{text}</w:t></w:r></w:p>" if text else f"{opening}/>"


def write_vmerge_docx(path: Path, rows: int, columns: int, chain: int) -> Path:
    """A .docx of the paragraph `VMERGE_INTRO` and one table of `rows` × `columns` cells merged
    vertically in chains of `chain` rows: each chain's first row starts a merge in every column
    (<w:vMerge w:val="restart"/>, with text: 「区分k-c」, and `VMERGE_SENTENCE` in the first column of
    the first and last chains) and its other rows continue it (<w:vMerge w:val="continue"/>, an empty
    paragraph). Each paragraph has a random w14:paraId, as Word writes, so the table does not
    compress to nothing: 2,000 × 5 in chains of 300 is a 69 KB file, 30,000 × 5 a 1.0 MB one."""
    rng = random.Random(rows * 31 + columns * 7 + chain)
    width = 9000 // columns
    chains = -(-rows // chain)

    def table() -> Iterator[bytes]:
        grid = f'<w:gridCol w:w="{width}"/>' * columns
        table = f'<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr><w:tblGrid>{grid}</w:tblGrid>'
        yield (_paragraph(VMERGE_INTRO, rng.getrandbits(31)) + table).encode()
        for row in range(rows):
            number, position = divmod(row, chain)
            cells = []
            for column in range(columns):
                merge = "continue" if position else "restart"
                text = "" if position else f"区分{number + 1}-{column + 1}"
                if not position and column == 0 and number in (0, chains - 1):
                    text += f"　{VMERGE_SENTENCE}"
                cells.append(
                    f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/><w:vMerge w:val="{merge}"/></w:tcPr>'
                    f"{_paragraph(text, rng.getrandbits(31))}</w:tc>"
                )
            yield f"<w:tr>{''.join(cells)}</w:tr>".encode()
        yield b"</w:tbl>"

    return _package(path, _docx_parts(table()))


def varied_paragraphs(seed: int = 11) -> Iterator[str]:
    """Endless paragraphs of 1–4 sentences of a generated 業務記録 (department, subject, a number,
    an outcome, chosen at random), varied enough to deflate only about 15×, as real text does."""
    rng = random.Random(seed)
    while True:
        yield "".join(
            f"{rng.choice(_DEPARTMENTS)}の{rng.choice(_SUBJECTS)}に関する第{rng.randint(1, 999)}号の件は、"
            f"{rng.choice(_OUTCOMES)}。"
            for _ in range(rng.randint(1, 4))
        )


def _inflating(chunks: Iterator[str], inflated_mb: float) -> Iterator[bytes]:
    """`chunks` encoded, in batches, until they add up to `inflated_mb` MB."""
    left = int(inflated_mb * 2**20)
    while left > 0:
        batch = "".join(next(chunks) for _ in range(100)).encode()
        yield batch
        left -= len(batch)


def write_inflating_docx(path: Path, inflated_mb: float) -> Path:
    """A .docx whose word/document.xml inflates to about `inflated_mb` MB of paragraphs of
    `varied_paragraphs` (100 MB is a 6 MB file): a file well under the size limit that passes the
    zip bomb check (about 17× compression, not 200×) and still asks a reader to parse 100 MB."""
    paragraphs = (f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>" for text in varied_paragraphs())
    return _package(path, _docx_parts(_inflating(paragraphs, inflated_mb)))


def write_inflating_xlsx(path: Path, inflated_mb: float, columns: int = 5) -> Path:
    """A .xlsx whose xl/sharedStrings.xml inflates to about `inflated_mb` MB of `varied_paragraphs`
    (100 MB is a 7 MB file), and whose one sheet 「記録」 uses each string once (t="s"), in rows of
    `columns` cells: openpyxl reads every shared string before the first row."""
    count = 0

    def strings() -> Iterator[bytes]:
        nonlocal count
        yield f'{_XML}<sst xmlns="{_SHEET_MAIN}">'.encode()
        for batch in _inflating((f"<si><t>{text}</t></si>" for text in varied_paragraphs()), inflated_mb):
            count += batch.count(b"<si>")
            yield batch
        yield b"</sst>"

    def sheet() -> Iterator[bytes]:
        rows = -(-count // columns)
        last = _column_letters(columns)
        yield f'{_XML}<worksheet xmlns="{_SHEET_MAIN}"><dimension ref="A1:{last}{rows}"/><sheetData>'.encode()
        letters = [_column_letters(column) for column in range(1, columns + 1)]
        for start in range(0, rows, 10_000):
            yield "".join(
                f'<row r="{row + 1}">'
                + "".join(
                    f'<c r="{letter}{row + 1}" t="s"><v>{index}</v></c>'
                    for letter, index in zip(letters, range(row * columns, min(row * columns + columns, count)))
                )
                + "</row>"
                for row in range(start, min(start + 10_000, rows))
            ).encode()
        yield b"</sheetData></worksheet>"

    return _package(
        path,
        {
            "[Content_Types].xml": (
                f'{_XML}<Types xmlns="{_PACKAGE}/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
                f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPE}.sharedStrings+xml"/>'
                f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/></Types>'
            ),
            "_rels/.rels": (
                f'{_XML}<Relationships xmlns="{_PACKAGE}/relationships"><Relationship Id="rId1" '
                f'Type="{_OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ),
            "xl/workbook.xml": (
                f'{_XML}<workbook xmlns="{_SHEET_MAIN}" xmlns:r="{_OFFICE}">'
                '<sheets><sheet name="記録" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": (
                f'{_XML}<Relationships xmlns="{_PACKAGE}/relationships">'
                f'<Relationship Id="rId1" Type="{_OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
                f'<Relationship Id="rId2" Type="{_OFFICE}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
            ),
            "xl/sharedStrings.xml": strings(),
            "xl/worksheets/sheet1.xml": sheet(),  # written after the strings, so their count is known
        },
    )


def _column_letters(column: int) -> str:
    """A spreadsheet column's letters (1 → A, 27 → AA)."""
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def write_repeated_page_pdf(path: Path, times: int) -> Path:
    """A PDF of one page of the 規程 whose page tree lists that page `times` times (/Kids [3 0 R 3 0 R …],
    /Count `times`): 100,000 is a 600 KB file of 100,000 pages. Written by `write_pdf`, then its
    /Pages object is rewritten and the cross-reference table moved by as many bytes."""
    write_pdf(path, [regulation_sentences(6)])
    data = path.read_bytes()
    table = data.rindex(b"\nxref\n") + 1
    header = re.compile(rb"xref\n0 (\d+)\n").match(data, table)
    if not header:
        raise ValueError(f"{path}: reportlab wrote no classic cross-reference table")
    entries = header.end()
    offsets = [int(data[entries + 20 * number : entries + 20 * number + 10]) for number in range(int(header[1]))]
    pages = re.compile(rb"<<\s*/Count 1\s*/Kids \[\s*(\d+ 0 R)\s*\]\s*/Type /Pages\s*>>").search(data)
    if not pages:
        raise ValueError(f"{path}: reportlab wrote no one-page /Pages object")
    kids = b"<< /Count %d /Kids [ %s ] /Type /Pages >>" % (times, b" ".join([pages[1]] * times))
    shift = len(kids) - (pages.end() - pages.start())
    moved = [offset + shift if offset > pages.start() else offset for offset in offsets]
    xref = b"xref\n0 %d\n" % len(moved) + b"".join(
        b"%010d %05d %s \n" % (offset, 65535 if number == 0 else 0, b"f" if number == 0 else b"n")
        for number, offset in enumerate(moved)
    )
    trailer = data[entries + 20 * len(offsets) :]
    trailer = re.sub(rb"startxref\s+\d+", b"startxref\n%d" % (table + shift), trailer)
    path.write_bytes(data[: pages.start()] + kids + data[pages.end() : table] + xref + trailer)
    return path


def write_repeated_slide_pptx(path: Path, times: int) -> Path:
    """A deck of one slide (title, bullets and notes) whose ppt/presentation.xml lists that slide
    `times` times (<p:sldId> with ids 256, 257, … and the same r:id): 30,000 is a 100 KB file of
    30,000 slides. Written by `write_pptx`, then presentation.xml is rewritten."""
    write_pptx(path, [("火星の観測", ["赤い惑星と呼ばれる", "二つの衛星を持つ"], "観測の手順を説明する。")])
    with zipfile.ZipFile(path) as package:
        parts = {member: package.read(member) for member in package.namelist()}
    listed = re.compile(rb'<p:sldIdLst><p:sldId id="256" (r:id="rId\d+")/></p:sldIdLst>')
    found = listed.search(parts["ppt/presentation.xml"])
    if not found:
        raise ValueError(f"{path}: python-pptx wrote no one-slide <p:sldIdLst>")
    slides = b"".join(b'<p:sldId id="%d" %s/>' % (256 + number, found[1]) for number in range(times))
    parts["ppt/presentation.xml"] = listed.sub(b"<p:sldIdLst>%s</p:sldIdLst>" % slides, parts["ppt/presentation.xml"])
    return _package(path, {name: [content] for name, content in parts.items()})


def write_bold_articles_docx(path: Path, lines: Sequence[str]) -> Path:
    """A 規程 as many are written: every line a plain paragraph (Normal style), the 第N章 and 第N条 lines
    only set in bold, no heading styles."""
    import docx

    document = docx.Document()
    for line in lines:
        paragraph = document.add_paragraph()
        paragraph.add_run(line).bold = line.startswith(("第", "（"))
    document.save(str(path))
    return path


#: LibreOffice, which exports Word files to PDF as a user's office suite does (None: not installed)
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
NEEDS_SOFFICE = "exporting Word files to PDF needs LibreOffice: install the Debian package libreoffice-writer-nogui"


def write_regulation_docx(
    path: Path, articles: Sequence[str], *, title: str = "就業規程", header: str = "株式会社サンプル　就業規程"
) -> Path:
    """A 規程 as Word users write one: a running `header`, a footer 「- n -」 with a PAGE field, the
    title, chapters of ten `articles` (Heading 1), a numbered list (List Number: Word draws the
    numbers, the text has none) after the third article and a table after the seventh."""
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = header
    footer = section.footer.paragraphs[0]
    footer.add_run("- ")
    field = footer.add_run()
    for kind, text in (("begin", ""), ("", "PAGE"), ("separate", ""), ("", ""), ("end", "")):
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        else:
            element = OxmlElement("w:instrText" if text else "w:t")
            element.text = text or "1"
        field._r.append(element)
    footer.add_run(" -")
    document.add_heading(title, 0)
    for number, article in enumerate(articles):
        if number % 10 == 0:
            document.add_heading(f"第{number // 10 + 1}章　その{number // 10 + 1}", 1)
        document.add_paragraph(article)
        if number == 2:
            for step in ("申請書を提出する", "所属長が承認する", "人事部が記録する"):
                document.add_paragraph(step, style="List Number")
        if number == 6:
            table = document.add_table(rows=3, cols=2)
            for row, cells in enumerate([("区分", "日数"), ("勤続一年", "十日"), ("勤続二年", "十一日")]):
                for column, text in enumerate(cells):
                    table.cell(row, column).text = text
    document.save(str(path))
    return path


def export_pdf(sources: Sequence[Path], folder: Path) -> list[Path]:
    """Each source's PDF as LibreOffice exports it (`soffice --headless --convert-to pdf`, in a
    profile of its own), written to `folder`."""
    if SOFFICE is None:
        raise RuntimeError(NEEDS_SOFFICE)
    with tempfile.TemporaryDirectory(prefix="hsearch-export-") as profile:
        subprocess.run(
            [SOFFICE, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--convert-to", "pdf",
             "--outdir", str(folder), *map(str, sources)],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
    exported = [folder / f"{source.stem}.pdf" for source in sources]
    missing = [str(path) for path in exported if not path.exists()]
    if missing:
        raise RuntimeError(f"LibreOffice wrote no {', '.join(missing)}")
    return exported
