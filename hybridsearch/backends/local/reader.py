"""Reading a local index: a `LocalBackend` reads one generation (the docstore, BM25 counts and weights, FAISS
vectors and sentence vectors), every file opened (or mapped) when it is opened, so it keeps reading even
after a writer has replaced and deleted the generation."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ...bm25 import BM25Index, top_k
from ...config import IndexConfig
from ...encoders import ModelSpec
from ...errors import IndexFormatError, InputError, NotFoundError
from ...filters import Filter, MetadataTable
from ...schema import StoredChunk, StoredDocument
from ..base import Side
from .docstore import DocStore
from .filled import load_mask, running_filler
from .generations import (
    BM25_DIR,
    DOCSTORE,
    POINTER,
    VECTOR_MASK,
    VECTORS,
    access_error,
    invalid_manifest,
    live_generation,
    pointer_text,
    read_manifest,
    rebuild_hint,
    verify_files,
)
from .vectors import SentenceVectors, VectorStore

__all__ = ["LocalBackend", "check_files", "local_config"]

_MASKS_KEPT = 64  # filters whose chunk masks a backend remembers


class LocalBackend:
    """One generation of a local index, opened for reading (see `Backend`)."""

    def __init__(self, index_dir: Path, path: Path, manifest: dict[str, Any], manifest_sha256: str | None) -> None:
        self.index_dir = index_dir
        self.location = str(index_dir)
        self.path = path
        self.manifest = manifest
        self.manifest_sha256 = manifest_sha256  # what CURRENT said when this generation was opened
        with invalid_manifest(index_dir):
            self.config = IndexConfig.from_dict(manifest["config"])
            self.model = ModelSpec(**manifest["model"])
            expected = (int(manifest["counts"]["documents"]), int(manifest["counts"]["chunks"]))
        self._handles: list[Any] = []
        try:
            self.bm25 = self._held(BM25Index.load(path / BM25_DIR, self.config.bm25))
            self.vectors = VectorStore.load(path / VECTORS, self.config.vectors)
            self.sentences = self._held(SentenceVectors.load(path)) if self.config.dense.sentences else None
            self.docstore = self._held(DocStore(path / DOCSTORE, self.damaged))
            stored = self.docstore.counts()
            self.has_vector = load_mask(path / VECTOR_MASK, expected[1]) if VECTOR_MASK in manifest["files"] else None
        except PermissionError as error:
            self.close()
            raise access_error(index_dir, error, "read") from None
        except Exception as error:  # noqa: BLE001 - whatever numpy, FAISS or SQLite make of damaged bytes
            self.close()
            reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
            raise IndexFormatError(f"Index {index_dir} is damaged ({reason}); {rebuild_hint(index_dir)}.") from None
        found = (stored, self.bm25.num_chunks, len(self.vectors), self.vectors.dim)
        sentences = self.sentences
        sentence_shape = (sentences.num_chunks, sentences.dim) if sentences else None
        if found != (expected, expected[1], expected[1], self.model.dim) or sentence_shape not in (
            None,
            (expected[1], self.model.dim),
        ):
            held = (
                f", sentence vectors for {sentence_shape[0]} chunks of dim {sentence_shape[1]}"
                if sentence_shape
                else ""
            )
            self.close()
            raise IndexFormatError(
                f"Index {index_dir} is inconsistent: the manifest says {expected[0]} documents, {expected[1]} chunks "
                f"of dim {self.model.dim}; the docstore has {stored[0]} documents, {stored[1]} chunks, BM25 "
                f"{found[1]} chunks, FAISS {found[2]} vectors of dim {found[3]}{held}; {rebuild_hint(index_dir)}."
            )
        self._lock = threading.Lock()
        self._table: MetadataTable | None = None
        self._chunk_docs: np.ndarray | None = None
        self._masks: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._has_field: dict[str, bool] = {}

    def damaged(self, reason: str) -> IndexFormatError:
        """The error for damage found while reading (after the opening checks passed)."""
        return IndexFormatError(
            f"Index {self.index_dir} is damaged ({reason}); see what `hsearch info --index {self.index_dir} --check` "
            f"finds, then {rebuild_hint(self.index_dir)}."
        )

    @contextmanager
    def _reading(self, part: str) -> Iterator[None]:
        """Damage that shows only when a store is read (an index out of range…) is an IndexFormatError."""
        try:
            yield
        except (IndexError, ValueError, RuntimeError, MemoryError) as error:
            raise self.damaged(f"{part}: {error}") from None

    def _held(self, handle: Any) -> Any:
        self._handles.append(handle)
        return handle

    @classmethod
    def open(cls, index_dir: Path) -> LocalBackend:
        """The live generation, checked for format, sizes and that docstore, BM25 and FAISS agree.

        Readers take no lock: if writers replaced and cleaned up the generation while it was being
        opened, the newer live one is opened instead."""
        for _ in range(3):
            pointer = pointer_text(index_dir)
            try:
                return cls.open_live(index_dir)
            except IndexFormatError:
                if pointer_text(index_dir) == pointer:
                    raise
        return cls.open_live(index_dir)

    @classmethod
    def open_live(cls, index_dir: Path) -> LocalBackend:
        """The live generation, opened once (`open` retries when a writer moved it meanwhile)."""
        path, pointer = live_generation(index_dir)
        return cls(index_dir, path, read_manifest(path), pointer.manifest_sha256)

    @property
    def version(self) -> str:
        return self.path.name

    @property
    def num_chunks(self) -> int:
        return self.bm25.num_chunks

    @property
    def num_vectors(self) -> int:
        """How many chunks have their vectors (all but those still filling in: `filling.fill_index`)."""
        return self.num_chunks if self.has_vector is None else int(np.count_nonzero(self.has_vector))

    def has_vectors(self, keys: Sequence[int] | np.ndarray) -> np.ndarray:
        """For each chunk: has it its vectors yet? (One without competes on its BM25 side alone.)"""
        rows = np.asarray(keys, dtype=np.int64)
        return np.ones(len(rows), bool) if self.has_vector is None else self.has_vector[rows]

    # --- filters -----------------------------------------------------------------------------------

    def _mask(self, where: Filter | None) -> np.ndarray | None:
        """One bool per chunk row: does its document meet `where`? (None: no filter.)"""
        if where is None:
            return None
        key = where.key
        with self._lock:
            if key in self._masks:
                self._masks.move_to_end(key)
                return self._masks[key]
        mask = self._metadata().mask(where)[self.chunk_documents()]
        with self._lock:
            self._masks[key] = mask
            while len(self._masks) > _MASKS_KEPT:
                self._masks.popitem(last=False)
        return mask

    def _metadata(self) -> MetadataTable:
        """Every document's metadata as columns, read once per generation (when a filter first needs it)."""
        with self._lock:
            if self._table is None:
                self._table = MetadataTable(self.docstore.document_metadata())
            return self._table

    def chunk_documents(self) -> np.ndarray:
        """For each chunk row, its document's row (read once)."""
        with self._lock:
            if self._chunk_docs is None:
                self._chunk_docs = self.docstore.chunk_documents()
            return self._chunk_docs

    def fields(self, where: Filter | None = None) -> list[str]:
        return sorted(self._metadata().fields_of(where))

    def field_values(self, limit: int = 50, where: Filter | None = None) -> dict[str, list[Any]]:
        return self._metadata().values(limit, where)

    def has_field(self, field: str) -> bool:
        with self._lock:
            if self._table is not None:
                return field in self._table.fields
            if field not in self._has_field:  # once per generation
                self._has_field[field] = self.docstore.has_field(field)
            return self._has_field[field]

    def count(self, where: Filter | None) -> int:
        mask = self._mask(where)
        return self.num_chunks if mask is None else int(np.count_nonzero(mask))

    # --- candidates --------------------------------------------------------------------------------

    def sparse(self, terms: Sequence[str], depth: int, where: Filter | None) -> Side:
        mask = self._mask(where)
        with self._reading("BM25"):
            scores = self.bm25.scores(terms)
            best = self.bm25.best_possible(terms, mask)
        if mask is None:
            rows = top_k(scores, depth)
        else:
            allowed = np.flatnonzero(mask)
            rows = allowed[top_k(scores[allowed], depth)]
        lone = rows[~self.has_vector[rows]].astype(np.int64) if self.has_vector is not None else None
        return Side(rows.astype(np.int64), scores[rows], best, lone)

    def dense(self, vector: np.ndarray, depth: int, where: Filter | None) -> Side:
        mask = self._mask(where)
        if self.has_vector is not None:  # chunks still without vectors are not candidates on this side
            mask = self.has_vector if mask is None else mask & self.has_vector
        with self._reading("vectors"):
            scores, rows = self.vectors.search(vector, depth, mask)
            if self.sentences is not None:
                scores = self.sentences.mixed(vector, rows, scores)
                order = np.argsort(-scores, kind="stable")
                scores, rows = scores[order], rows[order]
        if not np.all(np.isfinite(scores)):
            raise self.damaged("vectors that are not numbers")
        return Side(rows, scores)

    # --- reading -----------------------------------------------------------------------------------

    def chunks(self, keys: Sequence[int]) -> list[StoredChunk]:
        return self.docstore.chunks(keys)

    def matched_terms(self, terms: Sequence[str], keys: Sequence[int]) -> list[list[str]]:
        with self._reading("BM25"):
            return self.bm25.matched_terms(terms, keys)

    def sentence_scores(self, vector: np.ndarray, keys: Sequence[int]) -> list[np.ndarray]:
        if self.sentences is None or not len(keys):
            return [np.zeros(0, np.float32) for _ in keys]
        with self._reading("sentence vectors"):
            vectors, counts = self.sentences.of_chunks(np.asarray(keys, dtype=np.int64))
        scores = np.asarray(vectors, dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
        return np.split(scores, np.cumsum(counts)[:-1])

    def get(self, id: str) -> StoredChunk | StoredDocument:
        if not isinstance(id, str):
            raise InputError(f"An id is text, such as a hit's `id` or `document_id` (got {id!r}).")
        found = self.docstore.chunk_by_id(id) or self.docstore.document_by_id(id)
        if found is None:
            raise NotFoundError.of_id(self.location, id)
        return found

    def documents(self) -> list[StoredDocument]:
        return self.docstore.documents()

    def info(self) -> dict[str, Any]:
        details = {key: value for key, value in self.manifest.items() if key != "files"}
        share = self.num_vectors / self.num_chunks if self.num_chunks else 1.0
        ready = {"chunks": self.num_vectors, "share": share, "filler": running_filler(self.index_dir)}
        where = {"path": self.location, "generation": self.path.name}
        return details | where | {"vectors": str(self.vectors.kind), "with_vectors": ready}

    def check(self) -> list[str]:
        """File checksums, then docstore, BM25 and sentence rows agreeing with each other."""
        return (
            verify_files(self.path, self.manifest, self.manifest_sha256)
            + self.docstore.problems()
            + self.bm25.problems()
        )

    def newer(self) -> LocalBackend | None:
        if pointer_text(self.index_dir).split("\n", 1)[0].strip() == self.path.name:
            return None
        return LocalBackend.open(self.index_dir)

    def close(self) -> None:
        """Close the files and drop the memory maps (each holds a file handle until it is dropped)."""
        for handle in self._handles:
            handle.close()
        self._handles.clear()
        for store in ("bm25", "vectors", "sentences", "docstore", "has_vector", "_table", "_chunk_docs", "_masks"):
            self.__dict__.pop(store, None)


def check_files(index_dir: Path) -> list[str]:
    """The file checks of `LocalBackend.check` without opening the stores (for an index too damaged
    to open): the manifest against CURRENT, every listed file against its checksum, unknown files."""
    path, pointer = live_generation(index_dir)
    with invalid_manifest(index_dir):
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        return verify_files(path, manifest, pointer.manifest_sha256)


def local_config(index_dir: Path) -> IndexConfig | None:
    """The settings of the index at `index_dir` from its manifest alone; None when there is none."""
    if not (index_dir / POINTER).exists():
        return None
    with invalid_manifest(index_dir):
        return IndexConfig.from_dict(read_manifest(live_generation(index_dir)[0])["config"])
