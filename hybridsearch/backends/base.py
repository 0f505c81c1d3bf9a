"""The backend door: where chunks, their BM25 weights and their vectors live, read (`Backend`) and
written (`Writer`). The query pipeline (`search.py`) and the indexing flow (`writer.py`) talk only
to these protocols; `local` is the embedded store, other engines register a scheme (`qdrant://…`).

A backend names its chunks by `keys` (int64, its own: positions in a local generation, point ids in
an engine); fusion works on them, and hits carry the chunks' stable string ids instead.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..config import IndexConfig
from ..encoders import ModelSpec
from ..filters import Filter
from ..schema import Chunk, Document, StoredChunk, StoredDocument

__all__ = ["Backend", "Batch", "PendingChanges", "Side", "Writer"]


@dataclass(frozen=True)
class Side:
    """One side's candidates for a query: keys and raw scores, best first; for BM25, `best` is the most
    any chunk could score for the query (its terms at their highest weights; 0 when unknown) and
    `without_dense` those of its keys whose chunks have no vectors yet (None: every chunk has them)."""

    keys: np.ndarray
    scores: np.ndarray
    best: float = 0.0
    without_dense: np.ndarray | None = None

    @classmethod
    def empty(cls) -> Side:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float32))


class Backend(Protocol):
    """A readable index: one consistent state (a generation) of its chunks. Safe to call from many
    threads at once; `close` releases every handle."""

    location: str
    config: IndexConfig
    model: ModelSpec

    @property
    def version(self) -> str:
        """What state is being read (a generation's name); changes with every write."""
        ...

    @property
    def num_chunks(self) -> int: ...

    @property
    def num_vectors(self) -> int:
        """How many chunks have their vectors (fewer than `num_chunks` while they fill in, `filling.py`)."""
        ...

    def has_vectors(self, keys: Sequence[int] | np.ndarray) -> np.ndarray:
        """For each chunk: has it its vectors yet? One without is no dense candidate and competes on its
        BM25 side alone."""
        ...

    def count(self, where: Filter | None) -> int:
        """How many chunks the filter keeps (all of them for None); an unknown field is an `InputError`."""
        ...

    def sparse(self, terms: Sequence[str], depth: int, where: Filter | None) -> Side:
        """The `depth` best chunks by BM25 for the query terms, among those `where` keeps."""
        ...

    def dense(self, vector: np.ndarray, depth: int, where: Filter | None) -> Side:
        """The `depth` best chunks by dense score (cosine, mixed with the best sentence's when the
        index has sentence vectors), among those `where` keeps."""
        ...

    def chunks(self, keys: Sequence[int]) -> list[StoredChunk]:
        """The chunks of these keys, in order."""
        ...

    def matched_terms(self, terms: Sequence[str], keys: Sequence[int]) -> list[list[str]]:
        """For each chunk, the distinct query terms that occur in it, in query order."""
        ...

    def sentence_scores(self, vector: np.ndarray, keys: Sequence[int]) -> list[np.ndarray]:
        """For each chunk, the cosine of each of its sentence vectors to `vector`, in sentence order
        (`chunking.sentence_spans`); empty for a chunk of one sentence or an index without them."""
        ...

    def get(self, id: str) -> StoredChunk | StoredDocument:
        """The chunk or document with this id (a document with its text and chunks); `NotFoundError` if none."""
        ...

    def documents(self) -> list[StoredDocument]:
        """Every document, without text."""
        ...

    def fields(self, where: Filter | None = None) -> list[str]:
        """The metadata fields the documents (those `where` keeps) have (what `where` can name)."""
        ...

    def has_field(self, field: str) -> bool:
        """Whether some document has the metadata field `field` (cheaply: may say yes when none has)."""
        ...

    def field_values(self, limit: int = 50, where: Filter | None = None) -> dict[str, list[Any]]:
        """The fields with at most `limit` distinct values among the documents `where` keeps, and
        those values (choices for a search page)."""
        ...

    def info(self) -> dict[str, Any]: ...

    def check(self) -> list[str]:
        """A full consistency check; the problems found (empty when none)."""
        ...

    def newer(self) -> Backend | None:
        """The index's newest state when it is newer than this one, else None."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Batch:
    """New documents with everything an index stores about their chunks, aligned with `chunks`:
    term counts, vectors (float32, L2-normalised) and, with sentence vectors, each chunk's number of
    sentence rows and the rows themselves (float16). `has_vector` (only for a writer that is
    `progressive`): which chunks have their vectors yet; the others have zero vectors and no sentence
    rows until `filling` adds them."""

    documents: Sequence[Document]
    chunks: Sequence[Chunk]
    counts: Sequence[Mapping[str, float]]
    vectors: np.ndarray
    sentence_counts: np.ndarray | None = None
    sentence_vectors: np.ndarray | None = None
    has_vector: np.ndarray | None = None


class Writer(Protocol):
    """A write to an index, under its writer lock: remove and add documents, then `commit` makes the
    result visible to readers at once (nothing is visible before). Leaving without committing
    changes nothing."""

    location: str
    config: IndexConfig | None  # the index's settings (None: there is no index yet, or --rebuild)
    model: ModelSpec | None
    sources: list[str]
    progressive: bool  # can commit chunks without their vectors (`Batch.has_vector`; local indexes)
    unfilled: int  # chunks without their vectors in the live state (after `commit`: in the one it made)

    def documents(self) -> list[StoredDocument]:
        """The documents the index holds now (none for a new index)."""
        ...

    def remove(self, document_ids: Collection[str]) -> None: ...

    def add(self, batch: Batch) -> None: ...

    def reweight(self) -> None:
        """Have `commit` compute every BM25 weight from the index's true average chunk length (an
        engine that stores weights keeps them while the average drifts a little)."""
        ...

    def commit(self, config: IndexConfig, model: ModelSpec, sources: Sequence[str]) -> None: ...

    def __enter__(self) -> Writer: ...

    def __exit__(self, *exc: object) -> None: ...


class PendingChanges:
    """What a writer collects before its `commit`: the documents to drop and the batches to add (a
    writer sets `old`, the backend it read, and the two collections in its `__init__`)."""

    old: Backend | None
    _removed: set[str]
    _batches: list[Batch]
    _exact_weights = False  # set by `reweight`; a local index computes its weights afresh at every commit
    progressive = False
    unfilled = 0

    def documents(self) -> list[StoredDocument]:
        """The documents the index holds now (none for a new index)."""
        return self.old.documents() if self.old is not None else []

    def remove(self, document_ids: Collection[str]) -> None:
        self._removed.update(document_ids)

    def add(self, batch: Batch) -> None:
        self._batches.append(batch)

    def reweight(self) -> None:
        self._exact_weights = True
