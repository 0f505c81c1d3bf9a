"""PowerPoint (.pptx, python-pptx): each slide's text in reading order, then its speaker notes.

A slide's title comes first, then its text boxes, tables (one line per row, cells joined by " | ")
and grouped shapes from top to bottom and left to right. Each slide starts a new chunk, so a chunk's
location is one slide; a chunk that holds speaker notes is marked (`slide 4, notes`). A deck is read
up to `MAX_SLIDES` slides, and a slide the deck lists again is read once; warnings say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..schema import Document
from .base import FileInfo, LoadContext, SkipFile
from .package import Lines, checked_package, core_metadata, reading

__all__ = ["MAX_SLIDES", "load_pptx"]

#: slides read from one deck at most (the rest is a warning)
MAX_SLIDES = 5_000


def load_pptx(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    """A deck: one document of its slides and notes; a region per slide and per slide's notes."""
    try:
        import pptx
    except ImportError:
        raise SkipFile(
            "reading PowerPoint files needs python-pptx, which this install lacks: pip install python-pptx"
        ) from None
    stream = checked_package(data, file, context, ".pptx")
    lines = Lines(context.config.max_file_mb)
    with reading(".pptx"):
        deck = pptx.Presentation(stream)
        first_title = ""
        for number, slide in _distinct_slides(deck.slides, file, context):
            lines.mark({"slide": number, "notes": False}, hard=True)
            title = slide.shapes.title
            if title is not None and title.has_text_frame:
                first_title = first_title or " ".join(title.text_frame.text.split())
            for line in _shape_lines(_reading_order(slide.shapes, title)):
                lines.add(line)
            notes = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
            if notes is not None and notes.text.strip():
                lines.mark({"slide": number, "notes": True})
                for line in _text_lines(notes.text):
                    lines.add(line)
            if lines.full:
                file.warn(f"{file.path}: {lines.full_warning}")
                break
        properties = deck.core_properties
        title = (properties.title or "").strip() or first_title
        metadata = core_metadata(properties) | {"slides": len(deck.slides)}
    if not lines.text.strip():
        raise SkipFile("no text (no slide has text or notes)")
    return [file.document(lines.text, title=title, metadata=metadata, regions=lines.regions)]


def _distinct_slides(slides: Any, file: FileInfo, context: LoadContext) -> Iterator[tuple[int, Any]]:
    """(number, slide) for the first `MAX_SLIDES` slides of a deck, each slide the deck lists more
    than once only where it is first listed."""
    count = len(slides)
    if count > MAX_SLIDES:
        file.warn(f"{file.path}: read its first {MAX_SLIDES:,} of {count:,} slides; the rest is not indexed")
    seen: set[str] = set()
    for number, slide in enumerate(slides, start=1):
        if number > MAX_SLIDES:
            break
        context.check_time()
        if slide.part.partname in seen:
            continue
        seen.add(slide.part.partname)
        yield number, slide
    if len(seen) < min(count, MAX_SLIDES):
        file.warn(f"{file.path}: lists the same slide more than once ({count:,} entries, {len(seen):,} slides); "
                  "each is read once")  # fmt: skip


def _reading_order(shapes: Any, title: Any = None) -> list[Any]:
    """The shapes of a slide or group: the title first, then top to bottom, left to right."""
    rest = [shape for shape in shapes if title is None or shape.shape_id != title.shape_id]
    rest.sort(key=lambda shape: (shape.top or 0, shape.left or 0))
    return ([title] if title is not None else []) + rest


def _shape_lines(shapes: list[Any]) -> Iterator[str]:
    for shape in shapes:
        if hasattr(shape, "shapes"):  # a group
            yield from _shape_lines(_reading_order(shape.shapes))
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                texts = [" ".join(cell.text.split()) for cell in row.cells if not cell.is_spanned]
                if any(texts):
                    yield " | ".join(texts)
        elif shape.has_text_frame:
            yield from _text_lines(shape.text_frame.text)


def _text_lines(text: str) -> list[str]:
    """The lines of a text frame (a soft line break, shown as a vertical tab, is a line too)."""
    return [line.strip() for line in text.replace("\v", "\n").splitlines() if line.strip()]
