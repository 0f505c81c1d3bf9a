"""`hsearch serve` and `hsearch mcp` against hostile requests, on a real server (an adversarial
review's findings, numbered as there): DNS rebinding and other sites' pages (2), requests JSON
cannot echo (4), a lone surrogate over MCP stdio (5), websockets without the token (8), and 404s
that named the index's folder (10)."""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import TESTS
from serving import running, serving

from hybridsearch import HybridIndex
from hybridsearch.cli import cli

TOKEN = "a-test-token-of-some-length"
FAKE_HSEARCH = str(TESTS / "fake_hsearch.py")
MCP_INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def served(built: HybridIndex) -> Iterator[str]:
    with running({"docs": built.location}) as url:
        yield url


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


def _one_line(reply: httpx.Response) -> str:
    detail = reply.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail, reply.text
    return detail


def _mcp_initialize(url: str, **headers: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": MCP_INIT}
    return httpx.post(f"{url}/mcp/", json=body, headers=MCP_HEADERS | headers)


# 2. DNS rebinding: only the names the server is reached by; no other site's pages


@pytest.mark.parametrize("path", ["/documents/{id}", "/search?q=火星", "/health", "/", "/static/app.js", "/mcp/"])
def test_a_request_addressed_to_another_name_is_421_on_every_path(served: str, path: str) -> None:
    hit = httpx.get(f"{served}/search", params={"q": "火星", "k": 1}).json()["hits"][0]
    reply = httpx.get(served + path.format(id=hit["document_id"]), headers={"Host": "evil.example.com"})
    assert reply.status_code == 421 and "火星" not in reply.text
    assert _one_line(reply).startswith("This server does not answer requests addressed to 'evil.example.com'")
    assert "--allow-host evil.example.com" in reply.text


def test_the_names_the_server_is_reached_by_are_answered(built: HybridIndex) -> None:
    with running({"docs": built.location}, allowed_hosts=["search.test", "lan.test:8080", "::1"]) as url:
        port = _port(url)
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}", f"[::1]:{port}",
                     "search.test", "search.test:1", "lan.test:8080"):  # fmt: skip
            assert httpx.get(f"{url}/health", headers={"Host": host}).status_code == 200, host
        for host in ("localhost:1", "lan.test:8081", "lan.test", "localhost.", "evil.test", "a@localhost", ""):
            assert httpx.get(f"{url}/health", headers={"Host": host}).status_code == 421, host
        assert _mcp_initialize(url, Host="search.test").status_code == 200  # the MCP mount agrees


def test_a_client_may_name_the_address_it_connected_to(built: HybridIndex) -> None:
    """As on a LAN: a server listening on 127.0.0.2 (say, --host 192.168.1.5) answers Host 127.0.0.2,
    not another address."""
    with running({"docs": built.location}, address="127.0.0.2") as url:
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.get(f"{url}/health", headers={"Host": f"127.0.0.3:{_port(url)}"}).status_code == 421


def test_allow_host_star_answers_any_name_but_still_no_other_origin(built: HybridIndex) -> None:
    with running({"docs": built.location}, allowed_hosts=["*"]) as url:
        assert httpx.get(f"{url}/health", headers={"Host": "anything.test"}).status_code == 200
        same = {"Host": "anything.test", "Origin": "http://anything.test"}
        assert httpx.get(f"{url}/search", params={"q": "火星"}, headers=same).status_code == 200
        other = {"Host": "anything.test", "Origin": "http://other.test"}
        assert httpx.get(f"{url}/search", params={"q": "火星"}, headers=other).status_code == 403


def test_a_page_of_another_origin_is_403_unless_cors_names_it(built: HybridIndex, served: str) -> None:
    for origin in ("http://evil.example.com", "null", f"http://localhost.evil.test:{_port(served)}", "file://"):
        searched = httpx.get(f"{served}/search", params={"q": "火星"}, headers={"Origin": origin})
        posted = httpx.post(f"{served}/search", json={"q": "火星"}, headers={"Origin": origin})
        assert searched.status_code == posted.status_code == 403, origin
        assert _one_line(posted) == (
            f"Requests from pages at {origin!r} are refused here; a server started with --cors {origin} lets them "
            "through."
        )
        assert _mcp_initialize(served, Origin=origin).status_code == 403
    for own in (served, f"http://localhost:{_port(served)}"):
        assert httpx.post(f"{served}/search", json={"q": "火星"}, headers={"Origin": own}).status_code == 200
        assert _mcp_initialize(served, Origin=own).status_code == 200
    with running({"docs": built.location}, cors=["http://example.test"]) as url:
        allowed = httpx.post(f"{url}/search", json={"q": "火星"}, headers={"Origin": "http://example.test"})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "http://example.test"


def test_a_page_cors_allows_may_call_a_server_with_a_token(built: HybridIndex) -> None:
    page = {"Origin": "http://example.test"}
    with running({"docs": built.location}, token=TOKEN, cors=["http://example.test"]) as url:
        preflight = page | {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        asked = httpx.options(f"{url}/search", headers=preflight)
        assert asked.status_code == 200 and asked.headers["access-control-allow-origin"] == "http://example.test"
        assert httpx.post(f"{url}/search", json={"q": "火星"}, headers=page).status_code == 401
        called = httpx.post(f"{url}/search", json={"q": "火星"}, headers=page | {"Authorization": f"Bearer {TOKEN}"})
        assert called.status_code == 200 and called.json()["hits"]
        other = {"Origin": "http://evil.example.com", "Access-Control-Request-Method": "POST"}
        assert httpx.options(f"{url}/search", headers=other).status_code == 403


def test_serve_takes_allow_host_and_refuses_a_malformed_one(built: HybridIndex) -> None:
    built.close()
    refused = CliRunner().invoke(cli, ["serve", "--index", built.location, "--allow-host", "two words"])
    assert refused.exit_code == 1
    assert refused.output == "Error: --allow-host takes a host name, NAME:PORT or '*' (got 'two words').\n"
    assert "--allow-host NAME[:PORT]" in CliRunner().invoke(cli, ["serve", "--help"]).output


# 4. what JSON cannot carry is never echoed: one line, 4xx, and the connection lives on


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"q": "火星", "k": Infinity}', "k"),
        ('{"q": "火星", "k": -Infinity}', "k"),
        ('{"q": "火星", "k": NaN}', "k"),
        ('{"q": "火星", "k": 1e400}', "k"),
        ('{"q": NaN}', "query"),
        ('{"q": "火星", "collapse": NaN}', "collapse"),
    ],
)
def test_numbers_json_cannot_carry_are_a_400_in_one_line(served: str, body: str, field: str) -> None:
    with httpx.Client() as client:
        reply = client.post(f"{served}/search", content=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400, reply.text
        assert _one_line(reply).startswith((f"{field} must be", f"{field} is", f"The {field} must be"))
        assert client.get(f"{served}/health").status_code == 200  # the same connection still answers


def test_a_lone_surrogate_is_answered_never_a_500(served: str) -> None:
    def post(body: str) -> httpx.Response:
        return httpx.post(f"{served}/search", content=body, headers={"Content-Type": "application/json"})

    for body in ('{"q": "\\udc80"}', '{"q": "\\udc80惑星"}', '{"q": "惑星", "where": {"type": "\\udc80"}}',
                 '{"q": "惑星", "path": "\\ud800*"}'):  # fmt: skip
        reply = post(body)
        assert reply.status_code == 200, (body, reply.text)
        assert "\ufffd" in reply.text or "\\ud" in reply.text, body  # shown as U+FFFD, or escaped in a message
    assert post('{"q": "\\udc80惑星"}').json()["query"] == "\ufffd惑星"
    assert post('{"q": "\\ud83d\\ude00惑星"}').json()["query"] == "😀惑星"  # a pair is a character
    assert post('{"q": "惑星", "index": "\\udc80"}').status_code == 404
    for query in ("%ED%B2%80", "%ff", "%ED%B2%80%E6%83%91%E6%98%9F", "%C0%AF"):  # not UTF-8
        assert httpx.get(f"{served}/search?q={query}").status_code == 200, query
    malformed = post('{"q": ')
    assert (
        malformed.status_code == 422
        and _one_line(malformed) == "Malformed request: the body is not JSON (Expecting value)."
    )


# 5. MCP over stdio answers every request


class _StdioClient:
    """`hsearch mcp` spoken to line by line: the SDK's own client cannot send a lone surrogate (it
    fails to encode it), which a client in another language sends as `"\\udc80"`."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process, self.lines, self.next_id = process, queue.Queue[bytes](), 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        self.process.stdin.flush()

    def ask(self, method: str, params: str, seconds: float = 20) -> dict[str, Any]:
        """Send a request (its params as JSON text, sent as written); its answer, or fail after `seconds`."""
        self.next_id += 1
        self.send(f'{{"jsonrpc": "2.0", "id": {self.next_id}, "method": "{method}", "params": {params}}}')
        while True:
            try:
                answer = json.loads(self.lines.get(timeout=seconds))
            except queue.Empty:
                raise AssertionError(f"no answer to {method} {params} in {seconds} s") from None
            if answer.get("id") == self.next_id:
                return answer


def test_mcp_over_stdio_answers_a_query_with_a_lone_surrogate(built: HybridIndex) -> None:
    built.close()
    command = [sys.executable, FAKE_HSEARCH, "mcp", "--index", built.location]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        try:
            client = _StdioClient(process)
            assert "result" in client.ask("initialize", json.dumps(MCP_INIT))
            client.send('{"jsonrpc": "2.0", "method": "notifications/initialized"}')
            found = client.ask("tools/call", '{"name": "search", "arguments": {"query": "\\udc80惑星"}}')["result"]
            assert not found["isError"] and found["structuredContent"]["query"] == "\ufffd惑星"
            assert found["structuredContent"]["hits"]
            bad = client.ask("tools/call", '{"name": "search", "arguments": {"query": "x", "k": "\\udc80"}}')["result"]
            assert bad["isError"]
            unknown = client.ask("tools/call", '{"name": "get_document", "arguments": {"id": "\\ud800x"}}')["result"]
            assert unknown["isError"] and unknown["content"][0]["text"].endswith("with id '\ufffdx'.")
        finally:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=20)


# 8. the token guards websockets too


def test_a_websocket_without_the_token_is_refused(built: HybridIndex) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with running({"docs": built.location}, token=TOKEN) as url:
        for path in ("/mcp/", "/search", "/static/app.js"):
            with pytest.raises(InvalidStatus) as refused:
                connect(f"ws{url.removeprefix('http')}{path}", open_timeout=10).close()
            assert refused.value.response.status_code == 401, path
            assert json.loads(refused.value.response.body)["detail"].startswith("A valid bearer token is needed")


def test_the_token_guard_lets_a_websocket_through_only_with_the_token() -> None:
    """The guard itself, in front of an app that accepts every websocket (hsearch has no websocket
    route, and the guard must not rely on that); the lifespan passes without a token."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from hybridsearch.server.guards import bearer_token, identify

    started = []

    async def accepting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                started.append(message["type"])
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": "open"})
            await receive()  # the client closes

    with serving(identify(accepting, [bearer_token(TOKEN)])) as url:
        socket_url = f"ws{url.removeprefix('http')}/anything"
        with pytest.raises(InvalidStatus) as refused:
            connect(socket_url, open_timeout=10).close()
        assert refused.value.response.status_code == 401
        with connect(socket_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as socket:
            assert socket.recv(timeout=10) == "open"
    assert started == ["lifespan.startup"]


# 10. a 404 names the index as served, never its folder


def test_unknown_ids_name_the_index_as_served_not_its_folder(built: HybridIndex) -> None:
    from mcp import Client

    async def get_document(url: str) -> Any:
        async with Client(f"{url}/mcp") as client:
            return await client.call_tool("get_document", {"id": "nope", "index": "docs"})

    with running({"docs": built.location}) as url:
        for path in ("/documents/nope", "/chunks/nope", "/documents/nope?index=docs"):
            reply = httpx.get(url + path)
            assert reply.status_code == 404 and built.location not in reply.text
            assert _one_line(reply) == "Index 'docs' has no chunk or document with id 'nope'."
        failed = asyncio.run(get_document(url))
    assert failed.is_error and failed.content[0].text.endswith("Index 'docs' has no chunk or document with id 'nope'.")
    assert str(Path(built.location).parent) not in failed.content[0].text
