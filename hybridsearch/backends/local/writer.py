"""Writing a local index: a `LocalWriter` holds the folder's writer lock and writes the next generation in
one atomic step when it commits (new documents, removals, or vectors filling in)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...bm25 import BM25Index
from ...config import IndexConfig
from ...encoders import ModelSpec
from ...errors import HybridSearchError, IndexFormatError
from ..base import Batch, PendingChanges
from .docstore import write_docstore
from .filled import merged_sentences, save_vectors
from .generations import (
    BM25_DIR,
    DOCSTORE,
    POINTER,
    access_error,
    linked,
    new_generation,
    rebuild_hint,
    write_manifest,
    writer_lock,
)
from .reader import LocalBackend
from .vectors import SentenceVectors

__all__ = ["LocalWriter"]


@dataclass(frozen=True)
class _Filled:
    """Vectors for chunks that were written without them (`LocalWriter.fill`)."""

    ids: list[str]
    vectors: np.ndarray
    sentence_counts: np.ndarray | None
    sentences: np.ndarray | None


class LocalWriter(PendingChanges):
    """A write to a local index folder: holds the writer lock from `__enter__` to `__exit__`; `commit`
    writes the next generation (the kept documents' rows copied from the live one, the new ones
    appended) and makes it live. It is `progressive`: chunks may come without their vectors, which
    `fill` adds later, a batch per commit."""

    progressive = True

    def __init__(self, index_dir: Path, rebuild: bool = False) -> None:
        self.index_dir = index_dir
        self.location = str(index_dir)
        self._rebuild = rebuild
        self._lock: Any = None
        self.old: LocalBackend | None = None
        self.config: IndexConfig | None = None
        self.model: ModelSpec | None = None
        self.sources: list[str] = []
        self._removed: set[str] = set()
        self._batches: list[Batch] = []
        self._filled: _Filled | None = None
        self.unfilled = 0  # chunks without their vectors in the live generation (after `commit`: in the new one)

    def __enter__(self) -> LocalWriter:
        self._lock = writer_lock(self.index_dir)
        self._lock.__enter__()
        try:
            if not self._rebuild and (self.index_dir / POINTER).exists():
                self.old = LocalBackend.open(self.index_dir)
                self.config, self.model = self.old.config, self.old.model
                self.sources = list(self.old.manifest.get("sources", []))
                self.unfilled = self.old.num_chunks - self.old.num_vectors
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.old is not None:
            self.old.close()
            self.old = None
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)

    def commit(self, config: IndexConfig, model: ModelSpec, sources: Sequence[str]) -> None:
        """Write the next generation and make it live; a failed write (a full disk…) leaves the live one."""
        try:
            self._commit(config, model, sources)
        except HybridSearchError:
            raise
        except OSError as error:
            raise access_error(self.index_dir, error, "write") from None
        except sqlite3.OperationalError as error:  # "database or disk is full"
            raise access_error(self.index_dir, OSError(str(error)), "write") from None

    def fill(
        self, ids: Sequence[str], vectors: np.ndarray, sentence_counts: np.ndarray | None, sentences: np.ndarray | None
    ) -> None:
        """Have `commit` give the chunks `ids` these vectors (with sentence vectors: `sentence_counts[i]`
        rows of `sentences` each, in order); chunks gone or given theirs meanwhile are left out."""
        self._filled = _Filled(list(ids), vectors, sentence_counts, sentences)

    def _commit(self, config: IndexConfig, model: ModelSpec, sources: Sequence[str]) -> None:
        old = self.old
        if old is not None and self._filled is not None and not self._removed and not self._batches:
            self._fill(old, self._filled)
            return
        if old is not None and not self._removed and not self._batches:
            self._relabel(old, config, list(sources))
            return
        kept_documents: list[int] = []
        kept_rows = np.zeros(0, np.int64)
        if old is not None:
            ids = old.docstore.document_ids()
            kept_documents = [row for row, document_id in enumerate(ids) if document_id not in self._removed]
            kept_rows = np.flatnonzero(np.isin(old.chunk_documents(), kept_documents))
        try:
            counts = [old.bm25.counts(int(row)) for row in kept_rows] if old is not None else []
        except ValueError as error:  # the term list the counts refer to is damaged
            raise IndexFormatError(
                f"Index {self.index_dir} is damaged ({error}); {rebuild_hint(self.index_dir)}."
            ) from None
        new_documents = [document for batch in self._batches for document in batch.documents]
        new_chunks = [chunk for batch in self._batches for chunk in batch.chunks]
        for batch in self._batches:
            counts += batch.counts
        bm25 = BM25Index.from_counts(counts, config.bm25)
        vectors = np.concatenate(
            [old.vectors.vectors(kept_rows) if old is not None else np.zeros((0, model.dim), np.float32)]
            + [batch.vectors for batch in self._batches]
        )
        has_vector = np.concatenate(
            [old.has_vectors(kept_rows) if old is not None else np.zeros(0, bool)]
            + [np.ones(len(b.chunks), bool) if b.has_vector is None else b.has_vector for b in self._batches]
        )
        sentences = self._sentences(old, kept_rows, model.dim) if config.dense.sentences else None
        with new_generation(self.index_dir) as work:
            bm25.save(work / BM25_DIR)
            save_vectors(work, vectors, has_vector, config, sentences)
            write_docstore(
                work / DOCSTORE, old.path / DOCSTORE if old else None, kept_documents, kept_rows.tolist(),
                new_documents, new_chunks,
            )  # fmt: skip
            counts_entry = {
                "documents": len(kept_documents) + len(new_documents), "chunks": len(vectors),
                "terms": len(bm25.vocab), **({"sentences": len(sentences)} if sentences is not None else {}),
            }  # fmt: skip
            write_manifest(
                work,
                {
                    "config": config.to_dict(),
                    "model": model.to_dict(),
                    "sources": list(sources),
                    "counts": counts_entry,
                },
            )
        self.unfilled = int(np.count_nonzero(~has_vector))

    def _fill(self, old: LocalBackend, filled: _Filled) -> None:
        """The live generation with vectors for the chunks of `filled` that still lack them (docs.sqlite and
        BM25 hard-linked, FAISS and sentence vectors written anew); nothing when none does."""
        found = old.docstore.chunk_rows(filled.ids)
        places = [i for i, chunk_id in enumerate(filled.ids) if chunk_id in found]
        rows = np.array([found[filled.ids[i]] for i in places], np.int64)
        wanted = ~old.has_vectors(rows)
        rows, places = rows[wanted], np.array(places, np.int64)[wanted]
        if not len(rows):
            return
        has_vector = old.has_vectors(np.arange(old.num_chunks))
        has_vector[rows] = True
        vectors = old.vectors.vectors(np.arange(old.num_chunks))
        vectors[rows] = filled.vectors[places]
        sentences = None
        if old.sentences is not None:
            assert filled.sentence_counts is not None and filled.sentences is not None
            starts = np.concatenate([[0], np.cumsum(filled.sentence_counts)]).astype(np.int64)
            taken = [filled.sentences[starts[i] : starts[i + 1]] for i in places.tolist()]
            new = np.concatenate(taken) if taken else np.zeros((0, old.sentences.dim), np.float16)
            sentences = merged_sentences(old.sentences, rows, filled.sentence_counts[places], new)
        files = old.manifest["files"]
        kept = {name: files[name] for name in files if name == DOCSTORE or name.startswith(BM25_DIR + "/")}
        with new_generation(self.index_dir) as work:
            known = linked(old.path, work, kept)
            save_vectors(work, vectors, has_vector, old.config, sentences)
            carried = _carried(old.manifest)
            if sentences is not None:  # the sentence rows the filled chunks brought
                carried["counts"] = carried["counts"] | {"sentences": len(sentences)}
            write_manifest(work, carried, known)
        self.unfilled = int(np.count_nonzero(~has_vector))

    def _sentences(self, old: LocalBackend | None, kept_rows: np.ndarray, dim: int) -> SentenceVectors:
        """The kept chunks' sentence vectors, then the new batches' (float16, in one array)."""
        if old is not None and old.sentences is not None:
            kept, counts = old.sentences.of_chunks(kept_rows)
        else:
            kept, counts = np.zeros((0, dim), np.float16), np.zeros(0, np.int64)
        parts, all_counts = [kept], [counts]
        for batch in self._batches:
            assert batch.sentence_vectors is not None and batch.sentence_counts is not None
            parts.append(batch.sentence_vectors)
            all_counts.append(batch.sentence_counts)
        return SentenceVectors.build(np.concatenate(parts), np.concatenate(all_counts))

    def _relabel(self, old: LocalBackend, config: IndexConfig, sources: list[str]) -> None:
        """A generation with the same files as the live one and a new manifest (hard links where possible)."""
        with new_generation(self.index_dir) as work:
            known = linked(old.path, work, old.manifest["files"])
            write_manifest(work, _carried(old.manifest) | {"config": config.to_dict(), "sources": sources}, known)


def _carried(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a generation with some of the live one's files keeps of its manifest (not format, version, files)."""
    return {
        key: value for key, value in manifest.items() if key not in ("format_version", "hybridsearch_version", "files")
    }
