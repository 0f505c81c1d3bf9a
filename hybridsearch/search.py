"""The query pipeline every front door calls: a `SearchRequest` → terms and vector → each side's
candidates from the backend (filters applied before the cut) → fusion → hits with highlights and
confidence → a `SearchResponse` that says which hits are weak.

`Searcher` runs it on one consistent state of an index (a backend, its tokenizer and encoder);
`HybridIndex.search` makes one per call, `hsearch eval` one per dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .access import READERS_FIELD, Principal, restricted
from .answers import answer_span
from .backends import Backend, Side
from .confidence import calibration, features
from .config import DEFAULT_THRESHOLD, Fusion
from .encoders import Encoder, check_vectors
from .errors import InputError
from .filters import Filter
from .fusion import Fused, fuse
from .grouping import Grouped, group, pool_size
from .locations import location_at
from .request import SearchRequest, SearchResponse, checked_query
from .rerank import Reranker
from .schema import Copy, Hit, StoredChunk
from .textnorm import normalize_with_offsets
from .tokenization import LIGHT_WORDS, PAIR_SEPARATOR, Tokenizer

__all__ = [
    "Candidates",
    "EXHAUSTIVE_LIMIT",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "Query",
    "Searcher",
    "candidate_depth",
]

#: Searches over at most this many chunks (after filtering) score every one of them on both sides.
EXHAUSTIVE_LIMIT = 10_000
#: The BM25 side reads at most this many characters of a query and keeps at most this many distinct
#: terms (words first, then word pairs); the encoder reads at most its model's maximum sequence
#: length in characters (about one token each in Japanese), or this many for models without one.
MAX_QUERY_CHARS = 2000
MAX_QUERY_TERMS = 256


@dataclass(frozen=True)
class Query:
    """A query as each side reads it, and what was cut to keep every query fast (empty: nothing)."""

    text: str
    terms: list[str]
    dense_text: str
    cut: dict[str, int]
    own: int = -1  # the terms before this are the query's own, those after it from its synonyms (-1: all own)

    @property
    def own_terms(self) -> list[str]:
        return self.terms if self.own < 0 else self.terms[: self.own]


def candidate_depth(k: int, num_chunks: int) -> int:
    """How many candidates each side contributes: every chunk for small indexes, else max(100, 10k)."""
    return num_chunks if num_chunks <= EXHAUSTIVE_LIMIT else max(100, 10 * k)


@dataclass(frozen=True)
class Candidates:
    """Both sides' ranked lists for one query (backend keys with raw scores, best first), before fusion."""

    bm25: Side
    dense: Side

    def fuse(self, alpha: float, fusion: Fusion | str, k: int) -> Fused:
        """Fused top `k`; with alpha = 0 the dense side is left out entirely (BM25 order, BM25 ties)."""
        dense = Side.empty() if alpha == 0 else self.dense
        lone = self.bm25.without_dense if alpha > 0 else None  # chunks still without vectors: BM25 alone
        return fuse(self.bm25.keys, self.bm25.scores, dense.keys, dense.scores, alpha, fusion, k, self.bm25.best, lone)


class Searcher:
    """The query pipeline over one backend state. `encoder` is called only when a search needs the
    dense side (alpha > 0), so BM25-only searches never load a model."""

    def __init__(self, backend: Backend, tokenizer: Tokenizer, encoder: Callable[[], Encoder]) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self._encoder = encoder

    def respond(self, request: SearchRequest, rerank: Reranker | None = None) -> SearchResponse:
        """The answer to `request` (`HybridIndex.search` documents each option); `rerank` re-scores
        the first `request.rerank_depth` candidates."""
        config = self.backend.config
        alpha = config.alpha if request.alpha is None else request.alpha
        fusion = config.fusion if request.fusion is None else request.fusion
        threshold = self._threshold(request.min_confidence, alpha)
        prepared = self.prepare(request.query)
        hits = self._hits(request, prepared, alpha, fusion, threshold, rerank)
        chunks = self.backend.num_chunks
        with_vectors = self.backend.num_vectors / chunks if chunks else 1.0
        return SearchResponse(
            request, tuple(hits), alpha, fusion, threshold, prepared.cut, self.backend.version, with_vectors
        )

    def _threshold(self, asked: float | None, alpha: float) -> float | None:
        """The confidence below which a hit is weak: `asked`, else the index's; None when this model's
        confidence is not calibrated (asking for a threshold then is an `InputError`)."""
        if calibration(self._calibrated_model(), alpha > 0) is not None:
            stored = self.backend.config.min_confidence  # None until a user calibrates one
            return asked if asked is not None else DEFAULT_THRESHOLD if stored is None else stored
        if asked is not None:
            raise InputError(
                f"min_confidence needs a model whose confidence is calibrated; {self.backend.model.name} "
                "has none (see hybridsearch/confidence.py)."
            )
        return None

    def _hits(
        self,
        request: SearchRequest,
        prepared: Query,
        alpha: float,
        fusion: Fusion,
        threshold: float | None,
        rerank: Reranker | None,
    ) -> list[Hit]:
        k = request.k
        wanted = max(k, request.rerank_depth) if rerank else k
        where = self.readable(request.where, request.principal)
        matching = self.backend.count(where)
        if not matching:
            return []
        vector = self.encode_queries([prepared.dense_text])[0] if alpha > 0 else None  # alpha = 0: no model load
        depth = candidate_depth(wanted, matching)
        candidates = self.candidates(prepared.terms, vector, depth, where, prepared.own_terms)
        kept: list[Grouped] = []
        if request.group_by is None and not request.collapse:
            chosen = candidates.fuse(alpha, fusion, wanted)
        else:
            fused = candidates.fuse(alpha, fusion, pool_size(wanted))
            kept = group(self._ranked(fused, wanted), wanted, request.group_by, request.collapse, self.backend.get)
            chosen = fused.take(np.array([entry.position for entry in kept], dtype=np.int64))
        hits = self.hits(chosen, prepared.terms, vector, grouped=kept)
        hits = self.with_confidence(hits, candidates, threshold)
        return reranked(hits, request.query, rerank)[:k] if rerank else hits

    def readable(self, where: Filter | None, principal: Principal | None) -> Filter | None:
        """`where` kept to the documents `principal` may read (None: those open to everyone); the
        same `where` on an index whose documents have no readers (all open to everyone)."""
        if not self.backend.has_field(READERS_FIELD):
            return where
        return restricted(where, principal)

    def _calibrated_model(self) -> str:
        """The model name confidence weights are looked up by (fitted with sentence scores on)."""
        return self.backend.model.name if self.backend.config.dense.sentences else ""

    def with_confidence(self, hits: list[Hit], candidates: Candidates, threshold: float | None = None) -> list[Hit]:
        """`hits` with their `confidence`, when the index's model has fitted weights (`confidence.py`),
        each `weak` when that is below `threshold`."""
        confidence: list[float | None] = [None] * len(hits)
        for dense in (True, False):  # a hit without a dense side (BM25 only, or no vector yet) as BM25 alone
            chosen = [i for i, hit in enumerate(hits) if (hit.dense is not None) == dense]
            fitted = calibration(self._calibrated_model(), dense)
            if fitted is None or not chosen:
                continue
            best_dense = float(candidates.dense.scores.max(initial=0.0)) if dense else 0.0
            best_bm25 = float(candidates.bm25.scores.max(initial=0.0))
            rows = features(np.array([hits[i].dense for i in chosen]) if dense else None, best_dense,
                            np.array([hits[i].bm25 for i in chosen]), best_bm25, candidates.bm25.best)  # fmt: skip
            for i, p in zip(chosen, fitted.confidence(rows).tolist()):
                confidence[i] = p
        return [
            hit if p is None else replace(hit, confidence=p, weak=threshold is not None and p < threshold)
            for hit, p in zip(hits, confidence)
        ]

    def _ranked(self, fused: Fused, k: int) -> Iterator[StoredChunk]:
        """The fused candidates' chunks in order, read in blocks as grouping asks for them."""
        keys = fused.ids.tolist()
        block = max(2 * k, 20)
        for start in range(0, len(keys), block):
            yield from self.backend.chunks(keys[start : start + block])

    def prepare(self, query: str) -> Query:
        """What each side reads of `query`: BM25 terms (question words dropped, word pairs added) of its
        first MAX_QUERY_CHARS characters, at most MAX_QUERY_TERMS of them, and the text for the encoder."""
        text = checked_query(query)
        own, added = self.tokenizer.expanded_query(text[:MAX_QUERY_CHARS])
        own = list(dict.fromkeys(own))
        terms = own + [term for term in dict.fromkeys(added) if term not in own]
        dense_limit = self.backend.model.max_seq_length or MAX_QUERY_CHARS
        cut = {"characters": MAX_QUERY_CHARS} if len(text) > MAX_QUERY_CHARS else {}
        if len(own) > MAX_QUERY_TERMS:
            cut["terms"] = MAX_QUERY_TERMS
        if len(text) > dense_limit:
            cut["dense_characters"] = dense_limit
        own_count = min(len(own), MAX_QUERY_TERMS) if added else -1  # synonyms fill what the query leaves
        return Query(text, terms[:MAX_QUERY_TERMS], text[:dense_limit], cut, own_count)

    def terms(self, query: str) -> list[str]:
        """The BM25 terms of a query, as `search` uses them (`prepare`)."""
        return self.prepare(query).terms

    @property
    def encoder(self) -> Encoder:
        """The dense model of this backend state (loaded on first use)."""
        return self._encoder()

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Query vectors from the index's model (loaded on first use), checked for shape."""
        return check_vectors(self.encoder.encode_queries(queries), len(queries), self.backend.model.dim)

    def candidates(
        self,
        terms: Sequence[str],
        vector: np.ndarray | None,
        depth: int,
        where: Filter | None = None,
        own_terms: Sequence[str] | None = None,
    ) -> Candidates:
        """Each side's top `depth` chunks for a query's BM25 terms and vector (None: no dense side).
        With synonyms (`own_terms`, the query's own terms, fewer than `terms`), the BM25 ceiling is
        that of the query's own words, or the best candidate's score if a synonym scores above it: a
        chunk uses one wording, so the most any chunk could score is not every wording's at once."""
        dense = Side.empty() if vector is None else self.backend.dense(vector, depth, where)
        sparse = self.backend.sparse(terms, depth, where)
        if own_terms is not None and len(own_terms) < len(terms):
            own_best = self.backend.sparse(own_terms, 1, where).best if own_terms else 0.0
            best = max(own_best, float(sparse.scores.max(initial=0.0)))
            sparse = replace(sparse, best=best)
        return Candidates(sparse, dense)

    def hits(
        self, fused: Fused, terms: Sequence[str], vector: np.ndarray | None = None, grouped: Sequence[Grouped] = ()
    ) -> list[Hit]:
        """The fused candidates as Hits, with matched terms, highlights and the answering sentence
        (from the matched words and, given the query `vector`, the sentence vectors; None: the search
        ran BM25 alone). From `group`: each one's copies and how many more chunks of its document
        were candidates (their chunks, already read, are not read again)."""
        keys = fused.ids.tolist()
        stored = [entry.chunk for entry in grouped] if grouped else self.backend.chunks(keys)
        matched_terms = self.backend.matched_terms(terms, keys)
        no_scores: list[np.ndarray | None] = [None] * len(keys)
        sentence_scores = no_scores if vector is None else self.backend.sentence_scores(vector, keys)
        dense = vector is not None
        lone = set(np.asarray(keys)[~self.backend.has_vectors(keys)].tolist()) if dense else set()
        hits = []
        for rank, (chunk, matched, cosines) in enumerate(zip(stored, matched_terms, sentence_scores)):
            extra = grouped[rank] if grouped else Grouped(rank, chunk)
            highlights = self.highlights(chunk.text, chunk.start, matched)
            chunk_spans = [(start - chunk.start, end - chunk.start) for start, end in highlights]
            answer_start, answer_end = answer_span(chunk.text, chunk.title, chunk_spans, cosines)
            hits.append(
                Hit(
                    rank=rank + 1,
                    id=chunk.id,
                    document_id=chunk.document_id,
                    score=float(fused.score[rank]),
                    bm25=float(fused.bm25[rank]),
                    bm25_norm=float(fused.bm25_norm[rank]),
                    dense=float(fused.dense[rank]) if dense and keys[rank] not in lone else None,
                    dense_norm=float(fused.dense_norm[rank]) if dense and keys[rank] not in lone else None,
                    source=chunk.source,
                    path=chunk.path,
                    record=chunk.record,
                    title=chunk.title,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    ordinal=chunk.ordinal,
                    metadata=chunk.metadata,
                    location=location_at(chunk.location, chunk.start + answer_start),
                    matched_terms=tuple(term for term in matched if not LIGHT_WORDS & set(term.split(PAIR_SEPARATOR))),
                    highlights=highlights,
                    copies=tuple(Copy(c.id, c.document_id, c.source) for c in extra.copies),
                    more=extra.more,
                    answer_start=chunk.start + answer_start,
                    answer_end=chunk.start + answer_end,
                )
            )
        return hits

    def highlights(self, text: str, offset: int, terms: Sequence[str]) -> tuple[tuple[int, int], ...]:
        """Source spans of the words of `text` whose BM25 term is one of `terms` (or half of a word pair),
        light words left unmarked (する, ある, こと, 日…: they match almost everywhere and say nothing)."""
        wanted = {word for term in terms for word in term.split(PAIR_SEPARATOR)} - LIGHT_WORDS
        if not wanted:
            return ()
        normalized = normalize_with_offsets(text)
        spans = []
        for _, start, end in self.tokenizer.term_spans(normalized.text, wanted):
            source_start, source_end = normalized.source_span(start, end)
            spans.append((offset + source_start, offset + source_end))
        return tuple(spans)


def reranked(hits: list[Hit], query: str, reranker: Reranker) -> list[Hit]:
    """`hits` in the order of the reranker's scores (ties keep the fused order), each with its `rerank_score`."""
    scores = reranker.scores(query, [hit.title for hit in hits], [hit.text for hit in hits])
    order = np.argsort(-scores, kind="stable")
    return [replace(hits[i], rank=rank, rerank_score=float(scores[i])) for rank, i in enumerate(order.tolist(), 1)]
