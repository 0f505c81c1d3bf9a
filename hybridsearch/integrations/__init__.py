"""Retrievers for RAG frameworks: `integrations.langchain` (the `[langchain]` extra) and
`integrations.llamaindex` (the `[llamaindex]` extra); each imports its framework only when used."""

from __future__ import annotations

from typing import Any

from ..access import Principal
from ..filters import Filter
from ..index import HybridIndex
from ..loaders import PathArg
from ..request import SearchRequest
from ..schema import Hit

__all__ = ["answering_hits", "hit_metadata", "opened"]


def opened(index: HybridIndex | PathArg) -> HybridIndex:
    """An opened index, or the index at a folder (or engine location)."""
    return index if isinstance(index, HybridIndex) else HybridIndex.open(index)


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """What a framework's document carries of a hit: the document's metadata, then ids, source,
    location in the source, the answering sentence (its text and source offsets), both raw scores,
    the confidence (None for a model without weights) and whether it is weak."""
    return {
        **dict(hit.metadata),
        "id": hit.id, "document_id": hit.document_id, "source": hit.source, "title": hit.title,
        "start": hit.start, "end": hit.end, "location": dict(hit.location), "answer": hit.answer,
        "answer_start": hit.answer_start, "answer_end": hit.answer_end, "score": hit.score, "bm25": hit.bm25,
        "dense": hit.dense, "confidence": hit.confidence, "weak": hit.weak,
    }  # fmt: skip


def answering_hits(
    index: HybridIndex,
    query: str,
    k: int,
    alpha: float | None,
    where: dict[str, Any] | None,
    min_confidence: float | None,
    include_weak: bool,
    principal: Principal | None,
) -> list[Hit]:
    """The hits a retriever hands to a chain: the strong ones (an LLM cannot read a `weak` flag), or
    every hit with `include_weak`; of the documents `principal` may read (None: those open to everyone)."""
    request = SearchRequest(
        query=query, k=k, alpha=alpha, where=Filter.parse(where), min_confidence=min_confidence, principal=principal
    )
    response = index.respond(request)
    return list(response.hits) if include_weak else response.strong
