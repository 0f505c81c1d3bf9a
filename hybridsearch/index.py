"""HybridIndex: build an index from folders, open it, search it.

index = HybridIndex.build("docs", "indexes/docs")      # or HybridIndex.open("indexes/docs")
for hit in index.search("赤い惑星は?", k=5, alpha=0.6):
    print(hit.score, hit.source, hit.text)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .bm25 import top_k
from .config import Fusion, IndexConfig, check_alpha
from .encoders import Encoder, check_vectors, load_encoder, resolve_model_name
from .errors import EmptyQueryError, InputError, ModelMismatchError
from .fusion import Fused, fuse
from .indexing import IndexReport, write_index
from .loaders import PathArg, Warn
from .schema import Hit
from .store import Generation, open_generation, stored_config, verify_files
from .textnorm import normalize_with_offsets
from .tokenization import PAIR_SEPARATOR, Tokenizer

__all__ = ["Candidates", "EXHAUSTIVE_LIMIT", "HybridIndex", "candidate_depth"]

#: Indexes with at most this many chunks score every chunk on both sides for every query.
EXHAUSTIVE_LIMIT = 10_000


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

    def __init__(self, generation: Generation, encoder: Encoder | None = None, device: str | None = None) -> None:
        self.generation = generation
        self.index_dir = generation.index_dir
        self.manifest = generation.manifest
        self.config = generation.config
        self.model = generation.model
        self.bm25 = generation.bm25
        self.vectors = generation.vectors
        self.sentences = generation.sentences
        self.docstore = generation.docstore
        self.tokenizer = Tokenizer(self.config.tokenizer)
        self._encoder = encoder
        self.device = device
        self.report: IndexReport | None = None

    # --- writing --------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        paths: PathArg | Sequence[PathArg],
        index_dir: PathArg = "indexes/default",
        *,
        model: str | None = None,
        encoder: Encoder | None = None,
        config: IndexConfig | None = None,
        device: str | None = None,
        rebuild: bool = False,
        show_progress: bool = False,
        warn: Warn | None = None,
    ) -> HybridIndex:
        """Index the supported files under `paths` into `index_dir` and return the opened index.

        If an index is already there, it is brought up to date: only added or changed files are read
        and encoded, and documents whose files are gone from `paths` are dropped (`rebuild=True`
        starts from scratch). `model` names a sentence-transformers model (folder or cached hub
        name) or `openai:NAME`; `config.dense` holds the other model settings (dim, prompts…);
        `encoder` passes a ready model; `device` runs a local one on cuda/mps. Skipped files are
        reported through `warn` (default: stderr). What happened is in the returned index's `report`.
        """
        sources = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not sources:
            raise InputError("Give at least one folder or file to index.")
        if model is not None:
            config = config or cls.stored_config(index_dir) or IndexConfig()
            config = replace(config, dense=replace(config.dense, model=model))
        report = write_index(
            Path(index_dir), sources, config=config, encoder=encoder, device=device, rebuild=rebuild,
            show_progress=show_progress, warn=warn,
        )  # fmt: skip
        index = cls.open(index_dir, encoder=encoder, device=device)
        index.report = report
        return index

    @classmethod
    def remove(cls, paths: PathArg | Sequence[PathArg], index_dir: PathArg = "indexes/default") -> HybridIndex:
        """Drop every document whose file is `paths` or lies under them; returns the updated index."""
        targets = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        report = write_index(Path(index_dir), remove=targets)
        index = cls.open(index_dir)
        index.report = report
        return index

    @staticmethod
    def stored_config(index_dir: PathArg) -> IndexConfig | None:
        """The configuration of the index at `index_dir` (read from its manifest), or None when there is none."""
        return stored_config(Path(index_dir))

    # --- opening --------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        index_dir: PathArg = "indexes/default",
        *,
        model: str | None = None,
        dim: int | None = None,
        encoder: Encoder | None = None,
        device: str | None = None,
    ) -> HybridIndex:
        """Open the live generation of an index. `model`, `dim` and `encoder`, if given, must match the
        index's (a `ModelMismatchError` otherwise); `device` runs its model on cuda/mps."""
        generation = open_generation(Path(index_dir))
        recorded = generation.model
        asked = {"model": (resolve_model_name(model) if model else None, recorded.name), "dim": (dim, recorded.dim)}
        differing = [f"{key} {given!r} (the index has {held!r})" for key, (given, held) in asked.items()
                     if given is not None and given != held]  # fmt: skip
        if differing:
            raise ModelMismatchError(
                f"Index {index_dir} was built with model {recorded.name!r} at dim {recorded.dim}, not "
                f"{' and '.join(differing)}; query it with its own model, or rebuild it with the new one."
            )
        if encoder is not None:
            recorded.check_compatible(encoder.spec)
        return cls(generation, encoder, device)

    @property
    def encoder(self) -> Encoder:
        """The index's dense model, loaded on first use."""
        if self._encoder is None:
            dense = replace(self.config.dense, model=self.model.name)
            self._encoder = load_encoder(dense, self.device, known=self.model)
            self.model.check_compatible(self._encoder.spec)
        return self._encoder

    def check(self) -> list[str]:
        """A full consistency check: file checksums, and docstore, BM25 and FAISS agreeing on chunk ids."""
        problems = verify_files(self.generation.path, self.manifest)
        documents, chunks = self.docstore.counts()
        ids = self.vectors.ids()
        if not np.array_equal(ids, np.arange(chunks)):
            problems.append(f"FAISS ids are not the chunk ids 0..{chunks - 1}")
        stored = self.docstore.all_chunks()
        if [c.doc_index for c in stored] != sorted(c.doc_index for c in stored) or any(
            not 0 <= c.doc_index < documents for c in stored
        ):
            problems.append("chunks do not point at their documents in order")
        problems += self.bm25.problems()
        return problems

    # --- searching ------------------------------------------------------------------------------

    def search(
        self, query: str, k: int = 10, alpha: float | None = None, fusion: Fusion | str | None = None
    ) -> list[Hit]:
        """The `k` best chunks for `query`: `alpha` is the dense share (default: the index's)."""
        if not isinstance(query, str) or not query.strip():
            raise EmptyQueryError("The query is empty; give some words to search for.")
        query = query.encode("utf-8", "replace").decode("utf-8")  # lone surrogates (from undecodable argv) → ?
        if not isinstance(k, int) or k < 1:
            raise InputError(f"k must be a positive whole number (got {k!r}).")
        alpha = self.config.alpha if alpha is None else check_alpha(alpha)
        fusion = self.config.fusion if fusion is None else Fusion.parse(fusion)

        terms = self.tokenizer.query_terms(query)
        vector = self.encode_queries([query])[0] if alpha > 0 else None  # alpha = 0: no model load
        fused = self.candidates(terms, vector, candidate_depth(k, self.bm25.num_chunks)).fuse(alpha, fusion, k)

        chunk_ids = fused.ids.tolist()
        stored = self.docstore.chunks(chunk_ids)
        hits = []
        for rank, (i, matched) in enumerate(zip(chunk_ids, self.bm25.matched_terms(terms, chunk_ids))):
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
                    matched_terms=tuple(matched),
                    highlights=self._highlights(chunk.text, chunk.start, matched),
                )
            )
        return hits

    def _highlights(self, text: str, offset: int, terms: Sequence[str]) -> tuple[tuple[int, int], ...]:
        """Source spans of the words of `text` whose BM25 term is one of `terms` (or half of a word pair)."""
        if not terms:
            return ()
        wanted = {word for term in terms for word in term.split(PAIR_SEPARATOR)}
        normalized = normalize_with_offsets(text)
        spans = []
        for _, start, end in self.tokenizer.term_spans(normalized.text, wanted):
            source_start, source_end = normalized.source_span(start, end)
            spans.append((offset + source_start, offset + source_end))
        return tuple(spans)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Query vectors from the index's model (loaded on first use), checked for shape."""
        return check_vectors(self.encoder.encode_queries(queries), len(queries), self.model.dim)

    def candidates(self, terms: Sequence[str], vector: np.ndarray | None, depth: int) -> Candidates:
        """Each side's top `depth` chunks for a query's BM25 terms and vector (None: no dense side).

        With sentence vectors, the dense side's chunks are scored again with their best sentence's
        cosine (`SentenceVectors.mixed`) and re-ranked."""
        bm25_scores = self.bm25.scores(terms)
        bm25_ids = top_k(bm25_scores, depth)
        if vector is None:
            dense_scores, dense_ids = np.zeros(0, np.float32), np.zeros(0, np.int64)
        else:
            dense_scores, dense_ids = self.vectors.search(vector, depth)
            if self.sentences is not None:
                dense_scores = self.sentences.mixed(vector, dense_ids, dense_scores)
                order = np.argsort(-dense_scores, kind="stable")
                dense_scores, dense_ids = dense_scores[order], dense_ids[order]
        return Candidates(bm25_ids, bm25_scores[bm25_ids], dense_ids, dense_scores)

    def info(self) -> dict[str, Any]:
        """What the index holds and how it was built (the manifest, minus file checksums)."""
        details = {key: value for key, value in self.manifest.items() if key != "files"}
        where = {"path": str(self.index_dir), "generation": self.generation.path.name}
        return details | where | {"vectors": str(self.vectors.kind)}

    def close(self) -> None:
        self.docstore.close()

    def __enter__(self) -> HybridIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
