"""A LlamaIndex retriever over a hybridsearch index:

    from hybridsearch.integrations.llamaindex import HybridSearchRetriever

    retriever = HybridSearchRetriever("indexes/docs", k=4, where={"type": "md"})
    nodes = retriever.retrieve("有給休暇の申請方法")   # NodeWithScore, best first

Each node is a TextNode with the chunk's text and stable id; its metadata holds the document's
metadata, ids, source, offsets and raw scores; the NodeWithScore's score is the fused score. Weak
hits (confidence below the index's threshold, or `min_confidence`) are left out, so a query engine
gets nothing rather than passages that do not answer; `include_weak=True` hands them on too.
`principal=Principal("tanaka", groups=["somu"])` retrieves as that user: only documents they may
read (without it, where documents have readers: only those open to everyone).
"""

from __future__ import annotations

from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ..access import Principal
from ..index import HybridIndex
from ..loaders import PathArg
from . import answering_hits, hit_metadata, opened

__all__ = ["HybridSearchRetriever"]


class HybridSearchRetriever(BaseRetriever):
    """Retrieves the `k` best chunks of a hybridsearch index (an opened `HybridIndex` or its folder)."""

    def __init__(
        self,
        index: HybridIndex | PathArg,
        k: int = 4,
        alpha: float | None = None,
        where: dict[str, Any] | None = None,
        min_confidence: float | None = None,
        include_weak: bool = False,
        principal: Principal | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.index = opened(index)
        self.k, self.alpha, self.where = k, alpha, where
        self.min_confidence, self.include_weak, self.principal = min_confidence, include_weak, principal

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = answering_hits(
            self.index, query_bundle.query_str, self.k, self.alpha, self.where, self.min_confidence, self.include_weak,
            self.principal,
        )  # fmt: skip
        return [NodeWithScore(node=TextNode(text=hit.text, id_=hit.id, metadata=hit_metadata(hit)), score=hit.score)
                for hit in hits]  # fmt: skip
