"""After fusion, before hits are built: fold copies of one passage together, and keep one hit per document.

- **Near-duplicates** (`collapse`, on by default): a chunk whose text is the same as a better-ranked
  chunk's, or nearly (the same manual saved twice, v1 and v2 of a page), is not a hit of its own: it
  is listed among that hit's `copies`. Texts are compared after NFKC and lower-casing, with
  whitespace and punctuation removed, by the Jaccard similarity of their character 3-grams: at least
  `NEAR_DUPLICATE` (0.9) is a copy. Only chunks of *different* documents are folded (a document's own
  chunks overlap by design).
- **One text in two formats** (given `get_document`, a document by its id: `Backend.get`): a 規程 .docx and
  the PDF exported from it, or a .md and a .txt of one text (other suffixes, and one name or title),
  chunk differently (PDF lines joined, list numbers drawn, running headers dropped), so their chunks
  are seldom 0.9-similar. A chunk
  also folds into a better-ranked chunk of another document when

  1. the two *documents* are one text: their letters (as above) are compared in order, sentences
     whole and then letter by letter where they differ, and at most 1 % of the longer one's letters
     (`SAME_DOCUMENT` = 0.99 line up), or `NOISE` (32) letters in a short one, are not found in the
     other. A .docx and the PDF LibreOffice exports from it measure 0–3 letters apart in 1,700–3,500
     (the list numbers Word draws), 13–24 when the PDF has one or two pages and so keeps its running
     header and page numbers; next year's version of the 規程 with one article of 45–60 rewritten
     measures 1.6–2.9 % apart, and is another document. And
  2. the two chunks are one *passage*: at least `SAME_PASSAGE` (97 %) of each one's letters line up
     with the other document, and they cover at least a quarter of the shorter one in common (more
     than neighbouring chunks share). A passage of a one-text copy that was edited (a clause
     rewritten) stays a hit of its own; one letter changed (五営業日 → 七営業日) folds, as between
     chunks.

  The better-ranked chunk is kept, whatever its format: it is the one that answers the query best
  (its score, highlights and answer are the evidence), the fused ranking stays as it was, and the
  hit names the other copies, so the reader opens the format they want. A fixed rule (the editable
  file, the newest) would put a passage that matched less well in the better one's place, and file
  dates change when a file is copied. With `group_by="document"`, a document folded into another's
  hit this way counts as that document from then on: its later chunks add to the hit's `more`.

  Cost: only candidates ranked before the k-th hit are compared so (later ones cannot take a hit's
  place); two chunks only if they start at about the same place in their documents (within a tenth
  of the offset, give or take a chunk) and share half the smaller one's 3-grams; two documents only
  if their letters number within 5 % of each other. Each document is read once per search and
  compared once with another; one longer than `MAX_DOCUMENT_CHARS` never, and a search reads at most
  `READ_BUDGET` characters of documents (then chunks fold by their own text only). Everything is
  kept for one call, so searches on many threads share nothing, and a new index generation is read
  through the backend the search holds.
- **One hit per document** (`group_by="document"`): the best chunk of each document, with `more` =
  how many other chunks of that document were among the ranked candidates.

All of these work on the fused ranking's first `pool_size(k)` candidates and keep its order.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import accumulate
from pathlib import PurePath
from typing import Protocol

from .errors import InputError
from .schema import StoredChunk
from .textnorm import folded_name

__all__ = [
    "GROUP_BY",
    "HasText",
    "MAX_DOCUMENT_CHARS",
    "NEAR_DUPLICATE",
    "NOISE",
    "READ_BUDGET",
    "SAME_DOCUMENT",
    "SAME_PASSAGE",
    "DocumentGetter",
    "Grouped",
    "check_group_by",
    "difference",
    "group",
    "pool_size",
    "same_document",
    "shingles",
]

NEAR_DUPLICATE = 0.9
#: two documents are one text when this share of the longer one's letters line up with the other's…
SAME_DOCUMENT = 0.99
#: … or when no more than this many letters do not (what a short PDF keeps of its page furniture)
NOISE = 32
#: a chunk is one passage with another document's chunk when this share of each one's letters line up
SAME_PASSAGE = 0.97
#: a document longer than this (characters, about 150 pages) is not compared with others
MAX_DOCUMENT_CHARS = 300_000
#: the most characters of documents one search reads to compare them
READ_BUDGET = 1_000_000
GROUP_BY = ("document",)


class HasText(Protocol):
    """A document as `Backend.get` returns one: what grouping reads of it is its text, path and title."""

    @property
    def text(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def title(self) -> str: ...


#: a document by its id (`Backend.get`)
DocumentGetter = Callable[[str], HasText]

_SHINGLE = 3
_IGNORED = re.compile(r"[\s\W_]+")
_SENTENCE = re.compile(r"[^。！？.!?]*(?:[。！？.!?]|\Z)")  # a sentence, with its end (line breaks in it)
_OVERLAP_HINT = 0.5  # share of the smaller chunk's 3-grams in the other's: only then are their documents read
_DRIFT = 0.1  # of its offset: how far one passage may move between two formats of one text
_ABOUT = 0.95  # texts whose letters number less than this share of the other's are not compared
_SHARED = 0.25  # share of the shorter chunk that two chunks of one text cover in common to be one passage
_MIN_RUN = 4  # letters of differing sentences that line up in shorter runs (a particle) count as different
#: sentences of two documents compared at most (the product of their counts): a log of one repeated
#: line made a search take 10 s
_MAX_PIECE_PAIRS = 2_000_000
_MAX_LETTER_DIFF = 250_000  # differing sentences compared letter by letter at most (product of their lengths)


def check_group_by(group_by: str | None) -> str | None:
    """`group_by` if it is None or a known grouping, else an `InputError`."""
    if group_by is None or group_by in GROUP_BY:
        return group_by
    raise InputError(f"Cannot group by {group_by!r}: the choices are {', '.join(GROUP_BY)}.")


def pool_size(k: int) -> int:
    """How many fused candidates grouping and collapsing look at to return `k` hits."""
    return max(100, 10 * k)


@dataclass
class Grouped:
    """A kept candidate (its position in the fused ranking and its chunk, already read), its copies and
    its document's other chunks."""

    position: int
    chunk: StoredChunk
    copies: list[StoredChunk] = field(default_factory=list)
    more: int = 0


def _letters(text: str) -> str:
    """`text` as compared: NFKC, lower case, without whitespace and punctuation."""
    text = text.replace("\u3000", " ")  # what NFKC makes of it; without it, Japanese text is mostly NFKC already
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _IGNORED.sub("", text.lower())


def shingles(text: str) -> frozenset[str]:
    """The character 3-grams of `text` after normalisation, without whitespace and punctuation."""
    letters = _letters(text)
    if len(letters) <= _SHINGLE:
        return frozenset({letters})
    return frozenset(letters[i : i + _SHINGLE] for i in range(len(letters) - _SHINGLE + 1))


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    smaller, larger = sorted((len(a), len(b)))
    if not larger or smaller < NEAR_DUPLICATE * larger:  # Jaccard ≤ smaller / larger: cannot reach it
        return False
    common = len(a & b)
    return common / (len(a) + len(b) - common) >= NEAR_DUPLICATE


def _overlapping(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether the smaller 3-gram set shares at least `_OVERLAP_HINT` of itself with the other."""
    smaller = min(len(a), len(b))
    return smaller > 0 and len(a & b) >= _OVERLAP_HINT * smaller


def _pair(a: StoredChunk, b: StoredChunk) -> tuple[str, str]:
    """The two chunks' documents, in order."""
    first, second = sorted((a.document_id, b.document_id))
    return first, second


def _nearby(a: StoredChunk, b: StoredChunk) -> bool:
    """Whether two chunks start at about the same place in their documents (`_DRIFT`, give or take a
    chunk), as one passage of one text does whatever the format's spaces, line breaks and marks."""
    return abs(a.start - b.start) <= _DRIFT * max(a.end, b.end) + max(a.end - a.start, b.end - b.start)


@dataclass(frozen=True)
class _Text:
    """A document's text cut into sentences (`pieces`, each as its letters, empty ones
    left out), where each piece starts in the text (`starts`) and in all the letters (`offsets`,
    one more: the end)."""

    text: str
    pieces: list[str]
    starts: list[int]
    offsets: list[int]

    @classmethod
    def of(cls, text: str) -> _Text:
        pieces, starts = [], []
        for found in _SENTENCE.finditer(text):
            letters = _letters(found.group())
            if letters:
                pieces.append(letters)
                starts.append(found.start())
        return cls(text, pieces, starts, list(accumulate(map(len, pieces), initial=0)))

    @property
    def size(self) -> int:
        """How many letters the text has."""
        return self.offsets[-1]

    def at(self, offset: int) -> int:
        """Where the text's character `offset` falls among its letters."""
        piece = bisect_right(self.starts, offset) - 1
        if piece < 0:
            return 0
        before = len(_letters(self.text[self.starts[piece] : offset]))
        return min(self.offsets[piece] + before, self.offsets[piece + 1])


@dataclass(frozen=True)
class _Alignment:
    """The runs of letters that line up between two texts, in order: each run's start in the first
    text's letters, in the second's, and its length."""

    starts: tuple[list[int], list[int]]
    sizes: list[int]

    @property
    def matched(self) -> int:
        return sum(self.sizes)

    def span(self, side: int, start: int, end: int) -> tuple[int, int, int]:
        """Of the letters [start, end) of text `side` (0 or 1): how many line up, and the first and
        last-plus-one letters of the other text they line up with (0, 0 when none do)."""
        mine, theirs = self.starts[side], self.starts[1 - side]
        run = max(bisect_right(mine, start) - 1, 0)
        matched, first, last = 0, -1, 0
        while run < len(mine) and mine[run] < end:
            low, high = max(mine[run], start), min(mine[run] + self.sizes[run], end)
            if low < high:
                matched += high - low
                first = theirs[run] + low - mine[run] if first < 0 else first
                last = theirs[run] + high - mine[run]
            run += 1
        return matched, max(first, 0), last


def _align(a: _Text, b: _Text, needed: int) -> _Alignment | None:
    """The letters of `a` and `b` that line up (sentences compared whole, then those that
    differ letter by letter, in runs of `_MIN_RUN` or more), or None when fewer than `needed` do."""
    steps = SequenceMatcher(None, a.pieces, b.pieces, autojunk=False).get_opcodes()
    whole = sum(a.offsets[i2] - a.offsets[i1] for step, i1, i2, _, _ in steps if step == "equal")
    at_most = sum(
        min(a.offsets[i2] - a.offsets[i1], b.offsets[j2] - b.offsets[j1])
        for step, i1, i2, j1, j2 in steps
        if step == "replace"
    )
    if whole + at_most < needed:
        return None
    starts: tuple[list[int], list[int]] = ([], [])
    sizes: list[int] = []
    for step, i1, i2, j1, j2 in steps:
        x, y = a.offsets[i1], b.offsets[j1]
        if step == "equal":
            runs = [(0, 0, a.offsets[i2] - x)]
        elif step == "replace" and (a.offsets[i2] - x) * (b.offsets[j2] - y) <= _MAX_LETTER_DIFF:
            mine, theirs = "".join(a.pieces[i1:i2]), "".join(b.pieces[j1:j2])
            matcher = SequenceMatcher(None, mine, theirs, autojunk=False)
            blocks = [(0, 0, len(mine))] if mine == theirs else matcher.get_matching_blocks()
            runs = [(first, second, size) for first, second, size in blocks if size >= _MIN_RUN]
        else:
            continue
        for first, second, size in runs:
            starts[0].append(x + first)
            starts[1].append(y + second)
            sizes.append(size)
    alignment = _Alignment(starts, sizes)
    return alignment if alignment.matched >= needed else None


def _needed(a: _Text, b: _Text) -> int:
    """How many letters must line up for two texts to be one (`SAME_DOCUMENT`, `NOISE`)."""
    longer = max(a.size, b.size)
    return max(longer - max(NOISE, int((1 - SAME_DOCUMENT) * longer)), 1)


def difference(a: str, b: str) -> int:
    """How many letters of the longer of two texts do not line up with the other (as compared for
    `same_document`: NFKC, lower case, no whitespace or punctuation)."""
    first, second = _Text.of(a), _Text.of(b)
    alignment = _align(first, second, 0)
    return max(first.size, second.size) - (alignment.matched if alignment else 0)


def same_document(a: str, b: str) -> bool:
    """Whether two documents' texts are one text (`SAME_DOCUMENT`, `NOISE`)."""
    first, second = _Text.of(a), _Text.of(b)
    return _align(first, second, _needed(first, second)) is not None


class _Documents:
    """For one `group` call: documents read through `get_document` (each at most once, `READ_BUDGET`
    characters in all; cut into sentences only when their pair may be one text), the alignment of
    each pair that is one text (None: it is not), where each chunk lies among its document's
    letters, and the 3-grams of chunks that are not kept."""

    def __init__(self, get_document: DocumentGetter) -> None:
        self._get_document = get_document
        self._read: dict[str, tuple[str, int] | None] = {}
        self._names: dict[str, tuple[str, str, str]] = {}  # (stem, suffix, title) of each document read
        self._texts: dict[str, _Text] = {}
        self._alignments: dict[tuple[str, str], _Alignment | None] = {}
        self._spans: dict[str, tuple[int, int]] = {}
        self._shingles: dict[str, frozenset[str]] = {}
        self._budget = READ_BUDGET

    def _raw(self, document: str) -> tuple[str, int] | None:
        """The document's text and about how many letters it has (before NFKC, which changes few), or
        None when it is too long or the budget is spent."""
        if document not in self._read:
            self._read[document] = None
            if self._budget > 0:
                stored = self._get_document(document)
                text = stored.text
                path = PurePath(stored.path.replace("\\", "/"))
                self._names[document] = (folded_name(path.stem), path.suffix.lower(), folded_name(stored.title))
                self._budget -= len(text)
                if len(text) <= MAX_DOCUMENT_CHARS:
                    self._read[document] = (text, len(text) - sum(map(len, _IGNORED.findall(text))))
        return self._read[document]

    def _text(self, document: str, raw: str) -> _Text:
        if document not in self._texts:
            self._texts[document] = _Text.of(raw)
        return self._texts[document]

    def _alignment(self, a: StoredChunk, b: StoredChunk) -> tuple[_Alignment, int] | None:
        """How the chunks' (different) documents line up, when they are one text, and which side of it
        `a`'s document is; None when they are not."""
        key = _pair(a, b)
        if key not in self._alignments:
            self._alignments[key] = self._align(*key) if max(a.end, b.end) <= MAX_DOCUMENT_CHARS else None
        alignment = self._alignments[key]
        return None if alignment is None else (alignment, 0 if a.document_id == key[0] else 1)

    def _align(self, a: str, b: str) -> _Alignment | None:
        first = self._raw(a)
        second = self._raw(b) if first is not None else None
        if first is None or second is None or min(first[1], second[1]) < _ABOUT * max(first[1], second[1]):
            return None
        if not self._one_file(a, b):
            return None
        cut, other = self._text(a, first[0]), self._text(b, second[0])
        if len(cut.pieces) * len(other.pieces) > _MAX_PIECE_PAIRS:  # bounded work, whatever the text
            return None
        needed = _needed(cut, other)
        return _align(cut, other, needed) if min(cut.size, other.size) >= needed else None

    def _one_file(self, a: str, b: str) -> bool:
        """Whether two documents may be one file saved in two formats: other suffixes, and the same
        name (規程.docx, 規程.pdf) or the same title. Two 規程 written from one template (正社員, 契約社員)
        differ in a few letters that matter, and never fold."""
        (stem, suffix, title), (other_stem, other_suffix, other_title) = self._names[a], self._names[b]
        return suffix != other_suffix and (stem == other_stem or bool(title) and title == other_title)

    def one_text(self, a: StoredChunk, b: StoredChunk) -> bool:
        """Whether the two chunks' (different) documents are one text."""
        return self._alignment(a, b) is not None

    def _span(self, chunk: StoredChunk) -> tuple[int, int]:
        """Where the chunk lies among its document's letters (its document cut)."""
        if chunk.id not in self._spans:
            text = self._texts[chunk.document_id]
            self._spans[chunk.id] = (text.at(chunk.start), text.at(chunk.end))
        return self._spans[chunk.id]

    def shingles(self, chunk: StoredChunk) -> frozenset[str]:
        """The chunk's 3-grams (`shingles`), computed once."""
        if chunk.id not in self._shingles:
            self._shingles[chunk.id] = shingles(chunk.text)
        return self._shingles[chunk.id]

    def same_passage(
        self, chunk: StoredChunk, own: frozenset[str], kept: StoredChunk, other: frozenset[str] | None = None
    ) -> bool:
        """Whether `chunk` is `kept`'s passage in a copy of its document: they start at about the same
        place and share 3-grams (`other`: `kept`'s, when known), their documents are one text,
        `SAME_PASSAGE` of each one's letters line up with the other document, and they cover at least
        `_SHARED` of the shorter one in common."""
        known = self._alignments.get(_pair(chunk, kept), True)  # None: their documents are not one text
        if known is None or not _nearby(chunk, kept):
            return False
        if not _overlapping(own, self.shingles(kept) if other is None else other):
            return False
        found = self._alignment(chunk, kept)
        if found is None:
            return False
        alignment, side = found
        (start, end), (kept_start, kept_end) = self._span(chunk), self._span(kept)
        matched, first, last = alignment.span(side, start, end)
        kept_matched, _, _ = alignment.span(1 - side, kept_start, kept_end)
        shared = min(last, kept_end) - max(first, kept_start)
        return (
            matched >= SAME_PASSAGE * (end - start)
            and kept_matched >= SAME_PASSAGE * (kept_end - kept_start)
            and shared >= _SHARED * min(end - start, kept_end - kept_start)
        )


def group(
    ranked: Iterable[StoredChunk],
    k: int,
    group_by: str | None,
    collapse: bool,
    get_document: DocumentGetter | None = None,
) -> list[Grouped]:
    """Of the fused candidates' chunks in order, the first `k` that survive collapsing (copies folded
    into the better-ranked one) and grouping (one per document), in fused order. With
    `get_document` (a document by its id: `Backend.get`), collapsing also folds a passage of a document
    that is one text with a better hit's (another format of it; see the module's docstring); None:
    chunks are compared by their own text only."""
    kept: list[Grouped] = []
    kept_shingles: list[frozenset[str]] = []  # of each kept candidate's chunk
    by_document: dict[str, Grouped] = {}  # with group_by: each document's entry, or the one it is a copy of
    counted: list[tuple[Grouped, StoredChunk]] = []  # with group_by and documents: the chunks in `more`
    documents = _Documents(get_document) if collapse and get_document is not None else None
    for position, chunk in enumerate(ranked):
        if group_by == "document" and chunk.document_id in by_document:
            by_document[chunk.document_id].more += 1
            if documents:
                counted.append((by_document[chunk.document_id], chunk))
            continue
        if collapse:
            own = shingles(chunk.text)
            across = documents if len(kept) < k else None  # later candidates cannot take a hit's place
            found = _original(chunk, own, zip(kept, kept_shingles), counted, across)
            if found is not None:
                original, matched = found
                original.copies.append(chunk)
                if group_by == "document" and across and across.one_text(chunk, matched):
                    by_document[chunk.document_id] = original
                continue
        if len(kept) == k:
            if group_by == "document":
                continue  # keep counting the kept documents' other chunks
            break
        entry = Grouped(position, chunk)
        kept.append(entry)
        if collapse:
            kept_shingles.append(own)
        by_document.setdefault(chunk.document_id, entry)
    return kept


def _original(
    chunk: StoredChunk,
    own: frozenset[str],
    kept: Iterable[tuple[Grouped, frozenset[str]]],
    counted: list[tuple[Grouped, StoredChunk]],
    documents: _Documents | None,
) -> tuple[Grouped, StoredChunk] | None:
    """The first (best-ranked) kept candidate of another document that `chunk` is a copy of, and the
    chunk it matched: nearly the same text, or (with `documents`) one passage in one text; then, by
    passage, the kept documents' chunks counted in their `more`. None if none."""
    for entry, other in kept:
        if entry.chunk.document_id != chunk.document_id and (
            _similar(own, other) or (documents is not None and documents.same_passage(chunk, own, entry.chunk, other))
        ):
            return entry, entry.chunk
    if documents is not None:
        for entry, candidate in counted:
            if candidate.document_id != chunk.document_id and documents.same_passage(chunk, own, candidate):
                return entry, candidate
    return None
