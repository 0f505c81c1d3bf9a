"""Writing an index: build it, or bring it up to date with the files on disk, through a backend's Writer.

An update compares each file's sha256 with what the index holds. Unchanged documents keep their
chunks, term counts and vectors (nothing is re-read or re-encoded); added and changed files are
read, chunked, tokenised and encoded; documents under the given paths whose file is gone are
dropped, as are those `remove` names. The backend recomputes BM25's IDF and average length from
exact counts, so an updated index scores every query exactly as one built from scratch on the same
files. The model is loaded only when something needs encoding. Nothing is printed: progress goes
to a callback and warnings to `warn` (default: the `hybridsearch` logger).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from .backends import Batch, Location, Writer, open_writer
from .chunking import chunk_text, model_input
from .config import Fusion, IndexConfig, ModelAccess, check_alpha
from .embedding import embed, load_model, model_texts, run_numbers
from .encoders import Encoder, resolve_model_name
from .encoders.cache import CachedEncoder, cached_encoder, open_default_cache
from .errors import IndexNotFoundError, InputError, ModelMismatchError
from .filling import fill_index
from .loaders import LoadReport, PathArg, Warn, iter_documents
from .loaders.folder_config import folder_configs, threshold_of
from .location import IndexLocation
from .progress import Progress, ProgressEvent, Stage
from .schema import Chunk, Document, StoredDocument
from .tokenization import count_terms

__all__ = ["IndexReport", "Progress", "ProgressEvent", "set_defaults", "write_index"]

logger = logging.getLogger("hybridsearch")

#: A write whose new chunks need the model for this many or more (their vectors are not in the embedding
#: cache) is progressive on a local index: words first, then the vectors in batches (`filling`).
PROGRESSIVE_FROM = 512


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
    vectors: int = 0  # texts the encoded chunks needed vectors of (chunks, sentences), through the cache
    cached: int = 0  # of those, the vectors that came from the embedding cache
    reused: int = 0
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    skipped_records: int = 0
    unsupported: dict[str, int] = field(default_factory=dict)  # files of types no loader reads, by suffix
    ignored: int = 0  # files the ignore rules left out
    ignored_folders: int = 0  # folders they left out (their files are not counted: they are never walked)
    seconds: float = 0.0
    written: bool = True
    retuned: bool = False  # only settings that need no rebuild changed (synonyms, query defaults)
    unfilled: int = 0  # chunks left without their vectors (`wait=False`): searchable by their words only

    def summary(self) -> str:
        """One line for people: what changed, what was encoded, what was skipped."""
        share = "all" if self.cached == self.vectors else f"{self.cached} of"
        cached = f" ({share} {self.vectors} vectors from the embedding cache)" if self.cached else ""
        files = (
            f"{self.added} added, {self.changed} changed, {self.removed} removed, {self.unchanged} unchanged file(s)"
        )
        holds = f"{self.documents} documents in {self.chunks} chunks"
        state = (
            f"settings saved; index is up to date ({holds})" if self.retuned
            else f"encoded {self.encoded - self.unfilled} chunk(s){cached}, reused {self.reused}; index holds {holds}"
            if self.written
            else f"index is up to date ({holds})"
        )  # fmt: skip
        state += f"; {self.unfilled} chunk(s) still without vectors (searchable by words)" if self.unfilled else ""
        skipped = f"; skipped {len(self.skipped_files)} file(s)" if self.skipped_files else ""
        records = f" and {self.skipped_records} record(s)" if self.skipped_records else ""
        kinds = ", ".join(f"{suffix} {count}" for suffix, count in sorted(self.unsupported.items()))
        unsupported = f"; not read: {sum(self.unsupported.values())} file(s) of other types ({kinds})" if kinds else ""
        folders = f" and {self.ignored_folders} folder(s)" if self.ignored_folders else ""
        ignored = f"; ignored {self.ignored} file(s){folders}" if self.ignored or self.ignored_folders else ""
        return f"{files}; {state}{skipped}{records}{unsupported}{ignored} ({self.seconds:.1f} s)"


def write_index(
    location: Location,
    paths: Sequence[PathArg] = (),
    *,
    remove: Sequence[PathArg] = (),
    config: IndexConfig | None = None,
    encoder: Encoder | None = None,
    device: str | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    warn: Warn | None = None,
    access: ModelAccess | None = None,
    cache: bool = True,
    reweight: bool = False,
    ignore: Sequence[str] = (),
    config_file: PathArg | None = None,
    wait: bool = True,
) -> IndexReport:
    """Add/update the documents under `paths` and drop those under `remove`, in one commit; `ignore`
    adds gitignore patterns to the walk's built-in ones and `.hsearchignore` files. Each folder's
    `hsearch.toml` (or `config_file`, for every path) says how its files are read, and may set the
    index's confidence threshold (`loaders.folder_config`). For an
    existing index the model gets only what `access` grants (endpoint, key variable, own code),
    never what the index itself records. Document vectors go through the embedding cache
    (`encoders.cache`) unless `cache` is False. `reweight`: compute every BM25 weight from the true
    average chunk length, even when nothing else changed (an index in Qdrant keeps its stored
    weights while the average drifts less than `REWEIGHT_DRIFT`; a local index always is exact).

    A local index is written progressively when `PROGRESSIVE_FROM` chunks or more need the model: a
    first commit holds the documents, chunks, BM25 and the vectors the cache has (searchable by words,
    `ProgressEvent` stage "searchable by words"), then `filling.fill_index` commits the other vectors in
    batches; `wait=False` returns before them (`IndexReport.unfilled`; run `fill_index` later)."""
    started = time.perf_counter()
    missing = [str(p) for p in paths if not os.path.exists(p)]
    if missing:
        raise InputError(f"No such file or folder: {', '.join(missing)}")
    warn = warn or logger.warning
    folders = folder_configs(paths, config_file)
    threshold = threshold_of(folders)
    with open_writer(location, rebuild=rebuild) as store:
        if store.config is None and remove:
            raise IndexNotFoundError(f"No index at {location} to remove documents from.")
        config = _resolve_config(store, config, encoder)
        if threshold is not None:
            stored = store.config.min_confidence if store.config is not None else None
            if stored is not None and stored != threshold:
                warn(f"the threshold {threshold:g} of hsearch.toml replaces the index's {stored:g} (a calibrated one "
                     "included); remove it from hsearch.toml to keep a threshold --calibrate stores")  # fmt: skip
            config = replace(config, min_confidence=threshold)
        if store.config is None and access is not None:  # a new index: what the caller grants is what it records
            config = replace(config, dense=access.recorded_in(config.dense))
        plan = _Plan(store.documents())
        report = LoadReport()
        if paths:
            reading = Stage(progress, "reading files", None, "files")
            folder = [location] if IndexLocation.parse(location).is_local else []  # an index is not its own input
            documents = iter_documents(paths, config.loader, report, warn, plan.is_unchanged, folder, ignore, folders)
            for document in documents:
                plan.add(document)
                reading.to(report.files)
            reading.to(report.files)
            plan.drop_missing(paths, report)
        plan.drop_under(remove)
        if not plan.documents and remove:
            raise InputError(
                f"Removing {', '.join(map(str, remove))} would leave index {location} empty; "
                "delete the index folder instead."
            )
        if not plan.documents:
            skipped = f" ({len(report.skipped_files)} file(s) skipped)" if report.skipped_files else ""
            where = ", ".join(map(str, paths)) or str(location)
            raise InputError(f"No documents with text found under {where}{skipped}.")
        reused = sum(document.num_chunks for document in plan.kept_documents)
        base = IndexReport(
            files=report.files, added=plan.added, changed=plan.changed, unchanged=len(report.unchanged),
            removed=plan.removed, documents=len(plan.documents), skipped_files=report.skipped_files,
            skipped_records=report.skipped_records, reused=reused, unsupported=dict(report.unsupported),
            ignored=report.ignored, ignored_folders=report.ignored_folders,
        )  # fmt: skip
        if reweight:
            store.reweight()
        if store.config is not None and not plan.is_dirty() and not reweight:
            retuned = _without_model(config) != _without_model(store.config)  # a setting that needs no rebuild
            if retuned and store.model is not None:
                store.commit(config, store.model, store.sources)
            written = replace(base, chunks=reused, written=retuned, retuned=retuned)
        else:
            written, encoder = _write(store, plan, base, config, location, paths, encoder, device, progress, warn,
                                     access, cache)  # fmt: skip
        unfilled = store.unfilled
    if unfilled and wait:
        Stage(progress, "searchable by words", unfilled, "chunks").to(0)
        filled = fill_index(location, encoder=encoder, device=device, access=access, cache=cache, progress=progress,
                            warn=warn)  # fmt: skip
        written = replace(written, vectors=written.vectors + filled.texts, cached=written.cached + filled.cached)
    else:
        written = replace(written, unfilled=unfilled)
    return replace(written, seconds=_since(started))


def _write(
    store: Writer, plan: _Plan, base: IndexReport, config: IndexConfig, location: Location, paths: Sequence[PathArg],
    encoder: Encoder | None, device: str | None, progress: Progress | None, warn: Warn, access: ModelAccess | None,
    cache: bool,
) -> tuple[IndexReport, Encoder | None]:  # fmt: skip
    """Encode the plan's new documents (words first when progressive), drop the dropped ones, commit;
    also returns the encoder, when one was loaded."""
    encoded, from_cache, model = 0, (0, 0), store.model
    if plan.new:
        # an existing index's model gets what the caller grants, not what the index records
        dense = config.dense if store.config is None else (access or ModelAccess()).applied(config.dense, str(location))
        encoder = encoder or load_model(dense, device, store.model, progress)
        embeddings = open_default_cache(warn) if cache else None
        try:
            through = cached_encoder(encoder, embeddings, warn)
            batch = _encode(plan.new, config, through, progress, store.progressive)
            from_cache = (through.texts, through.hits) if isinstance(through, CachedEncoder) else from_cache
        finally:
            if embeddings is not None:
                embeddings.close()
        encoded, model = len(batch.chunks), encoder.spec
        store.add(batch)
    store.remove(plan.dropped)
    assert model is not None  # a new index always has new documents
    sources = list(dict.fromkeys([*store.sources, *map(str, paths)]))
    store.commit(config, model, sources)
    vectors, cached = from_cache
    chunks = encoded + sum(document.num_chunks for document in plan.kept_documents)
    return replace(base, chunks=chunks, encoded=encoded, vectors=vectors, cached=cached), encoder


def set_defaults(location: Location, alpha: float, fusion: str) -> None:
    """Store another default alpha and fusion with the index (its content stays as it is)."""
    with open_writer(location) as store:
        if store.config is None or store.model is None:
            raise IndexNotFoundError(f"No index at {location}; create one with: hsearch index PATH --index {location}")
        store.commit(
            replace(store.config, alpha=check_alpha(alpha), fusion=Fusion.parse(fusion)), store.model, store.sources
        )


def _resolve_config(store: Writer, config: IndexConfig | None, encoder: Encoder | None) -> IndexConfig:
    """The config to write with: the index's own unless another is given, which must then agree."""
    if config is not None or (store.config is None and encoder is not None):
        config = config or IndexConfig()
        model = encoder.spec.name if encoder else resolve_model_name(config.dense.model)
        config = replace(config, dense=replace(config.dense, model=model))
    if store.config is None or store.model is None:
        return config or IndexConfig()
    if encoder is not None:
        store.model.check_compatible(encoder.spec)
    if config is None:
        return store.config
    recorded = replace(store.config, dense=replace(store.config.dense, model=store.model.name))  # the resolved name
    if config.dense.model != recorded.dense.model:
        raise ModelMismatchError(
            f"Index {store.location} was built with model {recorded.dense.model!r}, not {config.dense.model!r}; "
            f"to switch models rebuild it: hsearch index PATH --index {store.location} --model M --rebuild"
        )
    differences = _content_differences(recorded, config)
    if differences:
        raise InputError(
            f"Index {store.location} was built with other settings ({'; '.join(differences)}); keep them, "
            f"or rebuild it with the new ones: hsearch index PATH --index {store.location} --rebuild"
        )
    stored = store.config  # keep the query defaults a user tuned
    return replace(config, alpha=stored.alpha, fusion=stored.fusion, min_confidence=stored.min_confidence)


def _without_model(config: IndexConfig) -> IndexConfig:
    """`config` without its model's name (an index records it resolved, a caller may give it as typed)."""
    return replace(config, dense=replace(config.dense, model=""))


def _content_differences(old: IndexConfig, new: IndexConfig) -> list[str]:
    """Settings that change what is stored (declared `rebuild`; not query defaults, batch size, API
    address or the time a file may take to read), as 'key: old → new'."""
    a, b = old.stored_settings(), new.stored_settings()
    return [f"{key}: {_shown(a[key])} → {_shown(b[key])}" for key in a if a[key] != b[key]]


def _shown(value: object) -> str:
    """A setting's value in a message: a long list (a user dictionary's words) by its length."""
    shown = repr(value)
    return f"{len(value)} entries" if isinstance(value, tuple | list) and len(shown) > 60 else shown


class _Plan:
    """The next state's documents: kept from the index or freshly read."""

    def __init__(self, stored: list[StoredDocument]) -> None:
        self.stored = stored
        self.by_path: dict[str, list[StoredDocument]] = {}  # by resolved path: what the loaders record now
        resolved: dict[str, str] = {}
        for document in stored:
            if document.abs_path not in resolved:
                resolved[document.abs_path] = os.path.realpath(document.abs_path)
            self.by_path.setdefault(resolved[document.abs_path], []).append(document)
        self.kept = {document.id for document in stored}
        self.new: list[Document] = []
        self.new_paths: set[str] = set()
        self.added = self.changed = self.removed = 0

    @property
    def kept_documents(self) -> list[StoredDocument]:
        return [document for document in self.stored if document.id in self.kept]

    @property
    def documents(self) -> list[StoredDocument | Document]:
        return [*self.kept_documents, *self.new]

    @property
    def dropped(self) -> list[str]:
        return [document.id for document in self.stored if document.id not in self.kept]

    def is_unchanged(self, abs_path: str, sha256: str) -> bool:
        documents = self.by_path.get(abs_path, [])
        return bool(documents) and all(document.sha256 == sha256 for document in documents)

    def add(self, document: Document) -> None:
        if document.abs_path not in self.new_paths:  # the first record of its file
            self.new_paths.add(document.abs_path)
            if self._drop(self.by_path.get(document.abs_path, [])):
                self.changed += 1
            else:
                self.added += 1
        self.new.append(document)

    def drop_missing(self, paths: Sequence[PathArg], report: LoadReport) -> None:
        """Drop stored documents under `paths` whose file was not read now (deleted, or skipped this
        time as unusable); those under a folder or file that could not be read stay."""
        present = set(report.unchanged) | self.new_paths
        for abs_path, documents in self.by_path.items():
            reached = _under(abs_path, paths) or _under(os.path.abspath(documents[0].path), paths)  # or a link to it
            kept = _under(abs_path, report.unreadable)
            if abs_path not in present and reached and not kept and self._drop(documents):
                self.removed += 1

    def drop_under(self, paths: Sequence[PathArg]) -> None:
        """Drop every stored document under `paths` (the `remove` command); naming nothing is an error."""
        if not paths:
            return
        matched = [abs_path for abs_path in self.by_path if _under(abs_path, paths)]
        if not matched:
            raise InputError(f"No indexed document is under {', '.join(map(str, paths))}.")
        for abs_path in matched:
            if self._drop(self.by_path[abs_path]):
                self.removed += 1

    def is_dirty(self) -> bool:
        return bool(self.new) or len(self.kept) != len(self.stored)

    def _drop(self, documents: list[StoredDocument]) -> bool:
        dropped = [document.id for document in documents if document.id in self.kept]
        self.kept.difference_update(dropped)
        return bool(dropped)


def _under(abs_path: str, paths: Sequence[PathArg]) -> bool:
    """Is the file `abs_path` (resolved, as the loaders record it) one of `paths` or under one?"""
    for given in paths:
        root = os.path.realpath(given)
        if abs_path == root or abs_path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


def _encode(
    documents: Sequence[Document], config: IndexConfig, encoder: Encoder, progress: Progress | None, progressive: bool
) -> Batch:
    """Chunk, tokenise and encode new documents (chunks and, with sentence vectors, their sentences).
    `progressive`: when `PROGRESSIVE_FROM` chunks or more need the model (their vectors are not in the
    embedding cache), only the runs (`ENCODE_RUN`) the cache holds get their vectors now (`Batch.has_vector`);
    `filling` adds the rest."""
    chunks: list[Chunk] = []
    titles: list[str] = []
    for document in documents:
        fits = partial(_fits_with_title, encoder, document.title)
        pieces = chunk_text(document.text, document.id, config.chunk, fits=fits, regions=document.regions)
        chunks.extend(pieces)
        titles.extend(document.title for _ in pieces)
    inputs = [model_input(title, chunk.text) for title, chunk in zip(titles, chunks)]
    counts = count_terms(inputs, config.tokenizer, Stage(progress, "tokenizing", len(inputs), "chunks").add)
    texts = [chunk.text for chunk in chunks]
    ready = _cached(titles, texts, config, encoder) if progressive else None
    encoding = Stage(progress, "encoding", None, "texts")
    if ready is None or np.count_nonzero(~ready) < PROGRESSIVE_FROM:
        whole = embed(titles, texts, config, encoder, encoding)
        return Batch(documents, chunks, counts, whole.vectors, whole.sentence_counts, whole.sentence_vectors)
    rows = np.flatnonzero(ready).tolist()
    part = embed([titles[i] for i in rows], [texts[i] for i in rows], config, encoder, encoding).spread(ready)
    return Batch(documents, chunks, counts, part.vectors, part.sentence_counts, part.sentence_vectors, ready)


def _cached(titles: list[str], texts: list[str], config: IndexConfig, encoder: Encoder) -> np.ndarray:
    """For each chunk: does the embedding cache hold every vector of its run (`ENCODE_RUN`)? A run is
    encoded whole, now or by the fill, which then meets the runs `embed` would have."""
    needed = model_texts(titles, texts, config)
    if not isinstance(encoder, CachedEncoder) or not needed:
        return np.zeros(len(needed), bool)
    held = encoder.holds([text for chunk_texts in needed for text in chunk_texts])
    starts = np.concatenate([[0], np.cumsum([len(chunk_texts) for chunk_texts in needed])[:-1]])
    run = run_numbers(len(needed))
    return (np.bincount(run, weights=~np.logical_and.reduceat(held, starts)) == 0)[run]


def _fits_with_title(encoder: Encoder, title: str, text: str) -> bool:
    return encoder.fits(model_input(title, text))


def _since(started: float) -> float:
    return time.perf_counter() - started
