"""Records that flow between the stages: Document → Chunk → Hit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Chunk", "Document", "Hit"]


@dataclass(frozen=True)
class Document:
    """One decoded source text: a file, or one record of a CSV/JSONL file.

    `path` is the file as given under the indexed folder; `record` names the row of a CSV/JSONL file
    (empty for whole files). `title` is a real title (Markdown heading, HTML <title>, the record's
    title field) or empty. `abs_path` identifies the file across runs from other folders. Chunk offsets
    point into `text`.
    """

    path: str
    text: str
    title: str = ""
    record: str = ""
    abs_path: str = ""
    encoding: str = "utf-8"
    sha256: str = ""
    mtime: float = 0.0
    size: int = 0

    @property
    def source(self) -> str:
        """`path`, or `path#record` for a record of a CSV/JSONL file."""
        return f"{self.path}#{self.record}" if self.record else self.path


@dataclass(frozen=True)
class Chunk:
    """A span `[start, end)` of a document's text, the unit that BM25 and the encoder see."""

    doc_index: int
    ordinal: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    """One search result with the evidence from both sides.

    `bm25` and `dense` are raw scores (BM25 sum, cosine similarity); `bm25_norm` and `dense_norm`
    are the values after fusion normalisation, and `score = alpha * dense_norm + (1 - alpha) * bm25_norm`.
    The dense fields are None when the search ran with alpha = 0 (BM25 only, no model loaded).
    `highlights` are the source spans `[start, end)` of the words in the chunk that match query
    terms (by BM25 term, so 行き in the text matches 行く in the query).
    """

    rank: int
    chunk_id: int
    score: float
    bm25: float
    bm25_norm: float
    dense: float | None
    dense_norm: float | None
    source: str
    path: str
    record: str
    title: str
    text: str
    start: int
    end: int
    ordinal: int
    matched_terms: tuple[str, ...] = ()
    highlights: tuple[tuple[int, int], ...] = ()

    @property
    def chunk_highlights(self) -> list[tuple[int, int]]:
        """`highlights` as offsets into `text` (the chunk) instead of the source document."""
        return [(start - self.start, end - self.start) for start, end in self.highlights]

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready."""
        data = asdict(self)
        data["matched_terms"] = list(self.matched_terms)
        data["highlights"] = [list(span) for span in self.highlights]
        return data
