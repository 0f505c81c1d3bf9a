"""The MCP server through the official SDK's own client: over stdio (`hsearch mcp`) and over
streamable HTTP (/mcp under `hsearch serve`)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from conftest import TESTS
from serving import running

from hybridsearch import HybridIndex

FAKE_HSEARCH = str(TESTS / "fake_hsearch.py")


def _structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return result.structured_content if result.structured_content else json.loads(result.content[0].text)


async def _session(server: Any) -> dict[str, Any]:
    from mcp import Client

    async with Client(server) as client:
        tools = await client.list_tools()
        found = _structured(await client.call_tool("search", {"query": "赤い惑星は?", "k": 3}))
        first = found["hits"][0]
        document = _structured(await client.call_tool("get_document", {"id": first["document_id"]}))
        filtered = _structured(await client.call_tool("search", {"query": "惑星", "where": {"type": "txt"}}))
        indexes = _structured(await client.call_tool("list_indexes", {}))
        failed = await client.call_tool("get_document", {"id": "nope"})
    return {"tools": sorted(tool.name for tool in tools.tools), "first": first, "document": document,
            "filtered": filtered, "indexes": indexes, "failed": failed}  # fmt: skip


def _check(answers: dict[str, Any]) -> None:
    assert answers["tools"] == ["get_document", "list_indexes", "search"]
    first = answers["first"]
    assert first["title"] == "火星" and first["id"].startswith(first["document_id"]) and first["snippet"]
    assert answers["document"]["kind"] == "document" and answers["document"]["text"].startswith("# 火星")
    assert all(hit["metadata"]["type"] == "txt" for hit in answers["filtered"]["hits"])
    assert answers["indexes"]["indexes"][0]["documents"] == 8
    failed = answers["failed"]
    assert failed.is_error and "has no chunk or document with id 'nope'" in failed.content[0].text


def test_mcp_over_stdio_with_the_sdk_client(built: HybridIndex) -> None:
    from mcp.client.stdio import StdioServerParameters

    built.close()
    server = StdioServerParameters(command=sys.executable, args=[FAKE_HSEARCH, "mcp", "--index", built.location])
    _check(asyncio.run(_session(server)))


def test_mcp_over_http_under_serve(built: HybridIndex) -> None:
    with running({"docs": built.location}) as url:
        _check(asyncio.run(_session(f"{url}/mcp")))
