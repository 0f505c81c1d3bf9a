"""Word (.docx, python-docx): the body's paragraphs and tables in reading order, with heading paths.

Headings are the paragraphs styled 「見出し N」 (Heading N); each chunk's location is the path of
headings above it (`第3章 手続き > 3.2 申請手続き`). A table becomes one line per row, its cells
joined by " | " (a merged cell once). Running headers and footers are not body text and are left out.
"""

from __future__ import annotations

import re
from typing import Any

from ..locations import heading_regions
from ..schema import Document
from .base import FileInfo, LoadContext, SkipFile
from .package import Lines, checked_package, core_metadata, reading

__all__ = ["load_docx", "table_rows"]

_HEADING_STYLE = re.compile(r"(?:heading|見出し)\s*([1-9])", re.I)


def load_docx(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    """A Word document: one document of its body text; heading paths as regions; core properties as metadata."""
    try:
        import docx
    except ImportError:
        raise SkipFile("reading Word files needs python-docx: pip install 'hybridsearch[office]'") from None
    stream = checked_package(data, file, context, ".docx")
    with reading(".docx"):
        document = docx.Document(stream)
        style_names = {style.style_id: style.name for style in document.styles}  # looked up once, not per paragraph
        lines = Lines()
        headings: list[tuple[int, int, str]] = []
        title = ""
        for block in document.iter_inner_content():
            if isinstance(block, docx.table.Table):
                for row in table_rows(block):
                    lines.add(row)
                continue
            text = block.text.strip()
            style = style_names.get(block._p.style) or ""  # the style id (None: the default style)
            level = _HEADING_STYLE.fullmatch(style)
            offset = lines.add(text)
            if text and level:
                headings.append((offset, int(level.group(1)), text))
            elif text and style == "Title" and not title:
                title = text
        properties = document.core_properties
        title = (
            (properties.title or "").strip() or title or next((name for _, level, name in headings if level == 1), "")
        )
        metadata = core_metadata(properties)
    if not lines.text.strip():
        raise SkipFile("no text")
    return [file.document(lines.text, title=title, metadata=metadata, regions=heading_regions(headings, title))]


def table_rows(table: Any) -> list[str]:
    """A Word table as lines of text: one per row, its cells joined by " | ", a merged cell once."""
    rows = []
    for row in table.rows:
        cells: list[Any] = []
        for cell in row.cells:
            if not cells or cell._tc is not cells[-1]._tc:  # a horizontally merged cell repeats
                cells.append(cell)
        texts = [" ".join(cell.text.split()) for cell in cells]
        if any(texts):
            rows.append(" | ".join(texts))
    return rows
