"""Word (.docx): the body's paragraphs and tables in reading order, with heading paths.

Headings are the paragraphs styled 「見出し N」 (Heading N), and paragraphs that open a 第N章, 第N節 or
第N条 in any style (規程 often mark them only in bold); each chunk's location is the path of
headings above it (`第3章 手続き > 3.2 申請手続き`). A table becomes one line per row, its cells
joined by " | " (a merged cell once; a cell that continues a vertical merge repeats the text its
merge started with). Running headers and footers are not body text and are left out.

The body (word/document.xml) is read as a stream, each paragraph and table row dropped once read,
so a large or deeply merged document takes memory for one block and time in proportion to its
size; the text read stops at the file size limit (a warning says so).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from ..locations import article_heading, caption_of, heading_regions
from ..schema import Document
from .base import FileInfo, LoadContext, SkipFile
from .package import Lines, checked_package, core_properties, forget, parsed_part, reading, streamed_part

__all__ = ["load_docx"]

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_HEADING_STYLE = re.compile(r"(?:heading|見出し)\s*([1-9])", re.I)
_BODY_PART = "word/document.xml"
_STYLES_PART = "word/styles.xml"
#: a paragraph's children whose runs are its text (links, tracked insertions, fields, content controls)
_RUN_HOLDERS = frozenset(
    f"{W}{tag}" for tag in ("hyperlink", "ins", "smartTag", "fldSimple", "moveTo", "sdt", "customXml")
)
#: what a run's children other than w:t stand for in its text
_RUN_MARKS = {f"{W}tab": "\t", f"{W}ptab": "\t", f"{W}cr": "\n", f"{W}noBreakHyphen": "-"}


def load_docx(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    """A Word document: one document of its body text; heading paths as regions; core properties as metadata."""
    stream = checked_package(data, file, context, ".docx")
    lines = Lines(context.config.max_file_mb)
    headings: list[tuple[int, int, str]] = []
    title = caption = first_chapter = ""  # the first 「見出し 1」 is the title when nothing else names one
    with reading(".docx"), zipfile.ZipFile(stream) as package:
        styles = _style_names(package, context)
        with package.open(_BODY_PART) as body:
            for kind, block in _body_blocks(body):
                context.check_time()
                if kind == "row":
                    lines.add(block)
                    continue
                text, style_id = block
                style = styles.get(style_id, "")
                level = _HEADING_STYLE.fullmatch(style)
                offset = lines.add(text)
                article = article_heading(text, caption) if text and not level else None
                if text and level:
                    headings.append((offset, int(level.group(1)), text))
                    first_chapter = first_chapter or (text if level.group(1) == "1" else "")
                elif article is not None:  # a 第N条 paragraph in plain (or bold) text
                    headings.append((offset, *article))
                elif text and style.lower() == "title" and not title:
                    title = text
                caption = caption_of(text)
                if lines.full:
                    break
        own_title, metadata = core_properties(package, context)
    if lines.full:
        file.warn(f"{file.path}: {lines.full_warning}")
    if not lines.text.strip():
        raise SkipFile("no text")
    title = own_title or title or first_chapter
    return [file.document(lines.text, title=title, metadata=metadata, regions=heading_regions(headings, title))]


def _style_names(package: zipfile.ZipFile, context: LoadContext) -> dict[str, str]:
    """Style id → style name (「見出し 1」, "heading 1", "Title"), from word/styles.xml if there is one."""
    root = parsed_part(package, _STYLES_PART, context)
    if root is None:
        return {}
    names = {}
    for style in root.iter(f"{W}style"):
        name = style.find(f"{W}name")
        if name is not None:
            names[style.get(f"{W}styleId", "")] = name.get(f"{W}val", "")
    return names


def _body_blocks(body: IO[bytes]) -> Iterator[tuple[str, Any]]:
    """The body's paragraphs, as ("paragraph", (text, style id)), and its tables' rows, as ("row",
    text), in reading order; each is dropped from memory once read."""
    merges: dict[int, str] = {}  # grid column → the text its vertical merge started with
    for element in streamed_part(body, (f"{W}p", f"{W}tr", f"{W}tbl", f"{W}sdt")):
        parent = element.getparent()
        if parent is None:
            continue
        if element.tag == f"{W}p" and parent.tag == f"{W}body":
            yield "paragraph", (_paragraph_text(element), _paragraph_style(element))
        elif element.tag == f"{W}tr" and _tag(parent.getparent()) == f"{W}body":
            row = _row_text(element, merges)
            if row:
                yield "row", row
        elif parent.tag != f"{W}body":
            continue  # nested in a table: read with the row that holds it
        elif element.tag == f"{W}tbl":
            merges.clear()
        # a block-level content control (w:sdt) is left out, as Word's body model leaves it
        forget(element)


def _tag(element: Any) -> str:
    return "" if element is None else element.tag


def _paragraph_style(paragraph: Any) -> str:
    style = paragraph.find(f"{W}pPr/{W}pStyle")
    return "" if style is None else style.get(f"{W}val", "")


def _paragraph_text(paragraph: Any) -> str:
    """A paragraph's text as Word shows it: its runs, also those inside links, insertions and fields."""
    parts = []
    for child in paragraph:
        if child.tag == f"{W}r":
            parts.append(_run_text(child))
        elif child.tag in _RUN_HOLDERS:
            parts.extend(_run_text(run) for run in child.iter(f"{W}r"))
    return "".join(parts).strip()


def _run_text(run: Any) -> str:
    parts = []
    for child in run:
        if child.tag == f"{W}t":
            parts.append(child.text or "")
        elif child.tag == f"{W}br":
            parts.append("\n" if child.get(f"{W}type", "textWrapping") == "textWrapping" else "")
        else:
            parts.append(_RUN_MARKS.get(child.tag, ""))
    return "".join(parts)


def _row_text(row: Any, merges: dict[int, str]) -> str:
    """A table row as one line, its cells joined by " | ": a cell spanning columns once, a cell that
    continues a vertical merge with the text of the cell that started it (kept in `merges`)."""
    column = _number(row.find(f"{W}trPr/{W}gridBefore"), 0)
    texts = []
    for cell in row.iter(f"{W}tc"):
        if cell.getparent() is not row:
            continue  # a cell of a nested table: part of its outer cell's text
        span = _number(cell.find(f"{W}tcPr/{W}gridSpan"), 1)
        merge = cell.find(f"{W}tcPr/{W}vMerge")
        if merge is not None and merge.get(f"{W}val", "continue") == "continue":
            text = merges.get(column, "")
        else:
            text = " ".join(_cell_text(cell).split())
            if merge is not None:
                merges[column] = text
        texts.append(text)
        column += span
    return " | ".join(texts) if any(texts) else ""


def _cell_text(cell: Any) -> str:
    """A cell's paragraphs, nested tables' cells included, one per line."""
    return "\n".join(_paragraph_text(paragraph) for paragraph in cell.iter(f"{W}p"))


def _number(element: Any, default: int) -> int:
    """The whole number in an element's w:val (`default` when absent or not a small number)."""
    value = "" if element is None else element.get(f"{W}val", "")
    return int(value) if value.isdigit() and len(value) < 4 else default
