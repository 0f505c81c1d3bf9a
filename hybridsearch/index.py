"""HybridIndex: build an index from folders, open it, search it.

index = HybridIndex.build("docs", "indexes/docs")      # or HybridIndex.open("indexes/docs")
for hit in index.search("赤い惑星は?", k=5, alpha=0.6):
    print(hit.score, hit.source, hit.text)
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .bm25 import BM25Index, top_k
from .chunking import chunk_text, model_input
from .config import Fusion, IndexConfig, check_alpha
from .encoders import Encoder, ModelSpec, check_vectors, load_encoder
from .errors import EmptyQueryError, HybridSearchError, IndexFormatError, InputError
from .fusion import Fused, fuse
from .loaders import LoadReport, iter_documents
from .schema import Chunk, Hit
from .store import (
    BM25_DIR,
    DOCSTORE,
    VECTORS,
    DocStore,
    check_index_location,
    live_generation,
    new_generation,
    read_manifest,
    rebuild_hint,
    write_docstore,
    write_manifest,
)
from .tokenization import Tokenizer

__all__ = ["BuildReport", "Candidates", "EXHAUSTIVE_LIMIT", "HybridIndex", "candidate_depth"]

#: Indexes with at most this many chunks score every chunk on both sides for every query.
EXHAUSTIVE_LIMIT = 10_000

logger = logging.getLogger("hybridsearch")
Warn = Callable[[str], None]
PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class BuildReport:
    """What a build did: files seen, skipped (with reasons), documents, chunks, seconds."""

    files: int
    documents: int
    chunks: int
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    skipped_records: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Candidates:
    """Both sides' ranked lists for one query (chunk ids with raw scores, best first), before fusion."""

    bm25_ids: np.ndarray
    bm25_scores: np.ndarray
    dense_ids: np.ndarray
    dense_scores: np.ndarray

    def fuse(self, alpha: float, fusion: Fusion | str, k: int) -> Fused:
        """Fused top `k`; with alpha = 0 the dense side is left out entirely (BM25 order, BM25 ties)."""
        if alpha == 0:
            empty = np.zeros(0, np.int64)
            return fuse(self.bm25_ids, self.bm25_scores, empty, empty.astype(np.float32), alpha, fusion, k)
        return fuse(self.bm25_ids, self.bm25_scores, self.dense_ids, self.dense_scores, alpha, fusion, k)


def candidate_depth(k: int, num_chunks: int) -> int:
    """How many candidates each side contributes: every chunk for small indexes, else max(100, 10k)."""
    return num_chunks if num_chunks <= EXHAUSTIVE_LIMIT else max(100, 10 * k)


class HybridIndex:
    """A built index: BM25 over MeCab terms + dense vectors, fused per query with `alpha`."""

    def __init__(self, index_dir: Path, manifest: dict[str, Any], encoder: Encoder | None = None) -> None:
        self.index_dir = index_dir
        self.manifest = manifest
        self.config = IndexConfig.from_dict(manifest["config"])
        self.model = ModelSpec(**manifest["model"])
        generation = index_dir / manifest["generation"]
        try:
            self.bm25 = BM25Index.load(generation / BM25_DIR, self.config.bm25)
            from .vectors import VectorStore

            self.vectors = VectorStore.load(generation / VECTORS)
            self.docstore = DocStore(generation / DOCSTORE)
        except (OSError, ValueError, RuntimeError) as error:
            raise IndexFormatError(f"Index {index_dir} is damaged ({error}); {rebuild_hint(index_dir)}.") from None
        counts = manifest["counts"]
        shapes = (self.bm25.num_chunks, len(self.vectors), self.vectors.dim)
        if shapes != (counts["chunks"], counts["chunks"], self.model.dim):
            raise IndexFormatError(
                f"Index {index_dir} is inconsistent: manifest says {counts['chunks']} chunks of dim "
                f"{self.model.dim}, BM25 has {shapes[0]} chunks, vectors {shapes[1]} of dim {shapes[2]}; "
                f"{rebuild_hint(index_dir)}."
            )
        self.tokenizer = Tokenizer(self.config.tokenizer)
        self._encoder = encoder
        self.build_report: BuildReport | None = None

    # --- building -------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        paths: PathArg | Sequence[PathArg],
        index_dir: PathArg = "indexes/default",
        *,
        model: str | None = None,
        encoder: Encoder | None = None,
        config: IndexConfig | None = None,
        show_progress: bool = False,
        warn: Warn | None = None,
    ) -> HybridIndex:
        """Index every supported file under `paths` into `index_dir`, replacing what was there.

        `model` names a sentence-transformers model (folder or cached hub name); `encoder` passes a
        ready one instead. Skipped files are reported through `warn` (default: the logger).
        """
        started = time.perf_counter()
        sources = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not sources:
            raise InputError("Give at least one folder or file to index.")
        missing = [str(s) for s in sources if not Path(s).exists()]
        if missing:
            raise InputError(f"No such file or folder: {', '.join(missing)}")
        index_path = Path(index_dir)
        check_index_location(index_path)
        config = config or IndexConfig()
        if model is not None:
            config = config.with_changes(dense=replace(config.dense, model=model))
        warn = warn or logger.warning

        report = LoadReport()
        with _bar("Reading", "files", show_progress) as bar:
            documents = []
            for document in iter_documents(sources, config.loader, report, warn):
                documents.append(document)
                bar.update(report.files - bar.n)
        if not documents:
            skipped = f" ({len(report.skipped_files)} file(s) skipped)" if report.skipped_files else ""
            raise InputError(f"No documents with text found under {', '.join(map(str, sources))}{skipped}.")

        if encoder is None:
            if show_progress:
                print(f"Loading model {config.dense.model} …", file=sys.stderr)
            encoder = load_encoder(config.dense.model)
        chunks: list[Chunk] = []
        inputs: list[str] = []  # title + chunk text: what BM25 and the encoder see
        for doc_index, document in enumerate(documents):
            title = document.title
            fits = partial(_fits_with_title, encoder, title)
            pieces = chunk_text(document.text, doc_index, config.chunk, fits=fits)
            chunks.extend(pieces)
            inputs.extend(model_input(title, piece.text) for piece in pieces)

        tokenizer = Tokenizer(config.tokenizer)
        with _bar("Tokenizing", "chunks", show_progress, total=len(chunks)) as bar:
            terms = []
            for text in inputs:
                terms.append(tokenizer.document_terms(text))
                bar.update(1)
        bm25 = BM25Index.build(terms, config.bm25)

        with _bar("Encoding", "chunks", show_progress, total=len(chunks)) as bar:
            vectors = encoder.encode_documents(inputs, config.dense.batch_size, progress=bar.update)
        vectors = check_vectors(vectors, len(chunks), encoder.spec.dim)

        from .vectors import VectorStore

        with new_generation(index_path) as work:
            bm25.save(work / BM25_DIR)
            VectorStore.build(vectors).save(work / VECTORS)
            write_docstore(work / DOCSTORE, documents, chunks)
            write_manifest(
                work,
                {
                    "config": config.to_dict(),
                    "model": encoder.spec.to_dict(),
                    "sources": [str(s) for s in sources],
                    "counts": {
                        "files": report.files,
                        "documents": len(documents),
                        "chunks": len(chunks),
                        "terms": len(bm25.vocab),
                        "skipped_files": len(report.skipped_files),
                        "skipped_records": report.skipped_records,
                    },
                },
            )
        index = cls.open(index_path, encoder=encoder)
        index.build_report = BuildReport(
            files=report.files,
            documents=len(documents),
            chunks=len(chunks),
            skipped_files=report.skipped_files,
            skipped_records=report.skipped_records,
            seconds=time.perf_counter() - started,
        )
        return index

    # --- opening --------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, index_dir: PathArg = "indexes/default", *, model: str | None = None, encoder: Encoder | None = None
    ) -> HybridIndex:
        """Open the live generation of an index. `model`/`encoder`, if given, must match the index's."""
        index_path = Path(index_dir)
        generation = live_generation(index_path)
        manifest = read_manifest(generation)
        manifest["generation"] = generation.name
        try:
            recorded = ModelSpec(**manifest["model"])
            IndexConfig.from_dict(manifest["config"])
        except (KeyError, TypeError, HybridSearchError) as error:
            raise IndexFormatError(f"Index {index_path} has an invalid manifest ({error}).") from None
        if encoder is None and model is not None:
            encoder = load_encoder(model)
        if encoder is not None:
            recorded.check_compatible(encoder.spec)
        return cls(index_path, manifest, encoder)

    @property
    def encoder(self) -> Encoder:
        """The index's dense model, loaded on first use."""
        if self._encoder is None:
            self._encoder = load_encoder(self.model.name)
            self.model.check_compatible(self._encoder.spec)
        return self._encoder

    # --- searching ------------------------------------------------------------------------------

    def search(
        self, query: str, k: int = 10, alpha: float | None = None, fusion: Fusion | str | None = None
    ) -> list[Hit]:
        """The `k` best chunks for `query`: `alpha` is the dense share (default: the index's)."""
        if not isinstance(query, str) or not query.strip():
            raise EmptyQueryError("The query is empty; give some words to search for.")
        if not isinstance(k, int) or k < 1:
            raise InputError(f"k must be a positive whole number (got {k!r}).")
        alpha = self.config.alpha if alpha is None else check_alpha(alpha)
        fusion = self.config.fusion if fusion is None else Fusion.parse(fusion)

        terms = self.tokenizer.query_terms(query)
        vector = self.encode_queries([query])[0] if alpha > 0 else None  # alpha = 0: no model load
        fused = self.candidates(terms, vector, candidate_depth(k, self.bm25.num_chunks)).fuse(alpha, fusion, k)

        stored = self.docstore.chunks(fused.ids.tolist())
        hits = []
        for rank, i in enumerate(fused.ids.tolist()):
            chunk = stored[i]
            hits.append(
                Hit(
                    rank=rank + 1,
                    chunk_id=i,
                    score=float(fused.score[rank]),
                    bm25=float(fused.bm25[rank]),
                    bm25_norm=float(fused.bm25_norm[rank]),
                    dense=float(fused.dense[rank]) if alpha > 0 else None,
                    dense_norm=float(fused.dense_norm[rank]) if alpha > 0 else None,
                    source=chunk.source,
                    path=chunk.path,
                    record=chunk.record,
                    title=chunk.title,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    ordinal=chunk.ordinal,
                    matched_terms=tuple(self.bm25.matched_terms(terms, i)),
                )
            )
        return hits

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Query vectors from the index's model (loaded on first use), checked for shape."""
        return check_vectors(self.encoder.encode_queries(queries), len(queries), self.model.dim)

    def candidates(self, terms: Sequence[str], vector: np.ndarray | None, depth: int) -> Candidates:
        """Each side's top `depth` chunks for a query's BM25 terms and vector (None: no dense side)."""
        bm25_scores = self.bm25.scores(terms)
        bm25_ids = top_k(bm25_scores, depth)
        if vector is None:
            dense_scores, dense_ids = np.zeros(0, np.float32), np.zeros(0, np.int64)
        else:
            dense_scores, dense_ids = self.vectors.search(vector, depth)
        return Candidates(bm25_ids, bm25_scores[bm25_ids], dense_ids, dense_scores)

    def info(self) -> dict[str, Any]:
        """What the index holds and how it was built (the manifest, minus file checksums)."""
        return {key: value for key, value in self.manifest.items() if key != "files"} | {"path": str(self.index_dir)}

    def close(self) -> None:
        self.docstore.close()

    def __enter__(self) -> HybridIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fits_with_title(encoder: Encoder, title: str, text: str) -> bool:
    return encoder.fits(model_input(title, text))


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
