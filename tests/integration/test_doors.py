"""One request, one answer: the same queries through every front door (Python, the CLI, HTTP GET and
POST, MCP through the SDK's client, the LangChain and LlamaIndex retrievers) give the same hits,
scores, confidences and weak / no-good-match decisions; the retrievers hand on the strong hits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import CALIBRATED_MODEL
from serving import running

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.request import SearchRequest

#: (query, filter): answerable questions, keywords, questions the corpus does not answer, one filtered
QUERIES: list[tuple[str, dict[str, Any] | None]] = [
    ("赤い惑星は?", None), ("火星", None), ("明けの明星と呼ばれる惑星", None), ("青い惑星", None),
    ("カレーの作り方", None), ("味噌汁の作り方", None), ("有給休暇の申請はいつまで", None),
    ("経費精算の締め日", None), ("米を炊く前に", None), ("二酸化炭素の大気", None), ("海は何割", None),
    ("太陽から4番目", None), ("酸化鉄", None), ("玉ねぎ", None), ("だしを取る", None),
    ("量子コンピュータの誤り訂正", None), ("株価の見通しを教えて", None), ("サッカーのルール", None),
    ("野球", None), ("惑星", {"type": "md"}),
]  # fmt: skip
K = 5


@pytest.fixture
def calibrated(corpus: Path, tmp_path: Path) -> Iterator[HybridIndex]:
    with HybridIndex.build(corpus, tmp_path / "calibrated", model=CALIBRATED_MODEL) as index:
        yield index


def _decision(answer: dict[str, Any]) -> tuple[bool, list[tuple[str, float, float, bool]]]:
    """What must agree: no_good_match, and each hit's id, score, confidence and weak flag."""
    hits = [(hit["id"], hit["score"], hit["confidence"], hit["weak"]) for hit in answer["hits"]]
    return answer["no_good_match"], hits


def _cli(index: HybridIndex, query: str, where: dict[str, Any] | None) -> dict[str, Any]:
    args = ["query", query, "--index", index.location, "-k", str(K), "--json"]
    args += [f"--where={key}={value}" for key, value in (where or {}).items()]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _http(url: str, query: str, where: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    params = {"q": query, "k": K, **({"where": json.dumps(where)} if where else {})}
    got = httpx.get(f"{url}/search", params=params).json()
    posted = httpx.post(f"{url}/search", json={"q": query, "k": K, "where": where}).json()
    return got, posted


async def _mcp(url: str) -> list[dict[str, Any]]:
    from mcp import Client

    answers = []
    async with Client(f"{url}/mcp") as client:
        for query, where in QUERIES:
            arguments = {"query": query, "k": K, "where": where, "group_by_document": False}
            result = await client.call_tool("search", arguments)
            assert not result.is_error, result.content
            answers.append(result.structured_content or json.loads(result.content[0].text))
    return answers


def _retrieved(index: HybridIndex, query: str, where: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    from hybridsearch.integrations.langchain import HybridSearchRetriever as LangChainRetriever
    from hybridsearch.integrations.llamaindex import HybridSearchRetriever as LlamaIndexRetriever

    chain = LangChainRetriever(index=index, k=K, where=where).invoke(query)
    nodes = LlamaIndexRetriever(index, k=K, where=where).retrieve(query)
    return [document.id for document in chain], [node.node.node_id for node in nodes]


def test_every_door_gives_the_same_answer(calibrated: HybridIndex) -> None:
    expected = [calibrated.respond(SearchRequest(query=q, k=K, where=where)).to_dict() for q, where in QUERIES]
    decisions = [_decision(answer) for answer in expected]
    assert sum(no_match for no_match, _ in decisions) >= 3  # some queries have only weak hits …
    assert sum(not no_match for no_match, _ in decisions) >= 8  # … most have a strong one
    assert any(any(weak for *_, weak in hits) and not no_match for no_match, hits in decisions)  # and some, both
    with running({"docs": calibrated.location}) as url:
        over_http = [_http(url, query, where) for query, where in QUERIES]
        over_mcp = asyncio.run(_mcp(url))
    for (query, where), answer, (got, posted), mcp in zip(QUERIES, expected, over_http, over_mcp):
        decision = _decision(answer)
        for door, other in [("cli", _cli(calibrated, query, where)), ("GET", got), ("POST", posted), ("mcp", mcp)]:
            assert _decision(other) == decision, (door, query)
        hits = calibrated.search(query, k=K, where=where)
        assert [(hit.id, hit.score, hit.confidence, hit.weak) for hit in hits] == decision[1], query
        strong = [hit_id for hit_id, _, _, weak in decision[1] if not weak]
        assert _retrieved(calibrated, query, where) == (strong, strong), query


def test_an_unknown_option_is_an_error_at_every_door(calibrated: HybridIndex) -> None:
    from hybridsearch.errors import InputError

    with pytest.raises(InputError, match="Unknown search option 'kk'; the options are query, k, alpha"):
        SearchRequest.from_mapping({"query": "火星", "kk": 3})
    with pytest.raises(TypeError, match="kk"):
        calibrated.search("火星", kk=3)  # type: ignore[call-arg]
    unknown_flag = CliRunner().invoke(cli, ["query", "火星", "--index", calibrated.location, "--kk", "3"])
    assert unknown_flag.exit_code == 2 and "No such option '--kk'" in unknown_flag.output
    with running({"docs": calibrated.location}) as url:
        for reply in (
            httpx.get(f"{url}/search", params={"q": "火星", "kk": 3}),
            httpx.post(f"{url}/search", json={"q": "火星", "kk": 3}),
        ):
            assert reply.status_code == 400 and reply.json()["detail"].startswith("Unknown search option 'kk'")


def test_an_unknown_mcp_argument_is_a_tool_error(calibrated: HybridIndex) -> None:
    from mcp import Client

    async def call(url: str) -> Any:
        async with Client(f"{url}/mcp") as client:
            return await client.call_tool("search", {"query": "火星", "kk": 3})

    with running({"docs": calibrated.location}) as url:
        result = asyncio.run(call(url))
    assert result.is_error and "kk" in result.content[0].text
