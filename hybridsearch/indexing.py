"""Writing an index: build it, or bring it up to date with the files on disk.

An update compares each file's sha256 with the docstore. Unchanged documents keep their chunks,
term counts and vectors (nothing is re-read or re-encoded); added and changed files are read,
chunked, tokenised and encoded; documents under the given paths whose file is gone are dropped, as
are those `remove` names. BM25 is re-assembled from exact term counts and its IDF and average length
recomputed, so an updated index scores every query exactly as one built from scratch on the same
files. The model is loaded only when something needs encoding. All writing happens under the
index's writer lock into a new generation, made live in one atomic step.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .bm25 import BM25Index
from .chunking import chunk_text, model_input, sentence_inputs
from .config import IndexConfig
from .encoders import Encoder, check_vectors, load_encoder, resolve_model_name
from .errors import IndexNotFoundError, InputError, ModelMismatchError
from .loaders import LoadReport, PathArg, Warn, iter_documents
from .schema import Chunk, Document
from .store import (
    BM25_DIR,
    DOCSTORE,
    POINTER,
    VECTORS,
    Generation,
    new_generation,
    open_generation,
    write_docstore,
    write_manifest,
    writer_lock,
)
from .tokenization import count_terms
from .vectors import SentenceVectors, VectorStore

__all__ = ["IndexReport", "write_index"]

_SENTENCE_BLOCK = 8192  # sentences encoded per call


@dataclass(frozen=True)
class IndexReport:
    """What one `hsearch index` / `remove` did. File counts are of files seen under the given paths."""

    files: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    documents: int = 0
    chunks: int = 0
    encoded: int = 0
    reused: int = 0
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    skipped_records: int = 0
    seconds: float = 0.0
    written: bool = True

    def summary(self) -> str:
        """One line for people: what changed, what was encoded, what was skipped."""
        files = (
            f"{self.added} added, {self.changed} changed, {self.removed} removed, {self.unchanged} unchanged file(s)"
        )
        state = (
            f"encoded {self.encoded} chunk(s), reused {self.reused}; index holds {self.documents} documents "
            f"in {self.chunks} chunks"
            if self.written
            else f"index is up to date ({self.documents} documents in {self.chunks} chunks)"
        )
        skipped = f"; skipped {len(self.skipped_files)} file(s)" if self.skipped_files else ""
        records = f" and {self.skipped_records} record(s)" if self.skipped_records else ""
        return f"{files}; {state}{skipped}{records} ({self.seconds:.1f} s)"


def write_index(
    index_dir: Path,
    paths: Sequence[PathArg] = (),
    *,
    remove: Sequence[PathArg] = (),
    config: IndexConfig | None = None,
    encoder: Encoder | None = None,
    device: str | None = None,
    rebuild: bool = False,
    show_progress: bool = False,
    warn: Warn | None = None,
) -> IndexReport:
    """Add/update the documents under `paths` and drop those under `remove`, in one new generation."""
    started = time.perf_counter()
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise InputError(f"No such file or folder: {', '.join(missing)}")
    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    if show_progress:
        warn = partial(_between_bars, warn)
    with writer_lock(index_dir):
        old = None if rebuild or not (index_dir / POINTER).exists() else open_generation(index_dir)
        if old is None and remove:
            raise IndexNotFoundError(f"No index at {index_dir} to remove documents from.")
        config = _resolve_config(old, config, encoder, index_dir)
        plan = _Plan(old)
        report = LoadReport()
        if paths:
            with _bar("Reading", "files", show_progress) as bar:
                for document in iter_documents(paths, config.loader, report, warn, plan.is_unchanged):
                    plan.add(document)
                    bar.update(report.files - bar.n)
            plan.drop_missing(paths, report)
        plan.drop_under(remove)
        if not plan.documents and remove:
            raise InputError(
                f"Removing {', '.join(map(str, remove))} would leave index {index_dir} empty; "
                "delete the index folder instead."
            )
        if not plan.documents:
            skipped = f" ({len(report.skipped_files)} file(s) skipped)" if report.skipped_files else ""
            where = ", ".join(map(str, paths)) or str(index_dir)
            raise InputError(f"No documents with text found under {where}{skipped}.")
        base = IndexReport(
            files=report.files, added=plan.added, changed=plan.changed, unchanged=len(report.unchanged),
            removed=plan.removed, documents=len(plan.documents), skipped_files=report.skipped_files,
            skipped_records=report.skipped_records,
        )  # fmt: skip
        if old is not None and not plan.is_dirty():
            chunks = old.bm25.num_chunks
            return replace(base, chunks=chunks, reused=chunks, written=False, seconds=_since(started))
        encoded, reused = _write(index_dir, plan, config, encoder, device, old, paths, show_progress)
    return replace(base, chunks=encoded + reused, encoded=encoded, reused=reused, seconds=_since(started))


def _resolve_config(
    old: Generation | None, config: IndexConfig | None, encoder: Encoder | None, index_dir: Path
) -> IndexConfig:
    """The config to write with: the index's own unless another is given, which must then agree."""
    if config is not None or (old is None and encoder is not None):
        config = config or IndexConfig()
        model = encoder.spec.name if encoder else resolve_model_name(config.dense.model)
        config = replace(config, dense=replace(config.dense, model=model))
    if old is None:
        return config or IndexConfig()
    if encoder is not None:
        old.model.check_compatible(encoder.spec)
    if config is None:
        return old.config
    recorded = replace(old.config, dense=replace(old.config.dense, model=old.model.name))  # the resolved name
    if config.dense.model != recorded.dense.model:
        raise ModelMismatchError(
            f"Index {index_dir} was built with model {recorded.dense.model!r}, not {config.dense.model!r}; "
            f"to switch models rebuild it: hsearch index PATH --index {index_dir} --model M --rebuild"
        )
    differences = _content_differences(recorded, config)
    if differences:
        raise InputError(
            f"Index {index_dir} was built with other settings ({'; '.join(differences)}); keep them, "
            f"or rebuild it with the new ones: hsearch index PATH --index {index_dir} --rebuild"
        )
    return replace(config, alpha=old.config.alpha, fusion=old.config.fusion)  # keep a tuned default alpha


def _content_differences(old: IndexConfig, new: IndexConfig) -> list[str]:
    """Settings that change what is stored (not query defaults, batch size or API address), as 'key: old → new'."""
    a, b = old.to_dict(), new.to_dict()
    a["dense"], b["dense"] = old.dense.shapes_vectors(), new.dense.shapes_vectors()
    a["vectors"], b["vectors"] = {"kind": a["vectors"]["kind"]}, {"kind": b["vectors"]["kind"]}  # not ef_search
    found = []
    for part in ("loader", "chunk", "tokenizer", "bm25", "dense", "vectors"):
        for key in a[part]:
            if a[part][key] != b[part][key]:
                found.append(f"{part}.{key}: {a[part][key]!r} → {b[part][key]!r}")
    return found


class _Plan:
    """The next generation's documents: kept from the old one or freshly read."""

    def __init__(self, old: Generation | None) -> None:
        self.old_documents = old.docstore.documents() if old else []
        self.by_path: dict[str, list[int]] = {}
        for doc_id, document in enumerate(self.old_documents):
            self.by_path.setdefault(document.abs_path, []).append(doc_id)
        self.kept = set(range(len(self.old_documents)))  # old doc ids still in the index
        self.new: list[Document] = []
        self.new_paths: set[str] = set()
        self.added = self.changed = self.removed = 0

    @property
    def documents(self) -> list[Document]:
        return [self.old_documents[i] for i in sorted(self.kept)] + self.new

    def is_unchanged(self, abs_path: str, sha256: str) -> bool:
        doc_ids = self.by_path.get(abs_path, [])
        return bool(doc_ids) and all(self.old_documents[i].sha256 == sha256 for i in doc_ids)

    def add(self, document: Document) -> None:
        if document.abs_path not in self.new_paths:  # the first record of its file
            self.new_paths.add(document.abs_path)
            if self._drop(self.by_path.get(document.abs_path, [])):
                self.changed += 1
            else:
                self.added += 1
        self.new.append(document)

    def drop_missing(self, paths: Sequence[PathArg], report: LoadReport) -> None:
        """Drop old documents under `paths` whose file was not read now (deleted, or skipped this time)."""
        present = set(report.unchanged) | self.new_paths
        for abs_path, doc_ids in self.by_path.items():
            if abs_path not in present and _under(abs_path, paths) and self._drop(doc_ids):
                self.removed += 1

    def drop_under(self, paths: Sequence[PathArg]) -> None:
        """Drop every old document under `paths` (the `remove` command); naming nothing is an error."""
        if not paths:
            return
        matched = [abs_path for abs_path in self.by_path if _under(abs_path, paths)]
        if not matched:
            raise InputError(f"No indexed document is under {', '.join(map(str, paths))}.")
        for abs_path in matched:
            if self._drop(self.by_path[abs_path]):
                self.removed += 1

    def is_dirty(self) -> bool:
        return bool(self.new) or len(self.kept) != len(self.old_documents)

    def _drop(self, doc_ids: list[int]) -> bool:
        dropped = [i for i in doc_ids if i in self.kept]
        self.kept.difference_update(dropped)
        return bool(dropped)


def _under(abs_path: str, paths: Sequence[PathArg]) -> bool:
    for given in paths:
        root = os.path.abspath(given)
        if abs_path == root or abs_path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


def _write(
    index_dir: Path,
    plan: _Plan,
    config: IndexConfig,
    encoder: Encoder | None,
    device: str | None,
    old: Generation | None,
    paths: Sequence[PathArg],
    show_progress: bool,
) -> tuple[int, int]:
    """Assemble and write the next generation; returns (chunks encoded, chunks reused)."""
    documents = plan.documents
    chunks: list[Chunk] = []
    counts: list[Mapping[str, float]] = []
    reused_ids: list[int] = []
    if old is not None:
        old_chunks = old.docstore.all_chunks()
        new_index = {old_id: new_id for new_id, old_id in enumerate(sorted(plan.kept))}
        for chunk_id, chunk in enumerate(old_chunks):
            if chunk.doc_index in new_index:
                chunks.append(replace(chunk, doc_index=new_index[chunk.doc_index]))
                counts.append(old.bm25.counts(chunk_id))
                reused_ids.append(chunk_id)

    fresh: list[Chunk] = []
    inputs: list[str] = []
    sentences: list[list[str]] = []  # of each fresh chunk (with `config.dense.sentences`)
    if plan.new:
        if encoder is None:
            if show_progress:
                print(f"Loading model {config.dense.model} …", file=sys.stderr)
            encoder = load_encoder(config.dense, device, known=old.model if old else None)
            if old is not None:
                old.model.check_compatible(encoder.spec)
        for offset, document in enumerate(plan.new, start=len(plan.kept)):
            fits = partial(_fits_with_title, encoder, document.title)
            pieces = chunk_text(document.text, offset, config.chunk, fits=fits)
            fresh.extend(pieces)
            inputs.extend(model_input(document.title, piece.text) for piece in pieces)
            if config.dense.sentences:
                sentences.extend(sentence_inputs(document.title, piece.text) for piece in pieces)
    with _bar("Tokenizing", "chunks", show_progress and bool(inputs), total=len(inputs)) as bar:
        counts += count_terms(inputs, config.tokenizer, bar.update)
    bm25 = BM25Index.from_counts(counts, config.bm25)

    dim = old.model.dim if old is not None else encoder.spec.dim if encoder else 0
    vectors = old.vectors.vectors(np.asarray(reused_ids)) if old is not None else np.zeros((0, dim), np.float32)
    if inputs and encoder is not None:
        with _bar("Encoding", "chunks", show_progress, total=len(inputs)) as bar:
            encoded = encoder.encode_documents(inputs, config.dense.batch_size, progress=bar.update)
        vectors = np.concatenate([vectors, check_vectors(encoded, len(inputs), encoder.spec.dim)])
    chunks.extend(fresh)
    sentence_store = (
        _sentence_vectors(sentences, config, encoder, old, reused_ids, dim, show_progress)
        if config.dense.sentences
        else None
    )

    model = (encoder.spec if encoder is not None else old.model).to_dict()  # type: ignore[union-attr]
    sources = list(dict.fromkeys([*(old.manifest.get("sources", []) if old else []), *map(str, paths)]))
    with new_generation(index_dir) as work:
        bm25.save(work / BM25_DIR)
        VectorStore.build(vectors, config=config.vectors).save(work / VECTORS)
        if sentence_store is not None:
            sentence_store.save(work)
        write_docstore(work / DOCSTORE, documents, chunks)
        write_manifest(work, {
            "config": config.to_dict(), "model": model, "sources": sources,
            "counts": {"documents": len(documents), "chunks": len(chunks), "terms": len(bm25.vocab),
                       **({"sentences": len(sentence_store)} if sentence_store is not None else {})},
        })  # fmt: skip
    return len(fresh), len(reused_ids)


def _sentence_vectors(
    sentences: list[list[str]],
    config: IndexConfig,
    encoder: Encoder | None,
    old: Generation | None,
    reused_ids: list[int],
    dim: int,
    show_progress: bool,
) -> SentenceVectors:
    """The kept chunks' sentence vectors (from `old`), then those of the fresh chunks' `sentences`,
    encoded a block at a time into one float16 array (three sentences a chunk: float32 copies of
    them all would take 4.4 GB at a million chunks)."""
    if old is not None and old.sentences is not None:
        kept, counts = old.sentences.of_chunks(np.asarray(reused_ids, dtype=np.int64))
    else:
        kept, counts = np.zeros((0, dim), np.float16), np.zeros(0, np.int64)
    inputs = [sentence for chunk_sentences in sentences for sentence in chunk_sentences]
    vectors = np.empty((len(kept) + len(inputs), dim), np.float16)
    vectors[: len(kept)] = kept
    if inputs and encoder is not None:
        with _bar("Encoding", "sentences", show_progress, total=len(inputs)) as bar:
            for start in range(0, len(inputs), _SENTENCE_BLOCK):
                block = inputs[start : start + _SENTENCE_BLOCK]
                encoded = encoder.encode_documents(block, config.dense.batch_size, progress=bar.update)
                row = len(kept) + start
                vectors[row : row + len(block)] = check_vectors(encoded, len(block), encoder.spec.dim)
    counts = np.concatenate([counts, np.array([len(s) for s in sentences], dtype=np.int64)])
    return SentenceVectors.build(vectors, counts)


def _between_bars(warn: Warn, message: str) -> None:
    """Warn on a line of its own while progress bars are drawn."""
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stderr):
        warn(message)


def _fits_with_title(encoder: Encoder, title: str, text: str) -> bool:
    return encoder.fits(model_input(title, text))


def _since(started: float) -> float:
    return time.perf_counter() - started


class _NoBar:
    n = 0

    def update(self, count: int = 1) -> None:
        self.n += count

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _bar(label: str, unit: str, show: bool, total: int | None = None) -> Any:
    """A progress bar on stderr (tqdm), or a silent counter."""
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit=f" {unit}", file=sys.stderr, leave=True, dynamic_ncols=True)
