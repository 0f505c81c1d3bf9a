"""A LangChain retriever over a hybridsearch index:

    from hybridsearch.integrations.langchain import HybridSearchRetriever

    retriever = HybridSearchRetriever(index="indexes/docs", k=4, where={"type": "md"})
    documents = retriever.invoke("有給休暇の申請方法")   # langchain_core Documents

Each Document holds the chunk's text, its stable id, and in `metadata` the document's metadata, ids,
source, offsets and the fused and raw scores. Weak hits (confidence below the index's threshold, or
`min_confidence`) are left out, so a chain gets nothing rather than passages that do not answer;
`include_weak=True` hands them on too (each with `metadata["weak"]`). `principal=Principal("tanaka",
groups=["somu"])` retrieves as that user: only documents they may read (without it, where documents
have readers: only those open to everyone).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, field_validator

from ..access import Principal
from ..index import HybridIndex
from . import answering_hits, hit_metadata, opened

__all__ = ["HybridSearchRetriever"]


class HybridSearchRetriever(BaseRetriever):
    """Retrieves the `k` best chunks of a hybridsearch index (an opened `HybridIndex` or its folder)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: HybridIndex
    k: int = 4
    alpha: float | None = None
    where: dict[str, Any] | None = None
    min_confidence: float | None = None
    include_weak: bool = False
    principal: Principal | None = None

    @field_validator("index", mode="before")
    @classmethod
    def _open(cls, value: Any) -> HybridIndex:
        return opened(value)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = answering_hits(
            self.index, query, self.k, self.alpha, self.where, self.min_confidence, self.include_weak, self.principal
        )
        return [Document(page_content=hit.text, metadata=hit_metadata(hit), id=hit.id) for hit in hits]
