"""What a hit is shown with: about a line of its text around the words that matched, and the spans
to mark in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .schema import Hit

__all__ = ["Snippet", "snippet", "snippet_dict"]


@dataclass(frozen=True)
class Snippet:
    """About `width` characters of a hit on one line, and the spans in it to mark (matched words)."""

    text: str
    marks: tuple[tuple[int, int], ...]


_SNIPPET_WIDTH = 80


def snippet(hit: Hit, width: int = _SNIPPET_WIDTH) -> Snippet:
    """About `width` characters of a hit's text around its first matched word, on one line (runs of
    whitespace become one space), "…" where text was cut, and the matched words' spans in that line."""
    text, spans = hit.text, hit.chunk_highlights
    start = max(0, min((spans[0][0] if spans else 0) - width // 3, len(text) - width))
    end = min(len(text), start + width)
    prefix = "…" if start > 0 else ""
    out: list[str] = []
    where: list[int] = []  # each window character's position in `out`
    for ch in text[start:end]:
        if not ch.isspace():
            out.append(ch)
        elif out and out[-1] != " ":
            out.append(" ")
        where.append(len(prefix) + max(len(out) - 1, 0))
    line = "".join(out).rstrip()
    marks = []
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start < span_end:
            marks.append((where[span_start - start], min(where[span_end - 1 - start] + 1, len(prefix) + len(line))))
    return Snippet(prefix + line + ("…" if end < len(text) else ""), tuple(marks))


def snippet_dict(hit: Hit) -> dict[str, Any]:
    """`snippet(hit)` as JSON: {"text": …, "marks": [[start, end], …]}."""
    shown = snippet(hit)
    return {"text": shown.text, "marks": [list(mark) for mark in shown.marks]}
