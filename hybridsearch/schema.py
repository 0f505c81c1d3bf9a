"""Records that flow between the stages: Document → Chunk → (stored) → Hit, and their stable ids.

A document's id is derived from where it comes from (its file's absolute path and, for a CSV/JSONL
row, its record id), so it stays the same across updates. A chunk's id is derived from its
document's id and its own text (with the count of equal texts before it in that document), so an
unchanged chunk keeps its id when the document is re-read, even if text before it changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .locations import Location, Region
from .snippets import snippet_dict

__all__ = [
    "Chunk",
    "Copy",
    "Document",
    "Hit",
    "Metadata",
    "StoredChunk",
    "StoredDocument",
    "chunk_ids",
    "document_id",
]

Metadata = Mapping[str, Any]  # field → text, number, bool, or a list of those (JSON-ready)

_DOCUMENT_ID_BYTES = 8  # 16 hex digits
_CHUNK_ID_BYTES = 6  # 12 more, after the document's id and a dash


def _digest(parts: Iterable[str], size: int) -> str:
    hasher = hashlib.blake2b(digest_size=size)
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\0")
    return hasher.hexdigest()


def document_id(abs_path: str, record: str = "") -> str:
    """The id of the document from file `abs_path` (and record `record` of a CSV/JSONL file)."""
    return _digest((abs_path, record), _DOCUMENT_ID_BYTES)


def chunk_ids(document: str, texts: Iterable[str]) -> list[str]:
    """Ids for a document's chunks, in order: `<document id>-<12 hex digits>` from each text and how
    many equal texts came before it; unique within the document."""
    seen: dict[str, int] = {}
    ids: list[str] = []
    taken: set[str] = set()
    for text in texts:
        occurrence = seen.get(text, 0)
        seen[text] = occurrence + 1
        chunk = f"{document}-{_digest((text, str(occurrence)), _CHUNK_ID_BYTES)}"
        while chunk in taken:  # two texts sharing 48 bits of hash: stay unique, deterministically
            occurrence += 1
            chunk = f"{document}-{_digest((text, str(occurrence)), _CHUNK_ID_BYTES)}"
        taken.add(chunk)
        ids.append(chunk)
    return ids


class _Sourced:
    """A record that knows its file (`path`) and its row of a CSV/JSONL file (`record`, or empty)."""

    path: str
    record: str

    @property
    def source(self) -> str:
        """`path`, or `path#record` for a record of a CSV/JSONL file."""
        return f"{self.path}#{self.record}" if self.record else self.path


@dataclass(frozen=True)
class Document(_Sourced):
    """One source text: a file, or one record of a CSV/JSONL file.

    `path` is the file as given under the indexed folder; `record` names the row of a CSV/JSONL file
    (empty for whole files). `title` is a real title (Markdown heading or front matter, HTML <title>,
    the record's title field) or empty. `abs_path` identifies the file across runs from other folders.
    `metadata` holds the source's own fields (front matter, other record columns, HTML <meta>);
    `fields` adds the built-in ones. Chunk offsets point into `text`. `regions` say where parts of
    the text lie in the source (pages, slides, sheets, sections; `locations.py`).
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
    metadata: Metadata = field(default_factory=dict)
    regions: tuple[Region, ...] = ()

    @property
    def id(self) -> str:
        return document_id(self.abs_path or self.path, self.record)


@dataclass(frozen=True)
class Chunk:
    """A span `[start, end)` of a document's text, the unit that BM25 and the encoder see, and where
    it lies in the source (`location`: page, slide, sheet and cells, or heading path; {} if unknown)."""

    id: str
    document_id: str
    ordinal: int
    start: int
    end: int
    text: str
    location: Location = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDocument(_Sourced):
    """A document as an index holds it: identity, built-in and source metadata, and (from `get`) its
    text and its chunks as `(id, start, end)`."""

    id: str
    path: str
    abs_path: str
    record: str
    title: str
    encoding: str
    sha256: str
    mtime: float
    size: int
    metadata: Metadata
    num_chunks: int
    text: str = ""
    chunks: tuple[tuple[str, int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready."""
        data = asdict(self)
        data["metadata"] = dict(self.metadata)
        data["chunks"] = [{"id": i, "start": s, "end": e} for i, s, e in self.chunks]
        return data


@dataclass(frozen=True, kw_only=True)
class StoredChunk(Chunk, _Sourced):
    """A chunk as read back from an index, with its document's identity and metadata."""

    path: str
    record: str
    title: str
    metadata: Metadata

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready."""
        return asdict(self) | {"metadata": dict(self.metadata), "location": dict(self.location), "source": self.source}


@dataclass(frozen=True)
class Copy:
    """A chunk folded into a hit because its text is (nearly) the hit's: where else the passage is."""

    id: str
    document_id: str
    source: str


@dataclass(frozen=True)
class Hit:
    """One search result with the evidence from both sides.

    `id` is the chunk's stable id (`HybridIndex.get(id)` returns it), `document_id` its document's.
    `bm25` and `dense` are raw scores (BM25 sum; cosine, mixed with the best sentence's); `bm25_norm`
    and `dense_norm` are the values after fusion normalisation, and
    `score = alpha * dense_norm + (1 - alpha) * bm25_norm`. The dense fields are None when the search
    ran with alpha = 0 (BM25 only, no model loaded). `matched_terms` are the query's BM25 terms
    the chunk holds (light words such as 為る, 日 and pairs with them still score but are not
    listed); `highlights` are the source spans `[start, end)` of the words in the chunk that match
    them (by BM25 term, so 行き in the text matches 行く in the query). `metadata` is the document's
    (built-in fields and the source's own). `copies` are the chunks of other documents with
    (nearly) the same text, folded into this hit; `more` is, when hits are grouped by document, how
    many other chunks of its document were also candidates.
    `rerank_score` is the cross-encoder's score when the search was reranked (the order is then its).
    `confidence` is the probability that the hit answers the query (`confidence.py`; None for a
    model without fitted weights). `answer_start` and `answer_end` are the source offsets of the
    sentence of the chunk that answers the query (`answers.py`): the snippet is centred on it, and
    `location` says where it lies in its source (page, slide, sheet and cells, heading path, with a
    `label`; {} when the source has no such parts). `weak`: its confidence is below the search's
    threshold (`request.SearchResponse`).
    """

    rank: int
    id: str
    document_id: str
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
    metadata: Metadata = field(default_factory=dict)
    matched_terms: tuple[str, ...] = ()
    highlights: tuple[tuple[int, int], ...] = ()
    copies: tuple[Copy, ...] = ()
    more: int = 0
    rerank_score: float | None = None
    confidence: float | None = None
    location: Location = field(default_factory=dict)
    weak: bool = False
    answer_start: int | None = None
    answer_end: int | None = None

    @property
    def chunk_highlights(self) -> list[tuple[int, int]]:
        """`highlights` as offsets into `text` (the chunk) instead of the source document."""
        return [(start - self.start, end - self.start) for start, end in self.highlights]

    @property
    def chunk_answer(self) -> tuple[int, int]:
        """The answering sentence as offsets into `text` (chosen from the matched words when the
        hit was made without one)."""
        if self.answer_start is not None and self.answer_end is not None:
            return self.answer_start - self.start, self.answer_end - self.start
        from .answers import answer_span  # answers imports chunking, which imports this module

        return answer_span(self.text, self.title, self.chunk_highlights)

    @property
    def answer(self) -> str:
        """The answering sentence's text (what a prompt quotes)."""
        start, end = self.chunk_answer
        return self.text[start:end]

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready, the answering sentence's text (`answer`) and the `snippet` it is
        shown with ({"text", "marks"})."""
        data = asdict(self)
        data["answer"] = self.answer
        data["metadata"] = dict(self.metadata)
        data["location"] = dict(self.location)
        data["matched_terms"] = list(self.matched_terms)
        data["highlights"] = [list(span) for span in self.highlights]
        data["copies"] = [asdict(copy) for copy in self.copies]
        data["snippet"] = snippet_dict(self)
        return data
