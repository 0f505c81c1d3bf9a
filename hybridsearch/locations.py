"""Where a passage is in its source: the page of a PDF, the slide of a deck, the sheet and cells of a
workbook, the heading path of a Word or Markdown document.

A loader describes its document's text as regions: `Region(start, place)` says that the text from
`start` up to the next region's start lies on `place`. A chunk's location merges the regions it
overlaps: the first and last page, the slide, the sheet and the cell range that spans its rows, or
the heading path under which most of its text lies. A region marked `hard` starts a new chunk (a
slide, a sheet), so no chunk straddles two of them.

A location is a small JSON-ready map with a `label` for people:

    {"page": 3, "page_end": 4, "label": "pp. 3–4"}
    {"page": 7, "ocr": true, "label": "p. 7, OCR"}          (a scanned page read by --ocr)
    {"slide": 5, "notes": true, "label": "slide 5, notes"}
    {"sheet": "売上", "cells": "A2:D9", "label": "売上!A2:D9"}
    {"heading": ["第3章 手続き", "3.2 申請手続き"], "label": "第3章 手続き > 3.2 申請手続き"}

A chunk over several pages, headings or slide parts also holds each as one of its `parts`, so a hit
names the place of its answering sentence (`location_at`), not only the chunk's first page or its
longest section.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Location",
    "MAX_PARTS",
    "Locator",
    "Region",
    "article_heading",
    "article_headings",
    "caption_of",
    "cell_range",
    "column_letters",
    "heading_regions",
    "location_at",
    "with_headings",
]

Location = Mapping[str, Any]

#: A chunk over more places than this keeps only its own location (a 2.9 MB Markdown file of
#: six-level headings stored 21 MB of parts).
MAX_PARTS = 8


@dataclass(frozen=True, slots=True)
class Region:
    """The text from `start` to the next region's start lies on `place` ({"page": 3}, {"slide": 2,
    "notes": False}, {"sheet": "売上", "cells": "A2:D2"} or {"heading": ["第1章", "1.1 目的"]});
    `hard`: a chunk never runs from the region before into this one."""

    start: int
    place: Location
    hard: bool = False


class Locator:
    """The locations of spans of one text described by `regions` (sorted by start); the region
    starts are read once, not again for every chunk."""

    def __init__(self, regions: Sequence[Region]) -> None:
        self._regions = regions
        self._starts = [region.start for region in regions]

    def __call__(self, start: int, end: int) -> dict[str, Any]:
        """The location of the span `[start, end)`; {} when no region covers it. A span over regions
        of several pages, headings or slide parts also lists them as `parts`, each with the offset
        where it starts in the span (`location_at` reads them)."""
        if not self._regions:
            return {}
        starts = self._starts
        first = max(bisect.bisect_right(starts, start) - 1, 0)
        last = max(bisect.bisect_left(starts, end) - 1, first)
        found = self._place(first, last, start, end)
        if last > first and found and "sheet" not in found:
            parts: list[dict[str, Any]] = []
            for i in range(first, last + 1):
                part = self._place(i, i, start, end)
                if not parts or part.get("label") != parts[-1].get("label"):
                    parts.append({"start": max(start, starts[i]), **part})
            if 1 < len(parts) <= MAX_PARTS:  # more (a chunk over many tiny sections) cost more than they tell
                found["parts"] = parts
        return found

    def _place(self, first: int, last: int, start: int, end: int) -> dict[str, Any]:
        """The location of regions `first` to `last`, which `[start, end)` overlaps."""
        covered = self._regions[first : last + 1]
        place = covered[0].place
        if "slide" in place:
            return _slides(covered)
        if "sheet" in place:
            return _cells(covered)
        heading: list[str] = []
        if "heading" in place:  # the heading under which most of the span lies
            starts = self._starts
            overlap = [
                min(end, starts[i + 1] if i + 1 < len(starts) else end) - max(start, starts[i])
                for i in range(first, last + 1)
            ]
            heading = list(covered[overlap.index(max(overlap))].place["heading"])
        if "page" in place:  # a PDF's pages, with the 第N章/第N条 heading of the text when it has them
            found = _pages(covered)
            return (
                found | {"heading": heading, "label": f"{found['label']}, {' > '.join(heading)}"} if heading else found
            )
        return {"heading": heading, "label": " > ".join(heading)} if heading else {}


def with_headings(pages: Sequence[Region], headings: Sequence[Region]) -> list[Region]:
    """Page regions that also carry the heading path under which their text lies (`heading_regions`):
    a region starts at every page and at every heading."""
    merged: list[Region] = []
    page: Location = {}
    heading: Location = {}
    starts = sorted({region.start for region in [*pages, *headings]})
    by_start = {region.start: region.place for region in pages}
    heading_at = {region.start: region.place for region in headings}
    for start in starts:
        page = by_start.get(start, page)
        heading = heading_at.get(start, heading)
        if page:
            merged.append(Region(start, {**page, **heading}))
    return merged


def location_at(location: Location, offset: int) -> Location:
    """Where the text at `offset` lies, of a span whose location is `location`: the part of it that
    holds `offset` when it has `parts`, else the whole location."""
    parts = location.get("parts")
    if not parts:
        return location
    held = [part for part in parts if part["start"] <= offset] or parts[:1]
    return {key: value for key, value in held[-1].items() if key != "start"}


def heading_regions(headings: Iterable[tuple[int, int, str]], title: str = "") -> list[Region]:
    """Regions of a text from its headings, each `(offset, level, text)` in order (level 1 = 章): a
    heading's region runs to the next heading and is placed under the path of headings above it.
    A level-1 heading that is the document's title is not repeated in every path."""
    regions: list[Region] = []
    path: list[tuple[int, str]] = []
    for offset, level, text in headings:
        path = [(above, name) for above, name in path if above < level]
        if not (level == 1 and text == title):
            path.append((level, text))
        regions.append(Region(offset, {"heading": [name for _, name in path]}))
    if regions and regions[0].start > 0:  # text before the first heading lies under none
        regions.insert(0, Region(0, {"heading": []}))
    return regions


_NUMBER = "[0-9０-９一二三四五六七八九十百千〇]+"
#: A line that opens with 第N章, 第N節, 第N条 (第N条の2…), then an optional caption in parentheses.
_ARTICLE = re.compile(
    rf"[ \t\u3000]*(第{_NUMBER}([編章節款条])(?:の{_NUMBER})?)[ \t\u3000]*([（(][^）)\n]{{1,30}}[）)])?"
)
_ARTICLE_LEVELS = {"編": 1, "章": 1, "節": 2, "款": 3, "条": 3}
#: A caption on a line of its own, as 規程 write it above their article: （目的）
_CAPTION = re.compile(r"[ \t\u3000]*([（(][^）)\n]{1,30}[）)])[ \t\u3000]*")
#: A heading line is at most this long and ends no sentence; another line that opens with 第N条 names
#: only its article (and its caption).
_HEADING_LINE = 30


def article_heading(line: str, caption: str = "") -> tuple[int, str] | None:
    """(level, name) of a line that opens a Japanese 章 (1), 節 (2) or 条 (3), as 規程 and 約款 write
    them whatever their styles: 「第3章 休暇」, 「第21条（慶弔休暇）会社は…」 → 第21条（慶弔休暇）; `caption`
    is a （見出し） on the line before; None for any other line."""
    match = _ARTICLE.match(line)
    if match is None:
        return None
    level = _ARTICLE_LEVELS[match.group(2)]
    text = line.strip()
    if len(text) <= _HEADING_LINE and "。" not in text and not match.group(3):  # a heading line: 第3章 休暇
        return level, text if text != match.group(1) else text + caption
    return level, match.group(1) + (match.group(3) or caption)  # an article's first line: its number


def article_headings(text: str) -> list[tuple[int, int, str]]:
    """The (offset, level, name) of every line of `text` that `article_heading` reads as one."""
    found = []
    offset, caption = 0, ""
    for line in text.splitlines(keepends=True):
        heading = article_heading(line, caption)
        if heading is not None:
            found.append((offset, *heading))
        caption = caption_of(line)
        offset += len(line)
    return found


def caption_of(line: str) -> str:
    """The caption a line holds alone, （目的） as 規程 write it above an article; "" for any other line."""
    captioned = _CAPTION.fullmatch(line.rstrip("\r\n"))
    return captioned.group(1) if captioned else ""


def _pages(covered: Sequence[Region]) -> dict[str, Any]:
    """The first and last page; `ocr` when text of them was read by OCR (a scanned page)."""
    first, last = covered[0].place["page"], covered[-1].place["page"]
    found: dict[str, Any] = {"page": first} if first == last else {"page": first, "page_end": last}
    label = f"p. {first}" if first == last else f"pp. {first}–{last}"
    if any(region.place.get("ocr") for region in covered):
        return found | {"ocr": True, "label": label + ", OCR"}
    return found | {"label": label}


def _slides(covered: Sequence[Region]) -> dict[str, Any]:
    first, last = covered[0].place["slide"], covered[-1].place["slide"]
    notes = any(region.place.get("notes") for region in covered)
    found: dict[str, Any] = {"slide": first}
    label = f"slide {first}"
    if last != first:
        found["slide_end"] = last
        label = f"slides {first}–{last}"
    found["notes"] = notes
    return found | {"label": label + (", notes" if notes else "")}


def _cells(covered: Sequence[Region]) -> dict[str, Any]:
    sheet = covered[0].place["sheet"]
    corners = [_corners(region.place["cells"]) for region in covered if region.place.get("sheet") == sheet]
    top = min(corner[0] for corner in corners)
    left = min(corner[1] for corner in corners)
    bottom = max(corner[2] for corner in corners)
    right = max(corner[3] for corner in corners)
    cells = cell_range(top, left, bottom, right)
    return {"sheet": sheet, "cells": cells, "label": f"{sheet}!{cells}"}


_CELL = re.compile(r"([A-Z]+)(\d+)")


def _corners(cells: str) -> tuple[int, int, int, int]:
    """(top row, left column, bottom row, right column) of "B2:D9" or "B2" (1-based)."""
    parts = [_CELL.fullmatch(part) for part in cells.split(":")]
    numbers = [(int(match.group(2)), _column_number(match.group(1))) for match in parts if match]
    (top, left), (bottom, right) = numbers[0], numbers[-1]
    return top, left, bottom, right


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def column_letters(column: int) -> str:
    """The spreadsheet name of a 1-based column: 1 → A, 27 → AA."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def cell_range(top: int, left: int, bottom: int, right: int) -> str:
    """ "B2:D9" (or "B2" for one cell) from 1-based rows and columns."""
    first, last = f"{column_letters(left)}{top}", f"{column_letters(right)}{bottom}"
    return first if first == last else f"{first}:{last}"
