"""Writing an index in Qdrant: `QdrantWriter` (generations, the alias, term ids, BM25 weights and
re-weighting for a new average chunk length)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Collection, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ...config import BM25Variant, IndexConfig
from ...encoders import ModelSpec
from ...errors import HybridSearchError, InputError
from ...scoring.bm25 import length_norms, term_weights
from ...version import __version__
from ..base import Batch, PendingChanges
from .client import (
    CLIENTS,
    FORMAT,
    PAGE,
    STATE_POINT,
    damaged,
    engine_models,
    read_state,
    scroll,
    stored_term_ids,
    terms_collection,
    visible,
)
from .location import Target, parse_location
from .lock import WriterLock, reason
from .reader import QdrantBackend

__all__ = ["REWEIGHT_DRIFT", "QdrantWriter"]

#: BM25 weights use one average chunk length; a write re-weights every chunk when the true average
#: has drifted further than this share from it (0: always, so scores equal a fresh build). Measured
#: (bench/bm25_drift.py): a drift of 37 % keeps 99 % of first hits and nDCG@10 within 0.002.
REWEIGHT_DRIFT = 0.1


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
        self.client = CLIENTS.take(self.target)
        try:
            lock = WriterLock(self.client, _lock_collection(self.target), self.location, server=bool(self.target.url))
            self._lock = lock.__enter__()
            self.state = read_state(self.client, self.target, any_format=self._rebuild)
            if self.state is not None and not self._rebuild:
                with damaged(self.target):
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
                CLIENTS.give_back(self.target)

    @property
    def lock(self) -> WriterLock | None:
        """The index's writer lock, while this writer holds it (None outside its `with`)."""
        return self._lock

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
        m = engine_models()
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
        counters = dict(previous["counters"]) if previous else {"point": STATE_POINT + 1}
        if self.state and "term" in self.state.get("counters", {}):  # a rebuild keeps handing out term ids
            counters["term"] = int(self.state["counters"]["term"])
        lengths = dict(previous["lengths"]) if previous else {"total": 0.0, "chunks": 0, "sentences": 0}
        documents = int(previous["counts"]["documents"]) if previous else 0
        if previous:
            self._undo_unfinished(collection, generation, config, float(lengths["average"]))
        if self._removed and previous:
            gone = m.FieldCondition(key="document_id", match=m.MatchAny(any=sorted(self._removed)))
            for kind in ("chunk", "document"):
                for record in scroll(client, collection, visible(generation - 1, kind, gone), ["length", "sentences"]):
                    if kind == "chunk":
                        lengths["total"] -= float(record.payload["length"])
                        lengths["chunks"] -= 1
                        lengths["sentences"] -= int(record.payload["sentences"])
                    else:
                        documents -= 1
            self._still_mine()
            client.set_payload(
                collection, payload={"removed": generation}, points=visible(generation - 1, "chunk", gone)
            )
            client.set_payload(
                collection, payload={"removed": generation}, points=visible(generation - 1, "document", gone)
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
        client.upsert(collection, points=[m.PointStruct(id=STATE_POINT, vector={}, payload=state)])
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
        m = engine_models()
        unfinished = [m.FieldCondition(key="added", range=m.Range(gte=generation))]
        self._still_mine()
        self.client.delete(collection, points_selector=m.FilterSelector(filter=m.Filter(must=unfinished)))
        marked = m.Filter(must=[m.FieldCondition(key="removed", range=m.Range(gte=generation))])
        self.client.delete_payload(collection, keys=["removed"], points=marked)
        self._reweight(collection, generation, config, average)

    def _new_collection(self, model: ModelSpec, config: IndexConfig) -> str:
        """A new collection for this index (its alias is moved to it once it is complete)."""
        m = engine_models()
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
        m = engine_models()
        alias = self.target.collection
        operations = [m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=alias))] if before else []
        operations.append(
            m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=collection, alias_name=alias))
        )
        self.client.update_collection_aliases(change_aliases_operations=operations)

    def _term_ids(self, terms: Collection[str], counters: dict[str, int]) -> dict[str, int]:
        """Ids for `terms`: the stored ones, and new ones for the others (handed out in order, never
        reused: a term's id is its point's id in the terms collection)."""
        m = engine_models()
        collection = terms_collection(self.target)
        if not self.client.collection_exists(collection):
            self.client.create_collection(collection, vectors_config={})
            if self.target.url:
                self.client.create_payload_index(
                    collection, field_name="term", field_schema=m.PayloadSchemaType.KEYWORD
                )
        ordered = sorted(terms)
        found = stored_term_ids(self.client, self.target, ordered)
        new = [term for term in ordered if term not in found]
        if not self._terms_counted:  # ids are dense: a write that died may have handed out more than
            stored = self.client.count(collection, exact=True).count  # the state counts
            counters["term"] = max(int(counters.get("term", 0)), stored)
            self._terms_counted = True
        first = counters["term"]
        counters["term"] += len(new)
        points = [m.PointStruct(id=first + i, vector={}, payload={"term": term}) for i, term in enumerate(new)]
        found.update((term, first + i) for i, term in enumerate(new))
        for start in range(0, len(points), PAGE):
            self._still_mine()
            self.client.upsert(collection, points=points[start : start + PAGE])
        return found

    def _write_batch(self, collection: str, batch: Batch, generation: int, config: IndexConfig, average: float,
                     counters: dict[str, int]) -> None:  # fmt: skip
        m = engine_models()
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
        for start in range(0, len(points), PAGE // 4):
            self._still_mine()
            self.client.upsert(collection, points=points[start : start + PAGE // 4])

    def _reweight(self, collection: str, generation: int, config: IndexConfig, average: float) -> None:
        """Rewrite the BM25 weights, for a new average chunk length, of every chunk the index keeps
        whose weights were computed with another (each chunk's payload says which it used)."""
        m = engine_models()
        kept = visible(generation, "chunk")  # written before `generation` and not replaced by it
        kept.must_not.append(m.FieldCondition(key="average", range=m.Range(gte=average, lte=average)))
        records = scroll(self.client, collection, kept, ["term_ids", "term_counts", "length"])
        while page := list(itertools.islice(records, PAGE)):
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


def _lock_collection(target: Target) -> str:
    """The collection that is the index's writer lock while a writer holds it (see `lock.py`)."""
    return f"{target.collection}--writer"


def _tf_parts(counts: Sequence[float], length: float, average: float, config: IndexConfig) -> list[float]:
    """The tf and length part of each term's BM25 weight in a chunk (the engine multiplies in the IDF)."""
    bm25 = config.bm25
    return term_weights(np.asarray(counts, dtype=np.float64), length_norms(length, average, bm25), bm25).tolist()
