"""Reading an index in Qdrant: `QdrantBackend`, one generation opened (filters, both candidate
searches, chunks and documents, checks)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...config import IndexConfig
from ...encoders import ModelSpec
from ...errors import IndexFormatError, IndexNotFoundError, InputError, NotFoundError
from ...filters import Filter, MetadataTable
from ...schema import StoredChunk, StoredDocument
from ...scoring.dense import with_best_sentence
from ..base import Side
from .client import CLIENTS, damaged, engine_models, read_state, scroll, stored_term_ids, visible
from .location import Target, parse_location

__all__ = ["QdrantBackend", "qdrant_config"]

_BEST_KEPT = 100_000  # terms whose best weight a reader keeps (it starts again past this …
_BEST_FOR = 60.0  # … or after this many seconds)
_EXACT_LIMIT = 20_000  # dense search scans every chunk up to this many (as the local backend does)


def qdrant_config(location: str) -> IndexConfig | None:
    """The settings of the index at `location`, or None when there is none yet."""
    target = parse_location(location)
    client = CLIENTS.take(target)
    try:
        state = read_state(client, target)
        return IndexConfig.from_dict(state["config"]) if state else None
    finally:
        CLIENTS.give_back(target)


_DOCUMENT_FIELDS = ("path", "abs_path", "record", "title", "encoding", "sha256", "mtime", "size", "num_chunks")


def _stored_document(payload: Mapping[str, Any], text: bool = False) -> StoredDocument:
    fields = {name: payload[name] for name in _DOCUMENT_FIELDS}
    extra: dict[str, Any] = {}
    if text:
        extra = {"text": payload["text"], "chunks": tuple(tuple(chunk) for chunk in payload["chunks"])}
    return StoredDocument(id=payload["document_id"], metadata=payload["metadata"], **fields, **extra)


def _stored_chunk(payload: Mapping[str, Any]) -> StoredChunk:
    return StoredChunk(
        id=payload["chunk_id"], document_id=payload["document_id"], ordinal=payload["ordinal"],
        start=payload["start"], end=payload["end"], text=payload["text"], location=payload["location"],
        path=payload["path"], record=payload["record"], title=payload["title"], metadata=payload["metadata"],
    )  # fmt: skip


class QdrantBackend:
    """One generation of an index in a Qdrant collection, opened for reading (see `Backend`)."""

    def __init__(self, target: Target, client: Any, state: dict[str, Any]) -> None:
        self.target = target
        self.location = target.location
        self.client = client
        self.state = state
        self.generation = int(state["generation"])
        self.config = IndexConfig.from_dict(state["config"])
        self.model = ModelSpec(**state["model"])
        self.collection = str(state["collection"])  # the one behind the alias: a rebuild moves the alias, not this
        self._lock = threading.Lock()
        self._documents: list[StoredDocument] | None = None
        self._table: MetadataTable | None = None
        self._terms: dict[str, int] = {}  # looked up on a server (-1: not in the index)
        self._every_term: dict[str, int] | None = None  # local mode: every term, read at the first lookup
        self._best_weight: dict[int, float] = {}  # a term's highest BM25 weight in this generation …
        self._best_since = time.monotonic()  # … as the engine gave it since then (see `_best`)

    @classmethod
    def open(cls, location: str) -> QdrantBackend:
        target = parse_location(location)
        client = CLIENTS.take(target)
        try:
            state = read_state(client, target)
            if state is None:
                raise IndexNotFoundError(
                    f"No index at {location}; create one with: hsearch index PATH --index {location}"
                )
            with damaged(target):
                return cls(target, client, state)
        except BaseException:
            CLIENTS.give_back(target)
            raise

    @property
    def version(self) -> str:
        return f"gen-{self.generation:06d}"

    @property
    def num_chunks(self) -> int:
        return int(self.state["counts"]["chunks"])

    @property
    def num_vectors(self) -> int:
        return self.num_chunks  # written in one phase: every chunk has its vectors

    def has_vectors(self, keys: Sequence[int] | np.ndarray) -> np.ndarray:
        return np.ones(len(keys), bool)

    # --- filters -----------------------------------------------------------------------------------

    def _document_list(self) -> list[StoredDocument]:
        with self._lock:
            if self._documents is None:
                records = scroll(self.client, self.collection, visible(self.generation, "document"),
                                  payload=_without_text())  # fmt: skip
                self._documents = sorted((_stored_document(r.payload) for r in records), key=lambda d: d.id)
            return self._documents

    def _metadata(self) -> MetadataTable:
        documents = self._document_list()
        with self._lock:
            if self._table is None:
                self._table = MetadataTable([document.metadata for document in documents])
            return self._table

    def _where(self, where: Filter | None) -> list[Any] | None:
        """The payload conditions that keep the chunks of the documents `where` keeps (None: no
        filter). The filter is evaluated on the documents' metadata as the local backend does, and
        pushed into both candidate searches as the list of matching document ids."""
        if where is None:
            return []
        keep = self._metadata().mask(where)
        documents = self._document_list()
        ids = [documents[i].id for i in np.flatnonzero(keep)]
        if not ids:
            return None
        m = engine_models()
        return [m.FieldCondition(key="document_id", match=m.MatchAny(any=ids))]

    def fields(self, where: Filter | None = None) -> list[str]:
        return sorted(self._metadata().fields_of(where))

    def field_values(self, limit: int = 50, where: Filter | None = None) -> dict[str, list[Any]]:
        return self._metadata().values(limit, where)

    def has_field(self, field: str) -> bool:
        return field in self._metadata().fields

    def count(self, where: Filter | None) -> int:
        conditions = self._where(where)
        if conditions is None:
            return 0
        if not conditions:
            return self.num_chunks
        found = self.client.count(self.collection, count_filter=visible(self.generation, "chunk", *conditions))
        return int(found.count)

    # --- candidates --------------------------------------------------------------------------------

    def term_ids(self, terms: Sequence[str]) -> dict[str, int]:
        """The ids of those `terms` the index has (looked up once per backend; in local mode every
        term is read at the first lookup)."""
        if not self.target.url:
            with self._lock:
                if self._every_term is None:
                    self._every_term = stored_term_ids(self.client, self.target, None)
            return {term: self._every_term[term] for term in terms if term in self._every_term}
        wanted = [term for term in dict.fromkeys(terms) if term not in self._terms]
        if wanted:
            found = stored_term_ids(self.client, self.target, wanted)
            with self._lock:
                self._terms.update(found)
                self._terms.update({term: -1 for term in wanted if term not in found})
        return {term: self._terms[term] for term in terms if self._terms.get(term, -1) >= 0}

    def sparse(self, terms: Sequence[str], depth: int, where: Filter | None) -> Side:
        conditions = self._where(where)
        ids = self.term_ids(terms)
        counts = Counter(ids[term] for term in terms if term in ids)
        if conditions is None or depth <= 0:
            return Side.empty()
        found = []
        if counts:
            m = engine_models()
            query = m.SparseVector(indices=list(counts), values=[float(times) for times in counts.values()])
            found = self.client.query_points(
                self.collection, query=query, using="bm25", limit=depth,
                query_filter=visible(self.generation, "chunk", *conditions), with_payload=False,
            ).points  # fmt: skip
        keys = [point.id for point in found]
        scores = [point.score for point in found]
        if len(keys) < depth:  # as the local backend: chunks without the terms follow at 0, by key
            others = self._keys_without(keys, depth - len(keys), conditions)
            keys, scores = keys + others, scores + [0.0] * len(others)
        best = self._best(counts, conditions) if counts else 0.0
        return Side(np.array(keys, np.int64), np.array(scores, np.float64), best)

    def _keys_without(self, keys: Sequence[int], count: int, conditions: list[Any]) -> list[int]:
        """The lowest `count` keys of visible chunks (meeting `conditions`) other than `keys`."""
        m = engine_models()
        where = visible(self.generation, "chunk", *conditions)
        if keys:
            where.must_not.append(m.HasIdCondition(has_id=list(keys)))
        records, _ = self.client.scroll(self.collection, scroll_filter=where, limit=count, with_payload=False)
        return [int(record.id) for record in records]

    def _best(self, counts: Mapping[int, int], conditions: list[Any]) -> float:
        """The most a chunk could score: each term's highest weight in the index (its best chunk for
        that term alone; with `conditions`, among the chunks they keep), times its count in the
        query. A reader keeps what the engine said without conditions for `_BEST_FOR` seconds: the
        engine's IDF counts the points of a write under way, and of the one just made visible until
        the points it replaced are deleted."""
        m = engine_models()
        with self._lock:
            if len(self._best_weight) > _BEST_KEPT or time.monotonic() - self._best_since > _BEST_FOR:
                self._best_weight, self._best_since = {}, time.monotonic()
            kept = self._best_weight if not conditions else {}
            known = {term: kept[term] for term in counts if term in kept}
        unknown = [term for term in counts if term not in known]
        if unknown:
            requests = [
                m.QueryRequest(
                    query=m.SparseVector(indices=[term], values=[1.0]),
                    using="bm25",
                    limit=1,
                    filter=visible(self.generation, "chunk", *conditions),
                )  # fmt: skip
                for term in unknown
            ]
            answers = self.client.query_batch_points(self.collection, requests=requests)
            asked = {term: answer.points[0].score if answer.points else 0.0 for term, answer in zip(unknown, answers)}
            known |= asked
            if not conditions:
                with self._lock:
                    self._best_weight |= asked
        return float(sum(times * known[term] for term, times in counts.items()))

    def dense(self, vector: np.ndarray, depth: int, where: Filter | None) -> Side:
        conditions = self._where(where)
        if conditions is None or depth <= 0:
            return Side.empty()
        m = engine_models()
        query = np.asarray(vector, dtype=np.float32).tolist()
        exact = m.SearchParams(exact=True) if self.target.url and self.num_chunks <= _EXACT_LIMIT else None
        found = self.client.query_points(
            self.collection, query=query, using="dense", limit=depth, search_params=exact,
            query_filter=visible(self.generation, "chunk", *conditions), with_payload=False,
        ).points  # fmt: skip
        keys = np.array([point.id for point in found], np.int64)
        scores = np.array([point.score for point in found], np.float32)
        if self.config.dense.sentences and len(keys):
            best = self.client.query_points(
                self.collection, query=[query], using="sentences", limit=len(keys),
                query_filter=m.Filter(must=[m.HasIdCondition(has_id=keys.tolist())]), with_payload=False,
            ).points  # fmt: skip
            by_key = {point.id: point.score for point in best}
            owners = np.array([int(key) in by_key for key in keys])
            if owners.any():
                sentence = np.array([by_key[int(key)] for key in keys[owners]], np.float32)
                scores[owners] = with_best_sentence(scores[owners], sentence)
            order = np.argsort(-scores, kind="stable")
            keys, scores = keys[order], scores[order]
        return Side(keys, scores)

    # --- reading -----------------------------------------------------------------------------------

    def _records(self, keys: Sequence[int]) -> list[Any]:
        found = {record.id: record for record in self.client.retrieve(self.collection, ids=list(keys))}
        missing = [key for key in keys if key not in found]
        if missing:
            raise IndexFormatError(f"Index {self.location} lost chunk points {missing[:5]} while being read.")
        return [found[key] for key in keys]

    def chunks(self, keys: Sequence[int]) -> list[StoredChunk]:
        return [_stored_chunk(record.payload) for record in self._records([int(key) for key in keys])]

    def matched_terms(self, terms: Sequence[str], keys: Sequence[int]) -> list[list[str]]:
        ids = self.term_ids(terms)
        unique = [term for term in dict.fromkeys(terms) if term in ids]
        matched = []
        for record in self._records([int(key) for key in keys]):
            present = set(record.payload["term_ids"])
            matched.append([term for term in unique if ids[term] in present])
        return matched

    def sentence_scores(self, vector: np.ndarray, keys: Sequence[int]) -> list[np.ndarray]:
        if not self.config.dense.sentences or not len(keys):
            return [np.zeros(0, np.float32) for _ in keys]
        ids = [int(key) for key in keys]
        found = self.client.retrieve(self.collection, ids=ids, with_payload=False, with_vectors=["sentences"])
        by_key = {record.id: (record.vector or {}).get("sentences") for record in found}
        query = np.asarray(vector, dtype=np.float32)
        return [np.asarray(by_key.get(key) or np.zeros((0, len(query))), np.float32) @ query for key in ids]

    def get(self, id: str) -> StoredChunk | StoredDocument:
        if not isinstance(id, str):
            raise InputError(f"An id is text, such as a hit's `id` or `document_id` (got {id!r}).")
        m = engine_models()
        for kind, key, build in (("chunk", "chunk_id", _stored_chunk), ("document", "document_id", None)):
            where = visible(self.generation, kind, m.FieldCondition(key=key, match=m.MatchValue(value=id)))
            records, _ = self.client.scroll(self.collection, scroll_filter=where, limit=1, with_payload=True)
            if records:
                return build(records[0].payload) if build else _stored_document(records[0].payload, text=True)
        raise NotFoundError.of_id(self.location, id)

    def documents(self) -> list[StoredDocument]:
        return list(self._document_list())

    def info(self) -> dict[str, Any]:
        state = {key: value for key, value in self.state.items() if key not in ("kind", "added")}
        engine = f"Qdrant {'server ' + self.target.url if self.target.url else 'local mode'}"
        return state | {
            "path": self.location, "generation": self.version, "vectors": "dense + bm25 sparse", "engine": engine,
            "checked": "chunk and document points agree with the index's counts and its average length",
        }  # fmt: skip

    def check(self) -> list[str]:
        """Chunk, document and sentence points against the counts of the index's state."""
        problems = []
        counts = self.state["counts"]
        for kind in ("chunk", "document"):
            found = self.client.count(self.collection, count_filter=visible(self.generation, kind)).count
            expected = counts[kind + "s"]
            if found != expected:
                problems.append(f"{kind} points: {found}, the index's state says {expected}")
        documents = self._document_list()
        if sum(document.num_chunks for document in documents) != counts["chunks"]:
            problems.append("the documents' chunk counts do not add up to the chunk points")
        m = engine_models()
        average = float(self.state["lengths"]["average"])
        stale = visible(self.generation, "chunk")
        stale.must_not.append(m.FieldCondition(key="average", range=m.Range(gte=average, lte=average)))
        found = self.client.count(self.collection, count_filter=stale).count
        if found:
            problems.append(f"{found} chunks have BM25 weights for another average length than {average:.2f}")
        return problems

    def newer(self) -> QdrantBackend | None:
        state = read_state(self.client, self.target)
        if state is None or int(state["generation"]) <= self.generation:
            return None
        return QdrantBackend.open(self.location)

    def close(self) -> None:
        if self.client is not None:
            self.client = None
            CLIENTS.give_back(self.target)


def _without_text() -> Any:
    """Payload selector: every field but the text and the chunk list (document listings)."""
    return engine_models().PayloadSelectorExclude(exclude=["text", "chunks"])
