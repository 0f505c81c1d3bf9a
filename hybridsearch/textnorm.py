"""One Japanese text normalisation for indexing, queries and snippets, with an offset map.

NFKC (full-width ASCII → ASCII, half-width kana → full-width, ｶﾞ → ガ) and lower-casing, applied per
grapheme-like segment (a character and the combining marks after it) so that every output character
maps back to the character it came from. Two NFKC habits are undone: the standalone sound marks
゛/゜ (U+309B/U+309C) stay as they are instead of becoming a space plus a combining mark, and
wave dashes keep their identity (〜 stays 〜).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Normalized", "encodable", "folded_name", "normalize", "normalize_with_offsets"]

# A base character and the combining marks that follow it (incl. kana voicing marks, half-width too).
_SEGMENT = re.compile(
    r".[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F\u3099\u309A\uFF9E\uFF9F]*",
    re.DOTALL,
)
_KEEP = frozenset("\u309b\u309c")  # ゛ ゜: NFKC turns them into " \u3099" / " \u309a"


@dataclass(frozen=True)
class Normalized:
    """Normalised text; character `i` of it came from `source[starts[i]:ends[i]]`."""

    text: str
    starts: list[int]
    ends: list[int]

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The source span `[s, e)` that the normalised span `[start, end)` came from."""
        if start >= end:
            position = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return position, position
        return self.starts[start], self.ends[end - 1]


@lru_cache(maxsize=65536)
def _fold(segment: str) -> str:
    if segment in _KEEP:
        return segment
    return unicodedata.normalize("NFKC", segment).lower()


def _is_stable(text: str) -> bool:
    """True when normalising cannot change `text` (the common case for clean Japanese)."""
    return unicodedata.is_normalized("NFKC", text) and text == text.lower() and not any(mark in text for mark in _KEEP)


def folded_name(name: str) -> str:
    """A name as two spellings of it compare (a column header, a file name): NFKC, trimmed, lower case."""
    return unicodedata.normalize("NFKC", name).strip().lower()


def normalize(text: str) -> str:
    """The normalised form of `text` (same as `normalize_with_offsets(text).text`)."""
    if _is_stable(text):
        return text
    return "".join(_fold(match.group()) for match in _SEGMENT.finditer(text))


def normalize_with_offsets(text: str) -> Normalized:
    """Normalised text with, for each of its characters, the source span it came from."""
    if _is_stable(text):
        positions = list(range(len(text)))
        return Normalized(text, positions, [p + 1 for p in positions])
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for match in _SEGMENT.finditer(text):
        folded = _fold(match.group())
        pieces.append(folded)
        starts.extend([match.start()] * len(folded))
        ends.extend([match.end()] * len(folded))
    return Normalized("".join(pieces), starts, ends)


_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with each lone surrogate (what a JSON escape such as `"\\udc80"` or undecodable argv
    makes, and no encoding can carry) replaced by U+FFFD; a pair read from JSON is one character already."""
    return _SURROGATE.sub("\ufffd", text)
