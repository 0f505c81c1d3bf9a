"""Who may read what, through every door: a real server on loopback with an auth file of two users
(HTTP and MCP at /mcp), `hsearch mcp --user` over stdio, the retrievers, a trusted proxy's headers.
Each user finds their own documents, and nothing of another's: not a hit, a copy, a field value, or
even that an id exists (a forbidden id is answered exactly as an unknown one)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from access_share import SUZUKI, TANAKA, below_share, build_share, write_auth
from click.testing import CliRunner
from conftest import TESTS
from serving import running

from hybridsearch.auth import Users
from hybridsearch.cli import cli
from hybridsearch.server.guards import bearer_users, trusted_headers

QUERY = "有給休暇の申請 出張の旅費 給与の支払い"
TANAKA_SEES = {"公開/休暇.md", "総務/出張規程.md"}
SUZUKI_SEES = {"公開/休暇.md", "人事/休暇_控え.md", "人事/給与規程.md"}


@pytest.fixture
def index_dir(tmp_path: Path) -> str:
    with build_share(tmp_path) as index:
        return index.location


@pytest.fixture
def served(index_dir: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The share served with an auth file of tanaka and suzuki: (its URL, {user: token})."""
    tokens = write_auth(tmp_path / "users.toml")
    with running({"share": index_dir}, caller=bearer_users(Users.load(tmp_path / "users.toml"))) as url:
        yield url, tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seen(response: dict[str, Any]) -> set[str]:
    """The paths a search response names: its scoring hits' and their copies'."""
    hits = [hit for hit in response["hits"] if hit["score"] > 0]
    return {below_share(hit["path"]) for hit in hits} | {
        below_share(copy["source"]) for hit in hits for copy in hit["copies"]
    }


def test_each_user_finds_their_own_documents_and_no_token_finds_none(served: tuple[str, dict[str, str]]) -> None:
    url, tokens = served
    for user, expected, hidden in (("tanaka", TANAKA_SEES, "人事"), ("suzuki", SUZUKI_SEES, "総務")):
        got = httpx.get(f"{url}/search", params={"q": QUERY, "k": 10, "alpha": 0}, headers=bearer(tokens[user]))
        posted = httpx.post(f"{url}/search", json={"q": QUERY, "k": 10, "alpha": 0}, headers=bearer(tokens[user]))
        assert got.status_code == posted.status_code == 200, got.text
        assert seen(got.json()) == seen(posted.json()) == expected, user
        assert hidden not in got.text  # not a hit, a copy, a snippet or a path
    for headers in ({}, bearer("not-a-token"), {"Authorization": tokens["tanaka"]}, bearer(tokens["tanaka"] + "x")):
        refused = httpx.get(f"{url}/search", params={"q": QUERY}, headers=headers)
        assert refused.status_code == 401 and refused.json()["detail"].startswith("A valid bearer token is needed")
    assert httpx.get(f"{url}/health").status_code == 200 and httpx.get(f"{url}/").status_code == 200


def test_a_forbidden_id_is_the_404_of_an_unknown_one(served: tuple[str, dict[str, str]]) -> None:
    url, tokens = served
    found = httpx.get(f"{url}/search", params={"q": "給与 二十五日", "k": 1}, headers=bearer(tokens["suzuki"]))
    hit = found.json()["hits"][0]
    assert below_share(hit["path"]) == "人事/給与規程.md"
    unknown_id = "0" * 16
    for path, id in (("documents", hit["document_id"]), ("chunks", hit["id"])):
        for query in ("", "?index=share"):
            mine = httpx.get(f"{url}/{path}/{id}{query}", headers=bearer(tokens["suzuki"]))
            forbidden = httpx.get(f"{url}/{path}/{id}{query}", headers=bearer(tokens["tanaka"]))
            unknown = httpx.get(f"{url}/{path}/{unknown_id}{query}", headers=bearer(tokens["tanaka"]))
            assert mine.status_code == 200 and mine.json()["text"]
            assert forbidden.status_code == unknown.status_code == 404
            assert forbidden.content == unknown.content.replace(unknown_id.encode(), id.encode())


def test_info_and_indexes_list_only_what_the_user_may_read(served: tuple[str, dict[str, str]]) -> None:
    url, tokens = served
    tanaka = httpx.get(f"{url}/info", headers=bearer(tokens["tanaka"])).json()
    suzuki = httpx.get(f"{url}/info?index=share", headers=bearer(tokens["suzuki"])).json()
    assert set(tanaka["values"]["category"]) == {"案内", "規程"} and "grade_table" not in tanaka["fields"]
    assert set(suzuki["values"]["category"]) == {"案内", "人事秘"} and "grade_table" in suzuki["fields"]
    assert "給与規程" not in tanaka["values"]["title"] and "人事秘" not in json.dumps(tanaka, ensure_ascii=False)
    assert tanaka["counts"] is None and suzuki["counts"] is None  # the manifest counts every document
    listed = httpx.get(f"{url}/indexes", headers=bearer(tokens["tanaka"])).json()["indexes"]
    assert [(item["name"], item["documents"], item["chunks"]) for item in listed] == [("share", None, None)]


def test_a_copy_in_a_forbidden_folder_is_never_among_copies(served: tuple[str, dict[str, str]]) -> None:
    url, tokens = served
    params = {"q": "有給休暇の申請は何日前まで", "k": 5, "group_by": "document"}
    suzuki = httpx.get(f"{url}/search", params=params, headers=bearer(tokens["suzuki"])).json()["hits"][0]
    tanaka = httpx.get(f"{url}/search", params=params, headers=bearer(tokens["tanaka"])).json()["hits"][0]
    assert {below_share(suzuki["path"]), *(below_share(copy["source"]) for copy in suzuki["copies"])} == {
        "公開/休暇.md", "人事/休暇_控え.md",
    }  # fmt: skip
    assert below_share(tanaka["path"]) == "公開/休暇.md" and tanaka["copies"] == [] and tanaka["more"] == 0


def _structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return result.structured_content if result.structured_content else json.loads(result.content[0].text)


async def _mcp_session(server: Any, forbidden: str | None = None) -> dict[str, Any]:
    """Search, list, and ask for `forbidden` and an unknown id, through the SDK's client."""
    from mcp import Client

    async with Client(server) as client:
        found = _structured(await client.call_tool("search", {"query": QUERY, "k": 10, "alpha": 0}))
        listed = _structured(await client.call_tool("list_indexes", {}))
        hit = next((h for h in found["hits"] if below_share(h["path"]) == "人事/給与規程.md"), None)
        asked = forbidden or (hit and hit["document_id"])
        got = await client.call_tool("get_document", {"id": asked}) if asked else None
        unknown = await client.call_tool("get_document", {"id": "0" * 16})
    return {"found": found, "listed": listed, "asked": asked, "got": got, "unknown": unknown}


async def _over_http(url: str, token: str, forbidden: str | None = None) -> dict[str, Any]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers=bearer(token), timeout=30) as http:
        return await _mcp_session(streamable_http_client(f"{url}/mcp", http_client=http), forbidden)


def test_mcp_under_serve_answers_each_user_as_themselves(served: tuple[str, dict[str, str]]) -> None:
    url, tokens = served
    suzuki = asyncio.run(_over_http(url, tokens["suzuki"]))
    assert seen(suzuki["found"]) == SUZUKI_SEES and not suzuki["got"].is_error
    tanaka = asyncio.run(_over_http(url, tokens["tanaka"], forbidden=suzuki["asked"]))
    assert seen(tanaka["found"]) == TANAKA_SEES
    assert tanaka["got"].is_error and tanaka["unknown"].is_error
    forbidden, unknown = tanaka["got"].content[0].text, tanaka["unknown"].content[0].text
    assert forbidden == unknown.replace("0" * 16, suzuki["asked"])
    assert tanaka["listed"]["indexes"][0]["documents"] is None
    assert "grade_table" in suzuki["listed"]["indexes"][0]["fields"]
    assert "grade_table" not in tanaka["listed"]["indexes"][0]["fields"]
    assert httpx.post(f"{url}/mcp", headers=bearer("not-a-token")).status_code == 401


def test_hsearch_mcp_reads_as_its_user(index_dir: str) -> None:
    from mcp.client.stdio import StdioServerParameters

    def hsearch_mcp(*options: str) -> StdioServerParameters:
        command = [str(TESTS / "fake_hsearch.py"), "mcp", "--index", index_dir, *options]
        return StdioServerParameters(command=sys.executable, args=command)

    suzuki = asyncio.run(_mcp_session(hsearch_mcp("--user", "suzuki", "--group", "jinji")))
    assert seen(suzuki["found"]) == SUZUKI_SEES and not suzuki["got"].is_error
    for options in (("--user", "tanaka", "--group", "somu"), ()):
        other = asyncio.run(_mcp_session(hsearch_mcp(*options), forbidden=suzuki["asked"]))
        assert seen(other["found"]) == (TANAKA_SEES if options else {"公開/休暇.md"})
        assert other["got"].content[0].text == other["unknown"].content[0].text.replace("0" * 16, suzuki["asked"])


def test_retrievers_retrieve_as_their_principal(index_dir: str) -> None:
    from hybridsearch.integrations.langchain import HybridSearchRetriever as LangChainRetriever
    from hybridsearch.integrations.llamaindex import HybridSearchRetriever as LlamaIndexRetriever

    def scoring(paths_and_scores: list[tuple[str, float]]) -> set[str]:
        return {below_share(path) for path, score in paths_and_scores if score > 0}

    for principal, expected in ((TANAKA, TANAKA_SEES), (SUZUKI, SUZUKI_SEES - {"人事/休暇_控え.md"}), (None, None)):
        chain = LangChainRetriever(index=index_dir, k=10, alpha=0, principal=principal, include_weak=True)
        documents = chain.invoke(QUERY)
        chain.index.close()
        nodes = LlamaIndexRetriever(index_dir, k=10, alpha=0, principal=principal, include_weak=True)
        retrieved = nodes.retrieve(QUERY)
        nodes.index.close()
        found = scoring([(d.metadata["path"], d.metadata["score"]) for d in documents])
        assert found == scoring([(n.node.metadata["path"], n.node.metadata["score"]) for n in retrieved])
        assert found == (expected or {"公開/休暇.md"})


def test_a_trusted_proxy_names_the_user_in_headers(index_dir: str) -> None:
    caller = trusted_headers("X-Remote-User", "X-Remote-Groups")
    with running({"share": index_dir}, caller=caller) as url:

        def search(*headers: tuple[str, str]) -> httpx.Response:
            return httpx.get(f"{url}/search", params={"q": QUERY, "k": 10, "alpha": 0}, headers=list(headers))

        as_suzuki = search(("X-Remote-User", "suzuki"), ("X-Remote-Groups", "jinji, other"))
        assert seen(as_suzuki.json()) == SUZUKI_SEES
        assert seen(search(("X-Remote-User", "tanaka"), ("X-Remote-Groups", "somu")).json()) == TANAKA_SEES
        assert seen(search().json()) == {"公開/休暇.md"}  # no user named: the documents open to everyone
        twice = search(("X-Remote-User", "tanaka"), ("X-Remote-User", "suzuki"), ("X-Remote-Groups", "jinji"))
        assert twice.status_code == 400 and "came twice" in twice.json()["detail"]
        unnamed = search(("X-Remote-User", "ta naka"))
        assert unnamed.status_code == 400 and "do not name a user" in unnamed.json()["detail"]


def test_serve_checks_who_its_callers_are_before_it_starts(tmp_path: Path, index_dir: str) -> None:
    runner = CliRunner()
    users = tmp_path / "users.toml"
    write_auth(users)

    def serve(*options: str, env: dict[str, str] | None = None) -> str:
        result = runner.invoke(cli, ["serve", "--index", index_dir, *options], env=env)
        assert result.exit_code != 0
        return result.output

    assert "give it without --token-env" in serve("--auth", str(users), "--token-env", "T", env={"T": "x" * 20})
    assert "give it without --token-env and headers" in serve("--auth", str(users), "--trust-user-header", "X-U")
    assert "--trust-groups-header needs --trust-user-header" in serve("--trust-groups-header", "X-G")
    assert "is not an HTTP header name" in serve("--trust-user-header", "X User")
    assert f"No auth file at {tmp_path / 'none.toml'}" in serve("--auth", str(tmp_path / "none.toml"))
    refused = serve("--host", "0.0.0.0", "--trust-user-header", "X-Remote-User")
    assert "as anyone they name in a header" in refused and "--token-env" in refused
