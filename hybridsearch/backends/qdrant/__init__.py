"""The Qdrant backend (DESIGN.md §9): the same index in a Qdrant collection, our tokenizer, encoder and
fusion on top. Locations:

    qdrant://HOST:PORT/COLLECTION      a server (API key from $HSEARCH_QDRANT_API_KEY, if set)
    qdrants://HOST:PORT/COLLECTION     the same over TLS
    qdrant+local://PATH/COLLECTION     qdrant-client's local mode: in-process, stored under PATH

One collection holds everything, behind an alias named COLLECTION (a rebuild writes a new collection
and moves the alias in one step):

- a chunk is a point with the named vectors `dense` (our L2-normalised vector, dot product),
  `sentences` (its sentences' vectors, a float16 multivector, as the local backend stores them;
  the dense score mixes in the best one) and
  `bm25` (sparse: per term, the tf and length part of the BM25 weight; the engine multiplies in the
  IDF, `modifier: idf`, which is Lucene's as ours is), and its text, offsets, location and its
  document's fields as payload;
- a document is a point without vectors (its text and chunk list), and point 0 holds the index's
  state: settings, model, counts and the generation number;
- terms get their ids for the sparse vectors from a second collection, COLLECTION--terms, whose point
  ids they are: handed out in order and never reused, so two terms never share one, and the same
  across updates and rebuilds.

Every write is a new generation: points written by it carry `added = G`, the points it replaces are
marked `removed = G`, and readers see a point when `added <= their G < removed`; a write becomes
visible when point 0 says G, then the replaced points are deleted. Term weights use one average
chunk length for the whole index; a write that moves the true average more than `REWEIGHT_DRIFT`
from it re-weights every chunk.
"""

from __future__ import annotations

import io
import itertools
import os
import pickle
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ...config import BM25Variant, IndexConfig
from ...encoders import ModelSpec
from ...errors import HybridSearchError, IndexFormatError, IndexNotFoundError, InputError, NotFoundError
from ...filters import Filter, MetadataTable
from ...schema import StoredChunk, StoredDocument
from ...version import __version__
from ..base import Batch, PendingChanges, Side
from ..local.vectors import with_best_sentence
from .lock import WriterLock, reason

__all__ = ["QdrantBackend", "QdrantWriter", "parse_location", "qdrant_config"]

SCHEMES = ("qdrant", "qdrants", "qdrant+local")
API_KEY_ENV = "HSEARCH_QDRANT_API_KEY"
FORMAT = 1
_STATE = 0  # the point that holds the index's state
_PAGE = 1000  # points per scroll page and per upsert
_BEST_KEPT = 100_000  # terms whose best weight a reader keeps (it starts again past this …
_BEST_FOR = 60.0  # … or after this many seconds)
_EXACT_LIMIT = 20_000  # dense search scans every chunk up to this many (as the local backend does)
#: BM25 weights use one average chunk length; a write re-weights every chunk when the true average
#: has drifted further than this share from it (0: always, so scores equal a fresh build). Measured
#: (bench/bm25_drift.py): a drift of 37 % keeps 99 % of first hits and nDCG@10 within 0.002.
REWEIGHT_DRIFT = 0.1


@dataclass(frozen=True)
class Target:
    """Where an index lives: a server URL or a local-mode folder, and the collection (alias) name."""

    location: str
    collection: str
    url: str = ""
    path: str = ""
    shards: int | None = None  # for a new collection on a server: shard_number …
    replicas: int | None = None  # … and replication_factor (None: the server's defaults)


def parse_location(location: str) -> Target:
    """`qdrant://HOST:PORT/NAME`, `qdrants://…` or `qdrant+local://PATH/NAME` as a `Target`; a server
    location may end in `?shards=N&replicas=M` (used when the collection is created)."""
    scheme, _, rest = location.partition("://")
    rest, _, query = rest.partition("?")
    where, _, collection = rest.rstrip("/").rpartition("/")
    if "--" in collection:
        raise InputError(
            f"{location}: an index name cannot hold '--' (hybridsearch names its own collections NAME--…)."
        )
    if scheme not in SCHEMES or not where or not collection:
        raise InputError(
            f"Not a Qdrant index location: {location!r}; use qdrant://HOST:PORT/COLLECTION, "
            "qdrants://HOST:PORT/COLLECTION or qdrant+local://PATH/COLLECTION."
        )
    if scheme == "qdrant+local":
        if query:
            raise InputError(f"{location}: local mode has no shards or replicas; drop {'?' + query!r}.")
        return Target(location, collection, path=where)
    options = dict(part.partition("=")[::2] for part in query.split("&") if part)
    unknown = set(options) - {"shards", "replicas"}
    if unknown or not all(value.isdigit() and int(value) > 0 for value in options.values()):
        raise InputError(f"{location}: the options are shards=N and replicas=N (whole numbers from 1).")
    numbers = {key: int(value) for key, value in options.items()}
    url = ("https://" if scheme == "qdrants" else "http://") + where
    return Target(location, collection, url=url, shards=numbers.get("shards"), replicas=numbers.get("replicas"))


class _SafePickle:
    """What qdrant-client's local storage unpickles its points with, limited to its own point models
    (and a few plain types): a local folder from someone else is data, and a pickle could run code."""

    _PLAIN = {("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"), ("uuid", "UUID"),
              ("datetime", "datetime"), ("datetime", "date")}  # fmt: skip

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            models = module == "qdrant_client.http.models" or module.startswith("qdrant_client.http.models.")
            if "." not in name and (models or (module, name) in _SafePickle._PLAIN):  # a dotted name walks attributes
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"a local Qdrant folder may not hold {module}.{name}")

    dumps = staticmethod(pickle.dumps)
    HIGHEST_PROTOCOL = pickle.HIGHEST_PROTOCOL
    DEFAULT_PROTOCOL = pickle.DEFAULT_PROTOCOL

    @staticmethod
    def loads(data: bytes) -> Any:
        return _SafePickle._Unpickler(io.BytesIO(data)).load()


def _guard_local_storage() -> None:
    from qdrant_client.local import persistence

    persistence.pickle = _SafePickle  # type: ignore[assignment,attr-defined]


class _Clients:
    """One client per server or local folder in this process (local mode locks its folder, so a
    reader and a writer of one folder must share a client), counted by who holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[Any, int]] = {}

    def take(self, target: Target) -> Any:
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            raise InputError("Qdrant indexes need qdrant-client: pip install 'hybridsearch[qdrant]'") from None
        key = target.url or os.path.realpath(target.path)
        with self._lock:
            client, count = self._held.get(key, (None, 0))
            if client is None:
                try:
                    if target.url:
                        client = QdrantClient(url=target.url, api_key=os.environ.get(API_KEY_ENV) or None)
                    else:
                        _guard_local_storage()
                        client = QdrantClient(path=target.path)
                except Exception as error:  # noqa: BLE001 - another process holds the folder, a bad URL…
                    raise InputError(f"Cannot open {target.location}: {reason(error)}") from None
            self._held[key] = (client, count + 1)
            return client

    def give_back(self, target: Target) -> None:
        key = target.url or os.path.realpath(target.path)
        with self._lock:
            client, count = self._held[key]
            if count > 1:
                self._held[key] = (client, count - 1)
                return
            del self._held[key]
            client.close()  # under the lock: a local folder is unlocked before another client opens it


_CLIENTS = _Clients()


def _models() -> Any:
    from qdrant_client import models

    return models


@contextmanager
def _damaged(target: Target) -> Iterator[None]:
    """What an index holds is data from anyone: a field missing or of the wrong type is an IndexFormatError."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise IndexFormatError(f"{target.location} holds a damaged hybridsearch index ({error!r}).") from None


def _state(client: Any, target: Target, any_format: bool = False) -> dict[str, Any] | None:
    """The index's state (point 0), or None when there is no such collection yet (`any_format`: do
    not refuse a state of another format, which a rebuild replaces)."""
    try:
        if not client.collection_exists(target.collection):
            return None
        found = client.retrieve(target.collection, ids=[_STATE], with_payload=True)
    except Exception as error:  # noqa: BLE001 - connection refused, a server's error response…
        raise InputError(f"Cannot read {target.location}: {reason(error)}") from None
    if not found or not isinstance(found[0].payload, dict) or found[0].payload.get("kind") != "index":
        raise IndexFormatError(f"{target.location} is a Qdrant collection, but not a hybridsearch index.")
    state = dict(found[0].payload)
    if state.get("format") != FORMAT and not any_format:
        raise IndexFormatError(
            f"{target.location} has index format {state.get('format')!r}; this version reads {FORMAT} "
            f"(rebuild it: hsearch index PATH --index {target.location} --rebuild)."
        )
    return state


def qdrant_config(location: str) -> IndexConfig | None:
    """The settings of the index at `location`, or None when there is none yet."""
    target = parse_location(location)
    client = _CLIENTS.take(target)
    try:
        state = _state(client, target)
        return IndexConfig.from_dict(state["config"]) if state else None
    finally:
        _CLIENTS.give_back(target)


def _visible(generation: int, kind: str, *more: Any) -> Any:
    """The filter of points of `kind` that a reader of `generation` sees."""
    m = _models()
    return m.Filter(
        must=[
            m.FieldCondition(key="kind", match=m.MatchValue(value=kind)),
            m.FieldCondition(key="added", range=m.Range(lte=generation)),
            *more,
        ],
        must_not=[m.FieldCondition(key="removed", range=m.Range(lte=generation))],
    )


def _scroll(client: Any, collection: str, where: Any, payload: Any = True) -> Iterator[Any]:
    offset = None
    while True:
        records, offset = client.scroll(
            collection, scroll_filter=where, limit=_PAGE, offset=offset, with_payload=payload, with_vectors=False
        )
        yield from records
        if offset is None:
            return


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
        client = _CLIENTS.take(target)
        try:
            state = _state(client, target)
            if state is None:
                raise IndexNotFoundError(
                    f"No index at {location}; create one with: hsearch index PATH --index {location}"
                )
            with _damaged(target):
                return cls(target, client, state)
        except BaseException:
            _CLIENTS.give_back(target)
            raise

    @property
    def version(self) -> str:
        return f"gen-{self.generation:06d}"

    @property
    def num_chunks(self) -> int:
        return int(self.state["counts"]["chunks"])

    # --- filters -----------------------------------------------------------------------------------

    def _document_list(self) -> list[StoredDocument]:
        with self._lock:
            if self._documents is None:
                records = _scroll(self.client, self.collection, _visible(self.generation, "document"),
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
        m = _models()
        return [m.FieldCondition(key="document_id", match=m.MatchAny(any=ids))]

    def fields(self) -> list[str]:
        return sorted(self._metadata().fields)

    def field_values(self, limit: int = 50) -> dict[str, list[Any]]:
        return self._metadata().values(limit)

    def count(self, where: Filter | None) -> int:
        conditions = self._where(where)
        if conditions is None:
            return 0
        if not conditions:
            return self.num_chunks
        found = self.client.count(self.collection, count_filter=_visible(self.generation, "chunk", *conditions))
        return int(found.count)

    # --- candidates --------------------------------------------------------------------------------

    def term_ids(self, terms: Sequence[str]) -> dict[str, int]:
        """The ids of those `terms` the index has (looked up once per backend; in local mode every
        term is read at the first lookup)."""
        if not self.target.url:
            with self._lock:
                if self._every_term is None:
                    self._every_term = _term_ids(self.client, self.target, None)
            return {term: self._every_term[term] for term in terms if term in self._every_term}
        wanted = [term for term in dict.fromkeys(terms) if term not in self._terms]
        if wanted:
            found = _term_ids(self.client, self.target, wanted)
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
            m = _models()
            query = m.SparseVector(indices=list(counts), values=[float(times) for times in counts.values()])
            found = self.client.query_points(
                self.collection, query=query, using="bm25", limit=depth,
                query_filter=_visible(self.generation, "chunk", *conditions), with_payload=False,
            ).points  # fmt: skip
        keys = [point.id for point in found]
        scores = [point.score for point in found]
        if len(keys) < depth:  # as the local backend: chunks without the terms follow at 0, by key
            others = self._keys_without(keys, depth - len(keys), conditions)
            keys, scores = keys + others, scores + [0.0] * len(others)
        return Side(np.array(keys, np.int64), np.array(scores, np.float64), self._best(counts) if counts else 0.0)

    def _keys_without(self, keys: Sequence[int], count: int, conditions: list[Any]) -> list[int]:
        """The lowest `count` keys of visible chunks (meeting `conditions`) other than `keys`."""
        m = _models()
        where = _visible(self.generation, "chunk", *conditions)
        if keys:
            where.must_not.append(m.HasIdCondition(has_id=list(keys)))
        records, _ = self.client.scroll(self.collection, scroll_filter=where, limit=count, with_payload=False)
        return [int(record.id) for record in records]

    def _best(self, counts: Mapping[int, int]) -> float:
        """The most a chunk could score: each term's highest weight in the index (its best chunk for
        that term alone), times its count in the query. A reader keeps what the engine said for
        `_BEST_FOR` seconds: the engine's IDF counts the points of a write under way, and of the one
        just made visible until the points it replaced are deleted."""
        m = _models()
        with self._lock:
            if len(self._best_weight) > _BEST_KEPT or time.monotonic() - self._best_since > _BEST_FOR:
                self._best_weight, self._best_since = {}, time.monotonic()
            known = {term: self._best_weight[term] for term in counts if term in self._best_weight}
        unknown = [term for term in counts if term not in known]
        if unknown:
            requests = [
                m.QueryRequest(
                    query=m.SparseVector(indices=[term], values=[1.0]),
                    using="bm25",
                    limit=1,
                    filter=_visible(self.generation, "chunk"),
                )  # fmt: skip
                for term in unknown
            ]
            answers = self.client.query_batch_points(self.collection, requests=requests)
            asked = {term: answer.points[0].score if answer.points else 0.0 for term, answer in zip(unknown, answers)}
            known |= asked
            with self._lock:
                self._best_weight |= asked
        return float(sum(times * known[term] for term, times in counts.items()))

    def dense(self, vector: np.ndarray, depth: int, where: Filter | None) -> Side:
        conditions = self._where(where)
        if conditions is None or depth <= 0:
            return Side.empty()
        m = _models()
        query = np.asarray(vector, dtype=np.float32).tolist()
        exact = m.SearchParams(exact=True) if self.target.url and self.num_chunks <= _EXACT_LIMIT else None
        found = self.client.query_points(
            self.collection, query=query, using="dense", limit=depth, search_params=exact,
            query_filter=_visible(self.generation, "chunk", *conditions), with_payload=False,
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

    def get(self, id: str) -> StoredChunk | StoredDocument:
        if not isinstance(id, str):
            raise InputError(f"An id is text, such as a hit's `id` or `document_id` (got {id!r}).")
        m = _models()
        for kind, key, build in (("chunk", "chunk_id", _stored_chunk), ("document", "document_id", None)):
            where = _visible(self.generation, kind, m.FieldCondition(key=key, match=m.MatchValue(value=id)))
            records, _ = self.client.scroll(self.collection, scroll_filter=where, limit=1, with_payload=True)
            if records:
                return build(records[0].payload) if build else _stored_document(records[0].payload, text=True)
        raise NotFoundError(f"Index {self.location} has no chunk or document with id {id!r}.")

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
            found = self.client.count(self.collection, count_filter=_visible(self.generation, kind)).count
            expected = counts[kind + "s"]
            if found != expected:
                problems.append(f"{kind} points: {found}, the index's state says {expected}")
        documents = self._document_list()
        if sum(document.num_chunks for document in documents) != counts["chunks"]:
            problems.append("the documents' chunk counts do not add up to the chunk points")
        m = _models()
        average = float(self.state["lengths"]["average"])
        stale = _visible(self.generation, "chunk")
        stale.must_not.append(m.FieldCondition(key="average", range=m.Range(gte=average, lte=average)))
        found = self.client.count(self.collection, count_filter=stale).count
        if found:
            problems.append(f"{found} chunks have BM25 weights for another average length than {average:.2f}")
        return problems

    def newer(self) -> QdrantBackend | None:
        state = _state(self.client, self.target)
        if state is None or int(state["generation"]) <= self.generation:
            return None
        return QdrantBackend.open(self.location)

    def close(self) -> None:
        if self.client is not None:
            self.client = None
            _CLIENTS.give_back(self.target)


def _without_text() -> Any:
    """Payload selector: every field but the text and the chunk list (document listings)."""
    return _models().PayloadSelectorExclude(exclude=["text", "chunks"])


def _terms(target: Target) -> str:
    """The collection that gives terms their ids (shared by every generation and rebuild of the index;
    no index can have its name, which holds '--')."""
    return f"{target.collection}--terms"


def _writer_lock(target: Target) -> str:
    """The collection that is the index's writer lock while a writer holds it (see `lock.py`)."""
    return f"{target.collection}--writer"


def _term_ids(client: Any, target: Target, terms: Sequence[str] | None) -> dict[str, int]:
    """The stored ids of those `terms` that have one (of every term for None). A server looks them up
    in its payload index; local mode, which scans every point for every filter, reads all terms once."""
    m = _models()
    found: dict[str, int] = {}
    if not client.collection_exists(_terms(target)):
        return found
    if not target.url or terms is None:
        every = {record.payload["term"]: int(record.id) for record in _scroll(client, _terms(target), None)}
        return every if terms is None else {term: every[term] for term in terms if term in every}
    for start in range(0, len(terms), _PAGE):
        where = m.Filter(must=[m.FieldCondition(key="term", match=m.MatchAny(any=list(terms[start : start + _PAGE])))])
        for record in _scroll(client, _terms(target), where):
            found[record.payload["term"]] = int(record.id)
    return found


class QdrantWriter(PendingChanges):
    """A write to an index in a Qdrant collection (see `Writer`): `commit` writes generation G+1's
    points, makes them visible by writing point 0, then deletes the points it replaced. It holds the
    index's writer lock (`NAME--writer`, see `lock.py`) from `__enter__` to `__exit__`."""

    def __init__(self, location: str, rebuild: bool = False) -> None:
        self.target = parse_location(location)
        self.location = location
        self._rebuild = rebuild
        self.client: Any = None
        self.state: dict[str, Any] | None = None
        self.old: QdrantBackend | None = None
        self.config: IndexConfig | None = None
        self.model: ModelSpec | None = None
        self.sources: list[str] = []
        self._removed: set[str] = set()
        self._batches: list[Batch] = []
        self._lock: WriterLock | None = None
        self._terms_counted = False  # whether this write has counted the terms collection yet

    def __enter__(self) -> QdrantWriter:
        self.client = _CLIENTS.take(self.target)
        try:
            lock = WriterLock(self.client, _writer_lock(self.target), self.location, server=bool(self.target.url))
            self._lock = lock.__enter__()
            self.state = _state(self.client, self.target, any_format=self._rebuild)
            if self.state is not None and not self._rebuild:
                with _damaged(self.target):
                    self.old = QdrantBackend(self.target, self.client, self.state)
                self.config, self.model = self.old.config, self.old.model
                self.sources = list(self.state.get("sources", []))
        except BaseException as error:
            self.__exit__(type(error), error, error.__traceback__)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._lock is not None:
                lock, self._lock = self._lock, None
                try:
                    lock.__exit__(None, None, None)
                except InputError:
                    if exc[0] is None:  # else the write's own error says more; the lock goes stale
                        raise
        finally:
            if self.client is not None:
                self.client = None
                _CLIENTS.give_back(self.target)

    def _still_mine(self, ask: bool = False) -> None:
        """Stop (IndexLockedError) unless this writer still holds the index's writer lock: called
        before every request that changes what the index holds. A server writer asks the engine
        when `ask` (else its lease says), a local one always (it costs little there)."""
        assert self._lock is not None, "a QdrantWriter writes inside its `with`"
        self._lock.confirm(ask=ask or not self.target.url)

    def commit(self, config: IndexConfig, model: ModelSpec, sources: Sequence[str]) -> None:
        if config.bm25.variant is not BM25Variant.LUCENE:
            raise InputError(
                f"{self.location}: Qdrant applies Lucene's IDF; BM25 variant {config.bm25.variant} needs a local index."
            )
        try:
            self._commit(config, model, sources)
        except HybridSearchError:
            raise
        except Exception as error:  # noqa: BLE001 - a dropped connection, a server's error response…
            raise InputError(  # what was written is undone by the next write
                f"Cannot write {self.location}: {reason(error)}; nothing of this write became visible."
            ) from None

    def _commit(self, config: IndexConfig, model: ModelSpec, sources: Sequence[str]) -> None:
        m = _models()
        self._still_mine(ask=True)
        client, alias = self.client, self.target.collection
        previous = self.state if self.old is not None else None
        generation = int(self.state["generation"]) + 1 if self.state else 1  # a rebuild goes on counting
        before: list[str] = []
        if previous is None:  # a new index, or a rebuild into a new collection
            before = self._alias_targets()
            for retired in (self.state or {}).get("retired", []):  # what the rebuild before this one retired
                if retired not in before and self.client.collection_exists(retired):
                    self.client.delete_collection(retired)
        collection = alias if previous else self._new_collection(model, config)
        counters = dict(previous["counters"]) if previous else {"point": _STATE + 1}
        if self.state and "term" in self.state.get("counters", {}):  # a rebuild keeps handing out term ids
            counters["term"] = int(self.state["counters"]["term"])
        lengths = dict(previous["lengths"]) if previous else {"total": 0.0, "chunks": 0, "sentences": 0}
        documents = int(previous["counts"]["documents"]) if previous else 0
        if previous:
            self._undo_unfinished(collection, generation, config, float(lengths["average"]))
        if self._removed and previous:
            gone = m.FieldCondition(key="document_id", match=m.MatchAny(any=sorted(self._removed)))
            for kind in ("chunk", "document"):
                for record in _scroll(
                    client, collection, _visible(generation - 1, kind, gone), ["length", "sentences"]
                ):
                    if kind == "chunk":
                        lengths["total"] -= float(record.payload["length"])
                        lengths["chunks"] -= 1
                        lengths["sentences"] -= int(record.payload["sentences"])
                    else:
                        documents -= 1
            self._still_mine()
            client.set_payload(
                collection, payload={"removed": generation}, points=_visible(generation - 1, "chunk", gone)
            )
            client.set_payload(
                collection, payload={"removed": generation}, points=_visible(generation - 1, "document", gone)
            )
        for batch in self._batches:
            documents += len(batch.documents)
            lengths["chunks"] += len(batch.chunks)
            lengths["total"] += float(sum(sum(counts.values()) for counts in batch.counts))
            lengths["sentences"] += int(batch.sentence_counts.sum()) if batch.sentence_counts is not None else 0
        true = lengths["total"] / lengths["chunks"] if lengths["total"] > 0 else 1.0
        average = float(lengths.get("average", 0.0))  # the average every stored weight was computed with
        if self._exact_weights or not average or abs(true - average) > REWEIGHT_DRIFT * true:
            average = true
            if previous:
                self._reweight(collection, generation, config, average)
        for batch in self._batches:
            self._write_batch(collection, batch, generation, config, average, counters)
        state = {
            "kind": "index", "format": FORMAT, "generation": generation, "added": 0,
            "collection": previous.get("collection", alias) if previous else collection,  # behind the alias
            "retired": previous.get("retired", []) if previous else before,
            "config": config.to_dict(), "model": model.to_dict(), "sources": list(sources),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "hybridsearch_version": __version__,
            "counts": {"documents": documents, "chunks": int(lengths["chunks"]), "sentences": int(lengths["sentences"]),
                       "terms": counters.get("term", 0)},  # term ids handed out (a vocabulary never shrinks)
            "counters": counters, "lengths": lengths | {"average": average},
        }  # fmt: skip
        self._still_mine(ask=previous is not None)  # an update becomes visible with point 0 …
        client.upsert(collection, points=[m.PointStruct(id=_STATE, vector={}, payload=state)])
        if previous is None:
            self._still_mine(ask=True)  # … a new collection when the alias moves to it
            self._point_alias(collection, before)
        else:
            client.delete(collection, points_selector=m.FilterSelector(filter=m.Filter(
                must=[m.FieldCondition(key="removed", range=m.Range(lte=generation))])))  # fmt: skip

    def _undo_unfinished(self, collection: str, generation: int, config: IndexConfig, average: float) -> None:
        """Drop what a write of `generation` that did not finish (a crash) left: its points, its marks
        on the points it was replacing (so that they do not become visible with this write), and
        weights it had already rewritten for another average length."""
        m = _models()
        unfinished = [m.FieldCondition(key="added", range=m.Range(gte=generation))]
        self._still_mine()
        self.client.delete(collection, points_selector=m.FilterSelector(filter=m.Filter(must=unfinished)))
        marked = m.Filter(must=[m.FieldCondition(key="removed", range=m.Range(gte=generation))])
        self.client.delete_payload(collection, keys=["removed"], points=marked)
        self._reweight(collection, generation, config, average)

    def _new_collection(self, model: ModelSpec, config: IndexConfig) -> str:
        """A new collection for this index (its alias is moved to it once it is complete)."""
        m = _models()
        name = f"{self.target.collection}--{os.urandom(4).hex()}"
        vectors = {"dense": m.VectorParams(size=model.dim, distance=m.Distance.DOT)}
        if config.dense.sentences:
            vectors["sentences"] = m.VectorParams(
                size=model.dim, distance=m.Distance.DOT, datatype=m.Datatype.FLOAT16,  # as the local backend's
                multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
            )  # fmt: skip
        self.client.create_collection(
            name, vectors_config=vectors, sparse_vectors_config={"bm25": m.SparseVectorParams(modifier=m.Modifier.IDF)},
            shard_number=self.target.shards, replication_factor=self.target.replicas,
        )  # fmt: skip
        if not self.target.url:  # local mode scans every point; payload indexes are for servers
            return name
        keyword, integer = m.PayloadSchemaType.KEYWORD, m.PayloadSchemaType.INTEGER
        indexed = {"kind": keyword, "document_id": keyword, "chunk_id": keyword, "added": integer, "removed": integer}
        for field, schema in indexed.items():
            self.client.create_payload_index(name, field_name=field, field_schema=schema)
        return name

    def _alias_targets(self) -> list[str]:
        """The collections the alias points at now (none for a new index); an existing collection of
        that name that is not an alias is refused before anything is written."""
        alias = self.target.collection
        before = [a.collection_name for a in self.client.get_aliases().aliases if a.alias_name == alias]
        if self.client.collection_exists(alias) and not before:
            raise InputError(f"{self.location}: a collection named {alias!r} exists and is not a hybridsearch alias.")
        return before

    def _point_alias(self, collection: str, before: list[str]) -> None:
        """Point the alias at `collection` in one step (the collections it pointed at stay, retired,
        for readers that opened them, until the next rebuild deletes them)."""
        m = _models()
        alias = self.target.collection
        operations = [m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=alias))] if before else []
        operations.append(
            m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=collection, alias_name=alias))
        )
        self.client.update_collection_aliases(change_aliases_operations=operations)

    def _term_ids(self, terms: Collection[str], counters: dict[str, int]) -> dict[str, int]:
        """Ids for `terms`: the stored ones, and new ones for the others (handed out in order, never
        reused: a term's id is its point's id in the terms collection)."""
        m = _models()
        collection = _terms(self.target)
        if not self.client.collection_exists(collection):
            self.client.create_collection(collection, vectors_config={})
            if self.target.url:
                self.client.create_payload_index(
                    collection, field_name="term", field_schema=m.PayloadSchemaType.KEYWORD
                )
        ordered = sorted(terms)
        found = _term_ids(self.client, self.target, ordered)
        new = [term for term in ordered if term not in found]
        if not self._terms_counted:  # ids are dense: a write that died may have handed out more than
            stored = self.client.count(collection, exact=True).count  # the state counts
            counters["term"] = max(int(counters.get("term", 0)), stored)
            self._terms_counted = True
        first = counters["term"]
        counters["term"] += len(new)
        points = [m.PointStruct(id=first + i, vector={}, payload={"term": term}) for i, term in enumerate(new)]
        found.update((term, first + i) for i, term in enumerate(new))
        for start in range(0, len(points), _PAGE):
            self._still_mine()
            self.client.upsert(collection, points=points[start : start + _PAGE])
        return found

    def _write_batch(self, collection: str, batch: Batch, generation: int, config: IndexConfig, average: float,
                     counters: dict[str, int]) -> None:  # fmt: skip
        m = _models()
        ids = self._term_ids({term for counts in batch.counts for term in counts}, counters)
        documents = {document.id: document for document in batch.documents}
        chunks_of: dict[str, list[tuple[str, int, int]]] = {}
        sentence_ends = np.cumsum(batch.sentence_counts) if batch.sentence_counts is not None else None
        points = []
        for row, (chunk, counts) in enumerate(zip(batch.chunks, batch.counts)):
            document = documents[chunk.document_id]
            chunks_of.setdefault(chunk.document_id, []).append((chunk.id, chunk.start, chunk.end))
            terms = sorted((ids[term], float(count)) for term, count in counts.items())
            length = float(sum(counts.values()))
            vector: dict[str, Any] = {
                "dense": batch.vectors[row].astype(np.float32).tolist(),
                "bm25": m.SparseVector(
                    indices=[t for t, _ in terms], values=_tf_parts([c for _, c in terms], length, average, config)
                ),
            }  # fmt: skip
            if sentence_ends is not None and batch.sentence_vectors is not None:
                first = int(sentence_ends[row - 1]) if row else 0
                if sentence_ends[row] > first:
                    sentences = batch.sentence_vectors[first : int(sentence_ends[row])]  # float16 values, also
                    vector["sentences"] = sentences.astype(np.float16).astype(np.float32).tolist()  # in local mode
            payload = {
                "kind": "chunk", "added": generation, "chunk_id": chunk.id, "document_id": chunk.document_id,
                "ordinal": chunk.ordinal, "start": chunk.start, "end": chunk.end, "text": chunk.text,
                "location": dict(chunk.location), "path": document.path, "record": document.record,
                "title": document.title, "metadata": dict(document.metadata), "length": length,
                "term_ids": [t for t, _ in terms], "term_counts": [c for _, c in terms],
                "sentences": len(vector.get("sentences", ())), "average": average,
            }  # fmt: skip
            points.append(m.PointStruct(id=counters["point"], vector=vector, payload=payload))
            counters["point"] += 1
        for document in batch.documents:
            payload = {
                "kind": "document", "added": generation, "document_id": document.id, "path": document.path,
                "abs_path": document.abs_path, "record": document.record, "title": document.title,
                "encoding": document.encoding, "sha256": document.sha256, "mtime": document.mtime,
                "size": document.size, "metadata": dict(document.metadata), "text": document.text,
                "num_chunks": len(chunks_of.get(document.id, [])), "chunks": chunks_of.get(document.id, []),
            }  # fmt: skip
            points.append(m.PointStruct(id=counters["point"], vector={}, payload=payload))
            counters["point"] += 1
        for start in range(0, len(points), _PAGE // 4):
            self._still_mine()
            self.client.upsert(collection, points=points[start : start + _PAGE // 4])

    def _reweight(self, collection: str, generation: int, config: IndexConfig, average: float) -> None:
        """Rewrite the BM25 weights, for a new average chunk length, of every chunk the index keeps
        whose weights were computed with another (each chunk's payload says which it used)."""
        m = _models()
        kept = _visible(generation, "chunk")  # written before `generation` and not replaced by it
        kept.must_not.append(m.FieldCondition(key="average", range=m.Range(gte=average, lte=average)))
        records = _scroll(self.client, collection, kept, ["term_ids", "term_counts", "length"])
        while page := list(itertools.islice(records, _PAGE)):
            self._still_mine()
            updates = [
                m.PointVectors(id=record.id, vector={"bm25": m.SparseVector(
                    indices=record.payload["term_ids"],
                    values=_tf_parts(record.payload["term_counts"], float(record.payload["length"]), average, config),
                )})
                for record in page
            ]  # fmt: skip
            self.client.update_vectors(collection, points=updates)
            self.client.set_payload(collection, payload={"average": average}, points=[record.id for record in page])


def _tf_parts(counts: Sequence[float], length: float, average: float, config: IndexConfig) -> list[float]:
    """The tf and length part of each term's BM25 weight in a chunk (the engine multiplies in the IDF)."""
    k1, b = config.bm25.k1, config.bm25.b
    norm = k1 * (1 - b + b * length / average)
    return [count * (k1 + 1) / (count + norm) for count in counts]
