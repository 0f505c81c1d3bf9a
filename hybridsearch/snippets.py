"""What a hit is shown with: about a line of its text around the sentence its matched words meet in
most, and the spans to mark in it.

The sentence is the one whose matched words weigh most: each distinct word once, by its length,
a word of kana alone (し, する, の…) at a fifth, since the words that say what a question is about
are its kanji and katakana ones. The line starts with the sentence before it when both fit (Japanese
often names the subject there and leaves it out after), else a little before the sentence, so it is
shown whole where it fits; a longer one is shown around its first matched word.
"""

from __future__ import annotations

import re
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


_SNIPPET_WIDTH = 80
#: Characters shown before the chosen sentence when it fits (the end of the one before: context).
_LEAD = 8
#: The weight of a matched word of kana alone (し, する, の日…) against one of kanji or katakana.
_KANA_ONLY = 0.2
_KANA = re.compile(r"[\u3040-\u309f\u30fc]+")


def snippet(hit: Hit, width: int = _SNIPPET_WIDTH) -> Snippet:
    """About `width` characters of a hit's text around the sentence its matched words meet in most,
    on one line (runs of whitespace become one space), "…" where text was cut, and the matched
    words' spans in that line."""
    text, spans = hit.text, hit.chunk_highlights
    start = max(0, min(_window_start(text, spans, width), len(text) - width))
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


def _window_start(text: str, spans: Sequence[tuple[int, int]], width: int) -> int:
    """Where the line starts: a little before the sentence whose matched words weigh most."""
    from .chunking import split_sentences  # chunking imports schema, which imports this module

    if not spans:
        return 0
    sentences = split_sentences(text)
    best, best_weight = 0, -1.0
    for number, (start, end) in enumerate(sentences):
        words = {text[a:b] for a, b in spans if start <= a < end}
        weight = sum(len(word) * (_KANA_ONLY if _KANA.fullmatch(word) else 1.0) for word in words)
        if weight > best_weight:
            best, best_weight = number, weight
    start, end = sentences[best]
    while start < end and text[start].isspace():
        start += 1
    before = sentences[best - 1][0] if best else start
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
