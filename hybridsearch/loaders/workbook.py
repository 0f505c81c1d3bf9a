"""Excel (.xlsx, .xlsm; openpyxl in read-only mode): each sheet's rows as lines of text, with sheet and cell locations.

A row becomes one line, its non-empty cells joined by " | " (values as last calculated, not formulas;
dates as ISO text); each sheet opens with its name and starts a new chunk, so a chunk's location is
one sheet and the cell range of its rows (`売上!A2:D9`). Rows are read as a stream and a workbook
stops at `MAX_ROWS` rows (the rest is a warning and counts as skipped records), so a sheet of a
million rows cannot fill memory. The shared strings (the text cells point at) are read as a stream
too, at most `MAX_SHARED_STRINGS` of them and the file size limit of text; cells pointing past what
was read are empty, and a warning says so.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from typing import Any

from ..locations import cell_range
from ..schema import Document
from .base import FileInfo, LoadContext, SkipFile
from .package import Lines, checked_package, core_metadata, forget, reading, streamed_part

__all__ = ["MAX_ROWS", "MAX_SHARED_STRINGS", "load_xlsx"]

#: rows of text read from one workbook at most (the rest is a warning)
MAX_ROWS = 100_000
#: shared strings read from one workbook at most
MAX_SHARED_STRINGS = 1_000_000
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def load_xlsx(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    """A workbook: one document of its sheets' rows; a region per row; core properties as metadata."""
    kind = ".xlsm" if file.suffix == ".xlsm" else ".xlsx"
    stream = checked_package(data, file, context, kind)
    lines = Lines(context.config.max_file_mb)
    with reading(kind):
        workbook = _open_workbook(stream, file, context)
        try:
            rows = _read_rows(workbook.worksheets, lines, file, context)
            title = (workbook.properties.title or "").strip()
            metadata = core_metadata(workbook.properties) | {"sheets": len(workbook.worksheets)}
        finally:
            workbook.close()
    if lines.full:
        file.warn(f"{file.path}: {lines.full_warning}")
    if rows == 0:
        raise SkipFile("no text (every sheet is empty)")
    return [file.document(lines.text, title=title, metadata=metadata, regions=lines.regions)]


def _read_rows(sheets: list[Any], lines: Lines, file: FileInfo, context: LoadContext) -> int:
    """Add each sheet's name and rows to `lines` (a region per row), up to `MAX_ROWS` rows in all;
    the rows left out past that are a warning and are counted as skipped records. The rows read."""
    rows = 0
    for position, sheet in enumerate(sheets):
        opened = False
        for row in sheet.iter_rows():
            context.check_time()
            found = [(cell, text) for cell in row if (text := _cell_text(cell.value))]
            if not found:
                continue
            number = found[0][0].row  # an empty cell (before the first value) knows no row
            if rows == MAX_ROWS:
                left = _rows_from(sheet, number) + sum(_rows_from(later, 1) for later in sheets[position + 1 :])
                context.skipped_records += left
                file.warn(
                    f"{file.path}: read its first {MAX_ROWS:,} rows; the rest (about {left:,} rows, from row "
                    f"{number:,} of sheet {sheet.title!r} on) is not indexed"
                )
                return rows
            place = {"sheet": sheet.title, "cells": cell_range(number, found[0][0].column, number, found[-1][0].column)}
            if not opened:  # a sheet opens with its name and starts a new chunk
                lines.mark(place, hard=True)
                lines.add(sheet.title)
                opened = True
            rows += 1
            lines.mark(place)
            lines.add(" | ".join(text for _, text in found))
            if lines.full:
                return rows
    return rows


def _open_workbook(stream: Any, file: FileInfo, context: LoadContext) -> Any:
    """openpyxl's read-only workbook, its shared strings read by `_shared_strings`."""
    try:
        from openpyxl.reader.excel import ExcelReader
        from openpyxl.xml.constants import SHARED_STRINGS
    except ImportError:
        raise SkipFile("reading Excel files needs openpyxl, which this install lacks: pip install openpyxl") from None

    class BoundedReader(ExcelReader):  # type: ignore[misc]
        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as source:
                    self.shared_strings = _shared_strings(source, file, context)

    reader = BoundedReader(stream, read_only=True, data_only=True, keep_links=False)
    reader.read()
    return reader.wb


class _ReadStrings(list):  # type: ignore[type-arg]
    """The shared strings read; a cell pointing past them is empty."""

    def __getitem__(self, position: Any) -> Any:
        try:
            return super().__getitem__(position)
        except IndexError:
            return ""


def _shared_strings(source: Any, file: FileInfo, context: LoadContext) -> list[str]:
    """The shared string table, read as a stream: each entry's text without its phonetic guide
    (rPh, furigana); at most `MAX_SHARED_STRINGS` entries and the file size limit of text."""
    strings = _ReadStrings()
    budget = context.config.max_file_mb * 2**20
    for entry in streamed_part(source, f"{_MAIN}si"):
        text = "".join(part.text or "" for part in entry.iter(f"{_MAIN}t") if part.getparent().tag != f"{_MAIN}rPh")
        budget -= len(text) * 3
        if len(strings) == MAX_SHARED_STRINGS or budget < 0:
            file.warn(
                f"{file.path}: read its first {len(strings):,} shared strings (at most {MAX_SHARED_STRINGS:,} and "
                f"{context.config.max_file_mb} MB of text); cells holding the others are read as empty"
            )
            break
        strings.append(text.replace("_x005F_", "_"))
        forget(entry)
        if len(strings) % 4096 == 0:
            context.check_time()
    return strings


def _rows_from(sheet: Any, first: int) -> int:
    """How many rows `sheet` has from row `first` on, as its declared dimension says (1 if it declares none)."""
    last = getattr(sheet, "max_row", None)
    return max(last - first + 1, 1) if isinstance(last, int) else 1


def _cell_text(value: Any) -> str:
    """A cell's value as text: whole numbers without ".0", dates as ISO text, text with its spaces tidied."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes" if value.second == 0 else "seconds").removesuffix(" 00:00")
    if isinstance(value, date | time):
        return value.isoformat()
    return " ".join(str(value).split())
