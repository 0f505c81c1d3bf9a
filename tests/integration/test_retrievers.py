"""The LangChain and LlamaIndex retrievers, against the real langchain-core and llama-index-core."""

from __future__ import annotations

from hybridsearch import HybridIndex


def test_langchain_retriever(built: HybridIndex) -> None:
    from langchain_core.documents import Document

    from hybridsearch.integrations.langchain import HybridSearchRetriever

    retriever = HybridSearchRetriever(index=built, k=3)
    documents = retriever.invoke("赤い惑星は?")
    assert len(documents) == 3 and all(isinstance(d, Document) for d in documents)
    first, expected = documents[0], built.search("赤い惑星は?", k=3)
    assert [d.id for d in documents] == [hit.id for hit in expected]
    assert first.metadata["title"] == "火星" and first.id == first.metadata["id"]
    assert first.metadata["source"].endswith("mars.md") and first.metadata["score"] == expected[0].score
    assert first.page_content.startswith("# 火星") and first.metadata["type"] == "md"
    assert "赤い惑星" in first.metadata["answer"]  # the sentence that answers, for the prompt to quote
    assert (
        first.metadata["answer"]
        == first.page_content[first.metadata["answer_start"] - first.metadata["start"] :][
            : len(first.metadata["answer"])
        ]
    )
    filtered = HybridSearchRetriever(index=built.location, k=5, where={"type": "txt"}, alpha=0)
    assert all(d.metadata["type"] == "txt" for d in filtered.invoke("カレー"))
    filtered.index.close()


def test_llamaindex_retriever(built: HybridIndex) -> None:
    from llama_index.core.schema import NodeWithScore

    from hybridsearch.integrations.llamaindex import HybridSearchRetriever

    nodes = HybridSearchRetriever(built, k=3).retrieve("赤い惑星は?")
    assert len(nodes) == 3 and all(isinstance(n, NodeWithScore) for n in nodes)
    expected = built.search("赤い惑星は?", k=3)
    assert [n.node.node_id for n in nodes] == [hit.id for hit in expected]
    assert nodes[0].node.metadata["title"] == "火星" and nodes[0].score == expected[0].score
    assert nodes[0].node.node_id == nodes[0].node.metadata["id"] and nodes[0].node.get_content().startswith("# 火星")
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)
