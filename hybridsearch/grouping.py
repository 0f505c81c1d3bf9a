"""After fusion, before hits are built: fold copies of one passage together, and keep one hit per document.

- **Near-duplicates** (`collapse`, on by default): a chunk whose text is the same as a better-ranked
  chunk's, or nearly (the same manual saved twice, v1 and v2 of a page), is not a hit of its own: it
  is listed among that hit's `copies`. Texts are compared after NFKC and lower-casing, with
  whitespace and punctuation removed, by the Jaccard similarity of their character 3-grams: at least
  `NEAR_DUPLICATE` (0.9) is a copy. Only chunks of *different* documents are folded (a document's own
  chunks overlap by design).
- **One hit per document** (`group_by="document"`): the best chunk of each document, with `more` =
  how many other chunks of that document were among the ranked candidates.

Both work on the fused ranking's first `pool_size(k)` candidates and keep its order.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import InputError
from .schema import StoredChunk

__all__ = ["GROUP_BY", "NEAR_DUPLICATE", "Grouped", "check_group_by", "group", "pool_size", "shingles"]

NEAR_DUPLICATE = 0.9
GROUP_BY = ("document",)
_SHINGLE = 3
_IGNORED = re.compile(r"[\s\W_]+")


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


def shingles(text: str) -> frozenset[str]:
    """The character 3-grams of `text` after normalisation, without whitespace and punctuation."""
    letters = _IGNORED.sub("", unicodedata.normalize("NFKC", text).lower())
    if len(letters) <= _SHINGLE:
        return frozenset({letters})
    return frozenset(letters[i : i + _SHINGLE] for i in range(len(letters) - _SHINGLE + 1))


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    smaller, larger = sorted((len(a), len(b)))
    if not larger or smaller < NEAR_DUPLICATE * larger:  # Jaccard ≤ smaller / larger: cannot reach it
        return False
    common = len(a & b)
    return common / (len(a) + len(b) - common) >= NEAR_DUPLICATE


def group(ranked: Iterable[StoredChunk], k: int, group_by: str | None, collapse: bool) -> list[Grouped]:
    """Of the fused candidates' chunks in order, the first `k` that survive collapsing (copies folded
    into the better-ranked one) and grouping (one per document), in fused order."""
    kept: list[Grouped] = []
    kept_shingles: list[tuple[str, frozenset[str]]] = []  # (document, shingles) of each kept candidate
    by_document: dict[str, Grouped] = {}
    for position, chunk in enumerate(ranked):
        if group_by == "document" and chunk.document_id in by_document:
            by_document[chunk.document_id].more += 1
            continue
        if collapse:
            own = shingles(chunk.text)
            original = next((i for i, (document, other) in enumerate(kept_shingles)
                             if document != chunk.document_id and _similar(own, other)), None)  # fmt: skip
            if original is not None:
                kept[original].copies.append(chunk)
                continue
        if len(kept) == k:
            if group_by == "document":
                continue  # keep counting the kept documents' other chunks
            break
        entry = Grouped(position, chunk)
        kept.append(entry)
        if collapse:
            kept_shingles.append((chunk.document_id, own))
        by_document.setdefault(chunk.document_id, entry)
    return kept
