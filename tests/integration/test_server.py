"""The HTTP API on a real server on loopback: endpoints, errors, limits, the token, CORS, live updates."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL
from serving import running, wait_for_new_generation

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.schema import Hit
from hybridsearch.writer import write_index

TOKEN = "a-test-token-of-some-length"


@pytest.fixture
def served(built: HybridIndex) -> Iterator[str]:
    with running({"docs": built.location}) as url:
        yield url


def test_search_returns_hits_as_hit_to_dict_with_a_snippet(served: str) -> None:
    reply = httpx.get(f"{served}/search", params={"q": "赤い惑星は?", "k": 3})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    hit = body["hits"][0]
    assert hit["title"] == "火星" and body["index"] == "docs" and body["alpha"] == 0.4
    assert set(Hit.__dataclass_fields__) <= set(hit) and hit["snippet"]["text"] and hit["snippet"]["marks"]
    assert len(body["hits"]) == 3 and body["generation"] == "gen-000001"


def test_filters_over_get_and_post(served: str) -> None:
    get = httpx.get(f"{served}/search", params={"q": "惑星", "where": json.dumps({"type": "md"}), "path": "planets/*"})
    post = httpx.post(f"{served}/search", json={"q": "惑星", "where": {"type": "md"}, "path": "planets/*"})
    assert get.status_code == post.status_code == 200
    assert [h["id"] for h in get.json()["hits"]] == [h["id"] for h in post.json()["hits"]]
    assert all("/planets/" in h["path"] for h in get.json()["hits"])
    assert get.json()["where"] == "type='md' and path glob 'planets/*'"


def test_documents_chunks_indexes_info_health_docs(served: str) -> None:
    hit = httpx.get(f"{served}/search", params={"q": "火星", "k": 1}).json()["hits"][0]
    document = httpx.get(f"{served}/documents/{hit['document_id']}").json()
    assert document["text"].startswith("# 火星") and document["chunks"][0]["id"] == hit["id"]
    assert httpx.get(f"{served}/chunks/{hit['id']}").json()["text"] == hit["text"]
    assert httpx.get(f"{served}/documents/{hit['id']}").status_code == 404  # a chunk id is not a document
    assert httpx.get(f"{served}/indexes").json()["indexes"][0] | {"location": ""} == {
        "name": "docs", "location": "", "generation": "gen-000001", "documents": 8, "chunks": 8, "model": FAKE_MODEL,
    }  # fmt: skip
    info = httpx.get(f"{served}/info").json()
    assert info["fields"] == ["mtime", "path", "size", "title", "type"] and set(info["values"]["type"]) == {
        "md", "txt", "csv", "jsonl",
    }  # fmt: skip
    assert httpx.get(f"{served}/health").json() == {"status": "ok", "indexes": {"docs": "gen-000001"}}
    docs = httpx.get(f"{served}/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
    assert httpx.get(f"{served}/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert "/search" in httpx.get(f"{served}/openapi.json").json()["paths"]
    page = httpx.get(f"{served}/")
    assert page.status_code == 200 and '<html lang="ja">' in page.text and "http" not in page.text.split("<body>")[1]


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"q": ""}, 400, "The query is empty"),
        ({"q": "火星", "k": 0}, 400, "k must be a positive whole number"),
        ({"q": "火星", "k": 10**9}, 400, "k must be at most 100 on this server"),
        ({"q": "火星", "alpha": 2}, 400, "alpha must be between 0 and 1"),
        ({"q": "火星", "where": "{type"}, 400, 'where is a JSON object such as {\\"type\\": \\"md\\"}'),
        ({"q": "火星", "where": '{"type": {"near": 1}}'}, 400, "Unknown filter operator"),
        ({"q": "火星", "where": '{"author": "x"}'}, 400, "Unknown filter field(s) 'author'"),
        ({"q": "火星", "index": "other"}, 404, "No index named 'other' is served here; the indexes are: docs."),
        ({"q": "火" * 5000}, 413, "The query has 5000 characters; this server takes at most 4000."),
        ({"k": 3}, 400, "The query is empty"),
        ({"q": "火星", "fusion": "max"}, 400, "Unknown Fusion 'max'; choose one of: coverage, minmax, zscore, rrf."),
        ({"q": "火星", "kk": 3}, 400, "Unknown search option 'kk'; the options are query, k, alpha"),
        ({"q": "火星", "query": "火星"}, 400, "Give the query once: q or query, not both."),
        ({"q": "火星", "collapse": "maybe"}, 400, "collapse is true or false (got 'maybe')."),
    ],
)
def test_bad_requests_are_4xx_with_one_line(served: str, params: dict, status: int, fragment: str) -> None:
    reply = httpx.get(f"{served}/search", params=params)
    assert reply.status_code == status and fragment in reply.text, reply.text
    assert "Traceback" not in reply.text and 'File "' not in reply.text


def test_unknown_ids_big_bodies_and_paths_outside(served: str) -> None:
    assert httpx.get(f"{served}/documents/nope").json() == {
        "detail": "Index 'docs' has no chunk or document with id 'nope'."
    }
    big = httpx.post(f"{served}/search", content=json.dumps({"q": "火星", "pad": "x" * (1 << 20)}),
                     headers={"Content-Type": "application/json"})  # fmt: skip
    assert big.status_code == 413 and "limit of 65536 bytes" in big.json()["detail"]

    def chunked() -> Iterator[bytes]:  # a body that does not say its length
        yield '{"q": "火星", "pad": "'.encode()
        for _ in range(100):
            yield b"x" * 4096
        yield b'"}'

    streamed = httpx.post(f"{served}/search", content=chunked(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    for path in ("/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/documents/..%2F..%2Fetc"):
        reply = httpx.get(served + path)
        assert reply.status_code == 404 and "root:" not in reply.text, path


def test_the_curl_of_the_readme_with_raw_utf8_in_the_request_line(served: str) -> None:
    """`curl 'http://…/search?q=赤い惑星は?'` sends the query's bytes unencoded; the server takes them."""
    host, port = served.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as connection:
        request = f"GET /search?q=赤い惑星は?&k=1 HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        connection.sendall(request.encode())
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["hits"][0]["title"] == "火星"


def test_a_token_guards_everything_but_health_and_the_page(built: HybridIndex) -> None:
    with running({"docs": built.location}, token=TOKEN) as url:
        assert httpx.get(f"{url}/search", params={"q": "火星"}).status_code == 401
        wrong = httpx.get(f"{url}/search", params={"q": "火星"}, headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        good = httpx.get(f"{url}/search", params={"q": "火星"}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200
        assert httpx.get(f"{url}/documents/x").status_code == 401 and httpx.post(f"{url}/mcp").status_code == 401
        assert httpx.get(f"{url}/health").status_code == 200 and httpx.get(f"{url}/").status_code == 200


def test_no_cors_unless_asked(built: HybridIndex, served: str) -> None:
    origin = {"Origin": "http://example.test"}
    assert "access-control-allow-origin" not in httpx.get(f"{served}/health", headers=origin).headers
    with running({"docs": built.location}, cors=["http://example.test"]) as url:
        assert (
            httpx.get(f"{url}/health", headers=origin).headers["access-control-allow-origin"] == "http://example.test"
        )


def test_a_new_generation_is_answered_within_seconds(corpus: Path, built: HybridIndex) -> None:
    with running({"docs": built.location}) as url:
        before = httpx.get(f"{url}/search", params={"q": "冥王星の軌道", "alpha": 0}).json()["hits"]
        assert not any("冥王星" in hit["text"] for hit in before)
        (corpus / "pluto.txt").write_text("冥王星の軌道は大きく傾いている。", encoding="utf-8")
        write_index(built.location, [corpus])
        wait_for_new_generation(url, "docs", "gen-000001")
        hit = httpx.get(f"{url}/search", params={"q": "冥王星の軌道", "alpha": 0}).json()["hits"][0]
        assert hit["path"].endswith("pluto.txt")


def test_several_indexes_by_name(built: HybridIndex, corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-docs"
    other.mkdir()
    (other / "a.txt").write_text("別の索引の文書です。", encoding="utf-8")
    HybridIndex.build(other, tmp_path / "other", model=FAKE_MODEL).close()
    with running({"docs": built.location, "other": str(tmp_path / "other")}) as url:
        assert [i["name"] for i in httpx.get(f"{url}/indexes").json()["indexes"]] == ["docs", "other"]
        found = httpx.get(f"{url}/search", params={"q": "別の索引", "index": "other", "alpha": 0}).json()
        assert found["index"] == "other" and found["hits"][0]["path"].endswith("a.txt")


def test_serve_refuses_an_open_address_without_a_token(built: HybridIndex) -> None:
    refused = CliRunner().invoke(cli, ["serve", "--index", built.location, "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "without a token would let anyone who can reach it search" in refused.output
    assert "--token-env HSEARCH_TOKEN" in refused.output
    short = CliRunner().invoke(cli, ["serve", "--index", built.location, "--token-env", "T"], env={"T": "short"})
    assert short.exit_code == 2 and "16 characters or more" in short.output
    unknown = CliRunner().invoke(cli, ["serve", "--index", "nowhere/x"])
    assert unknown.exit_code == 1 and unknown.output.startswith("Error: No index at nowhere/x")
