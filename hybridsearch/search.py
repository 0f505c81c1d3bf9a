"""The query pipeline every front door calls: query → terms and vector → each side's candidates from
the backend (filters applied before the cut) → fusion → hits with highlights; and the snippet a hit
is shown with.

`Searcher` runs it on one consistent state of an index (a backend, its tokenizer and encoder);
`HybridIndex.search` makes one per call, `hsearch eval` one per dataset.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .backends import Backend, Side
from .confidence import calibration, features
from .config import Fusion
from .encoders import Encoder, check_vectors
from .errors import EmptyQueryError, InputError
from .filters import Filter, WhereArg
from .fusion import Fused, fuse
from .grouping import Grouped, check_group_by, group, pool_size
from .rerank import DEFAULT_DEPTH, Reranker
from .schema import Copy, Hit, StoredChunk
from .textnorm import normalize_with_offsets
from .tokenization import PAIR_SEPARATOR, Tokenizer

__all__ = [
    "Candidates",
    "EXHAUSTIVE_LIMIT",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "Query",
    "Searcher",
    "Snippet",
    "candidate_depth",
    "checked_k",
    "snippet",
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


def candidate_depth(k: int, num_chunks: int) -> int:
    """How many candidates each side contributes: every chunk for small indexes, else max(100, 10k)."""
    return num_chunks if num_chunks <= EXHAUSTIVE_LIMIT else max(100, 10 * k)


def checked_k(k: object) -> int:
    """`k` as a positive int (numpy integers too; not bools), or an `InputError`."""
    if isinstance(k, bool):
        raise InputError(f"k must be a positive whole number (got {k!r}).")
    try:
        value = operator.index(k)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"k must be a positive whole number (got {k!r}).") from None
    if value < 1:
        raise InputError(f"k must be a positive whole number (got {k!r}).")
    return value


def _fraction(value: object, error: str) -> float:
    """`value` as a float in [0, 1] (numpy numbers too; not bools, not NaN), else `InputError(error)`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= 1:
        raise InputError(error)
    return float(value)


def _checked_alpha(alpha: object) -> float:
    return _fraction(alpha, f"alpha must be between 0 and 1 (got {alpha!r}); 0 = BM25 only, 1 = dense only.")


@dataclass(frozen=True)
class Candidates:
    """Both sides' ranked lists for one query (backend keys with raw scores, best first), before fusion."""

    bm25: Side
    dense: Side

    def fuse(self, alpha: float, fusion: Fusion | str, k: int) -> Fused:
        """Fused top `k`; with alpha = 0 the dense side is left out entirely (BM25 order, BM25 ties)."""
        dense = Side.empty() if alpha == 0 else self.dense
        return fuse(self.bm25.keys, self.bm25.scores, dense.keys, dense.scores, alpha, fusion, k, self.bm25.best)


class Searcher:
    """The query pipeline over one backend state. `encoder` is called only when a search needs the
    dense side (alpha > 0), so BM25-only searches never load a model."""

    def __init__(self, backend: Backend, tokenizer: Tokenizer, encoder: Callable[[], Encoder]) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self._encoder = encoder

    def search(
        self,
        query: str,
        k: int,
        alpha: float | None,
        fusion: Fusion | str | None,
        where: WhereArg,
        group_by: str | None = None,
        collapse: bool = True,
        rerank: Reranker | None = None,
        rerank_depth: int = DEFAULT_DEPTH,
        min_confidence: float | None = None,
    ) -> list[Hit]:
        """The `k` best chunks for `query` among those `where` keeps (`HybridIndex.search` documents each)."""
        query = checked_query(query)
        k = checked_k(k)
        wanted = max(k, checked_k(rerank_depth)) if rerank else k
        group_by = check_group_by(group_by)
        config = self.backend.config
        alpha = config.alpha if alpha is None else _checked_alpha(alpha)
        if min_confidence is not None:
            min_confidence = checked_confidence(min_confidence)
            if calibration(self._calibrated_model(), alpha > 0) is None:
                raise InputError(
                    f"min_confidence needs a model whose confidence is calibrated; {self.backend.model.name} "
                    "has none (see hybridsearch/confidence.py)."
                )
        fusion = config.fusion if fusion is None else Fusion.parse(fusion)
        condition = Filter.parse(where)
        matching = self.backend.count(condition)
        prepared = self.prepare(query)
        if not matching:
            return []
        vector = self.encode_queries([prepared.dense_text])[0] if alpha > 0 else None  # alpha = 0: no model load
        depth = candidate_depth(wanted, matching)
        candidates = self.candidates(prepared.terms, vector, depth, condition)
        kept: list[Grouped] = []
        if group_by is None and not collapse:
            chosen = candidates.fuse(alpha, fusion, wanted)
        else:
            fused = candidates.fuse(alpha, fusion, pool_size(wanted))
            kept = group(self._ranked(fused, wanted), wanted, group_by, collapse)
            chosen = fused.take(np.array([entry.position for entry in kept], dtype=np.int64))
        hits = self.with_confidence(self.hits(chosen, prepared.terms, dense=alpha > 0, grouped=kept), candidates)
        hits = reranked(hits, query, rerank)[:k] if rerank else hits
        return hits if min_confidence is None else confident(hits, min_confidence)

    def _calibrated_model(self) -> str:
        """The model name confidence weights are looked up by (fitted with sentence scores on)."""
        return self.backend.model.name if self.backend.config.dense.sentences else ""

    def with_confidence(self, hits: list[Hit], candidates: Candidates) -> list[Hit]:
        """`hits` with their `confidence`, when the index's model has fitted weights (`confidence.py`)."""
        dense = bool(hits) and hits[0].dense is not None
        fitted = calibration(self._calibrated_model(), dense)
        if fitted is None or not hits:
            return hits
        best_dense = float(candidates.dense.scores.max(initial=0.0)) if dense else 0.0
        best_bm25 = float(candidates.bm25.scores.max(initial=0.0))
        rows = features(np.array([hit.dense for hit in hits]) if dense else None, best_dense,
                        np.array([hit.bm25 for hit in hits]), best_bm25, candidates.bm25.best)  # fmt: skip
        return [replace(hit, confidence=float(p)) for hit, p in zip(hits, fitted.confidence(rows))]

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
        terms = list(dict.fromkeys(self.tokenizer.query_terms(text[:MAX_QUERY_CHARS])))
        dense_limit = self.backend.model.max_seq_length or MAX_QUERY_CHARS
        cut = {"characters": MAX_QUERY_CHARS} if len(text) > MAX_QUERY_CHARS else {}
        if len(terms) > MAX_QUERY_TERMS:
            cut["terms"] = MAX_QUERY_TERMS
        if len(text) > dense_limit:
            cut["dense_characters"] = dense_limit
        return Query(text, terms[:MAX_QUERY_TERMS], text[:dense_limit], cut)

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
        self, terms: Sequence[str], vector: np.ndarray | None, depth: int, where: Filter | None = None
    ) -> Candidates:
        """Each side's top `depth` chunks for a query's BM25 terms and vector (None: no dense side)."""
        dense = Side.empty() if vector is None else self.backend.dense(vector, depth, where)
        return Candidates(self.backend.sparse(terms, depth, where), dense)

    def hits(
        self, fused: Fused, terms: Sequence[str], dense: bool = True, grouped: Sequence[Grouped] = ()
    ) -> list[Hit]:
        """The fused candidates as Hits, with matched terms and highlights (and, from `group`, each
        one's copies and how many more chunks of its document were candidates; their chunks, already
        read, are not read again)."""
        keys = fused.ids.tolist()
        stored = [entry.chunk for entry in grouped] if grouped else self.backend.chunks(keys)
        matched_terms = self.backend.matched_terms(terms, keys)
        hits = []
        for rank, (chunk, matched) in enumerate(zip(stored, matched_terms)):
            extra = grouped[rank] if grouped else Grouped(rank, chunk)
            hits.append(
                Hit(
                    rank=rank + 1,
                    id=chunk.id,
                    document_id=chunk.document_id,
                    score=float(fused.score[rank]),
                    bm25=float(fused.bm25[rank]),
                    bm25_norm=float(fused.bm25_norm[rank]),
                    dense=float(fused.dense[rank]) if dense else None,
                    dense_norm=float(fused.dense_norm[rank]) if dense else None,
                    source=chunk.source,
                    path=chunk.path,
                    record=chunk.record,
                    title=chunk.title,
                    text=chunk.text,
                    start=chunk.start,
                    end=chunk.end,
                    ordinal=chunk.ordinal,
                    metadata=chunk.metadata,
                    location=chunk.location,
                    matched_terms=tuple(matched),
                    highlights=self.highlights(chunk.text, chunk.start, matched),
                    copies=tuple(Copy(c.id, c.document_id, c.source) for c in extra.copies),
                    more=extra.more,
                )
            )
        return hits

    def highlights(self, text: str, offset: int, terms: Sequence[str]) -> tuple[tuple[int, int], ...]:
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


def checked_confidence(value: object) -> float:
    """`value` as a threshold in [0, 1], or an `InputError`."""
    return _fraction(value, f"min_confidence must be between 0 and 1 (got {value!r}).")


def confident(hits: list[Hit], threshold: float) -> list[Hit]:
    """The hits whose confidence reaches `threshold`."""
    return [hit for hit in hits if hit.confidence is not None and hit.confidence >= threshold]


def reranked(hits: list[Hit], query: str, reranker: Reranker) -> list[Hit]:
    """`hits` in the order of the reranker's scores (ties keep the fused order), each with its `rerank_score`."""
    scores = reranker.scores(query, [hit.title for hit in hits], [hit.text for hit in hits])
    order = np.argsort(-scores, kind="stable")
    return [replace(hits[i], rank=rank, rerank_score=float(scores[i])) for rank, i in enumerate(order.tolist(), 1)]


def checked_query(query: object) -> str:
    """A non-empty query string, lone surrogates (from undecodable argv) replaced; else `EmptyQueryError`."""
    if not isinstance(query, str) or not query.strip():
        raise EmptyQueryError("The query is empty; give some words to search for.")
    return query.encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True)
class Snippet:
    """About `width` characters of a hit on one line, and the spans in it to mark (matched words)."""

    text: str
    marks: tuple[tuple[int, int], ...]


_SNIPPET_WIDTH = 80


def snippet(hit: Hit, width: int = _SNIPPET_WIDTH) -> Snippet:
    """About `width` characters of a hit's text around its first matched word, on one line (runs of
    whitespace become one space), "…" where text was cut, and the matched words' spans in that line."""
    text, spans = hit.text, hit.chunk_highlights
    start = max(0, min((spans[0][0] if spans else 0) - width // 3, len(text) - width))
    end = min(len(text), start + width)
    prefix = "…" if start > 0 else ""
    out: list[str] = []
    where: list[int] = []  # each window character's position in `out`
    for ch in text[start:end]:
        if not ch.isspace():
            out.append(ch)
        elif out and out[-1] != " ":
            out.append(" ")
        where.append(len(prefix) + max(len(out) - 1, 0))
    line = "".join(out).rstrip()
    marks = []
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start < span_end:
            marks.append((where[span_start - start], min(where[span_end - 1 - start] + 1, len(prefix) + len(line))))
    return Snippet(prefix + line + ("…" if end < len(text) else ""), tuple(marks))
