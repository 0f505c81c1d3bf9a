"""What a hit is shown with: 120 characters of its text around the sentence that answers (`answers.py`),
and the spans to mark in it (its matched words).

The line starts with the sentence before the answering one when both fit (Japanese often names the
subject there and leaves it out after), else a little before it, so it is shown whole where it
fits; a longer one is shown around its first matched word.
"""

from __future__ import annotations

from collections.abc import Sequence
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


#: Characters of a snippet: what a Japanese result page shows of a result (about 120). On jsquad dev
#: the answer is in the snippet for 0.913 of right first hits at 80 characters, 0.948 at 100 and
#: 0.967 at 120 (bench/README.md, "The answering sentence"): a Japanese sentence often runs past 80.
_SNIPPET_WIDTH = 120
#: Characters shown before the chosen sentence when it fits (the end of the one before: context).
_LEAD = 8


def snippet(hit: Hit, width: int = _SNIPPET_WIDTH) -> Snippet:
    """About `width` characters of a hit's text around its answering sentence, on one line (runs of
    whitespace become one space), "…" where text was cut, and the matched words' spans in that line."""
    text, spans = hit.text, hit.chunk_highlights
    start = max(0, min(_window_start(text, spans, hit.chunk_answer, width), len(text) - width))
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


def _window_start(text: str, spans: Sequence[tuple[int, int]], answer: tuple[int, int], width: int) -> int:
    """Where the line starts: a little before the answering sentence `[start, end)`."""
    from .chunking import split_sentences  # chunking imports schema, which imports this module

    start, end = answer
    sentences = split_sentences(text[:start])
    before = sentences[-1][0] if sentences else start  # the sentence before the answer
    if end - before <= width:  # with the sentence before it, which often names what it is about
        return before
    if end - start <= width - _LEAD:  # the whole sentence fits, after a little of the one before
        return max(0, start - _LEAD)
    first = min((a for a, _ in spans if start <= a < end), default=start)
    return max(start, first - width // 3)


def snippet_dict(hit: Hit) -> dict[str, Any]:
    """`snippet(hit)` as JSON: {"text": …, "marks": [[start, end], …]}."""
    shown = snippet(hit)
    return {"text": shown.text, "marks": [list(mark) for mark in shown.marks]}
