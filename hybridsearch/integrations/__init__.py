"""Retrievers for RAG frameworks: `integrations.langchain` (the `[langchain]` extra) and
`integrations.llamaindex` (the `[llamaindex]` extra); each imports its framework only when used."""

from __future__ import annotations

from typing import Any

from ..index import HybridIndex
from ..loaders import PathArg
from ..schema import Hit

__all__ = ["hit_metadata", "opened"]


def opened(index: HybridIndex | PathArg) -> HybridIndex:
    """An opened index, or the index at a folder (or engine location)."""
    return index if isinstance(index, HybridIndex) else HybridIndex.open(index)


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """What a framework's document carries of a hit: the document's metadata, then ids, source,
    location in the source, both raw scores and the confidence (None for a model without weights)."""
    return {
        **dict(hit.metadata),
        "id": hit.id, "document_id": hit.document_id, "source": hit.source, "title": hit.title,
        "start": hit.start, "end": hit.end, "location": dict(hit.location), "score": hit.score, "bm25": hit.bm25,
        "dense": hit.dense, "confidence": hit.confidence,
    }  # fmt: skip
