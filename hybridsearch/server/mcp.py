"""The MCP server: `hsearch mcp` (stdio) and /mcp under `hsearch serve` (streamable HTTP), with the
official `mcp` SDK (the `[mcp]` extra).

Tools: `search` (query, k, alpha, where, index → hits with ids, sources, snippets and scores),
`get_document` (an id → the document's or chunk's text and metadata), `list_indexes`. Each answers
as its caller's principal: over HTTP the one `guards.identify` found for the request, over stdio the
one the process serves as (`hsearch mcp --user`); a forbidden id is the tool error of an unknown one.

`run_stdio` serves over stdin/stdout and reads a lone surrogate escaped in a request (`"\\udc80"`,
which the SDK's parser refuses without answering, so the client would wait forever) as U+FFFD.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from mcp.server.mcpserver import Context

from ..access import Principal
from ..errors import HybridSearchError
from ..filters import Filter
from ..request import SearchRequest
from ..schema import StoredDocument
from ..textnorm import encodable
from .guards import principal_of
from .indexes import ServedIndexes

__all__ = ["build_server", "run_stdio"]

_MAX_K = 50
_INSTRUCTIONS = (
    "Searches the user's own documents (Japanese and other languages): BM25 over words finds passages that "
    "share the query's words, a dense model finds passages that share its meaning. Call `search` with a "
    "question or keywords, then `get_document` with a hit's document_id for the whole text. Cite hits by "
    "their source and id."
)


def build_server(indexes: ServedIndexes, principal: Principal | None = None) -> Any:
    """An MCP server answering from `indexes`: over stdio as `principal` (None: no one in particular,
    who reads the documents open to everyone), over HTTP as each request's caller."""
    from mcp.server.mcpserver import MCPServer

    def caller(ctx: Context | None) -> Principal | None:
        """Who calls: an HTTP request's caller, or (stdio) the process's principal."""
        request = ctx.request_context.request if ctx is not None else None
        return principal if request is None else principal_of(getattr(request, "scope", {}))

    parameters: dict[str, frozenset[str]] = {}
    server = MCPServer(
        "hybridsearch", instructions=_INSTRUCTIONS, log_level="WARNING", middleware=[_KnownArguments(parameters)]
    )

    def tool(function: Callable[..., Any]) -> Callable[..., Any]:
        parameters[function.__name__] = frozenset(inspect.signature(function).parameters) - {"ctx"}
        return server.tool()(function)

    @tool
    def search(
        query: str,
        k: int = 5,
        alpha: float | None = None,
        where: dict[str, Any] | None = None,
        index: str | None = None,
        group_by_document: bool = True,
        min_confidence: float | None = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Search the documents; best passages first. `k`: how many (at most 50). `alpha`: the share of
        meaning against shared words, 0 to 1 (default: the index's). `where`: a filter on document
        metadata, e.g. {"type": "md"}, {"path": {"glob": "規程/**"}}, {"updated": {"gte": "2024-01-01"}}.
        `index`: which index (see list_indexes; default: the first). `group_by_document` (default
        true): one passage per document, with `more` = its other matching passages; false: every
        passage. Copies of a passage in other files are listed on it (`copies`), not repeated. Each hit
        has a `confidence` (probability that it answers the query) and is `weak` when that is below the
        index's threshold (or `min_confidence`, 0 to 1); `no_good_match` is true when every hit is
        weak (or none matched): then say the documents do not answer rather than use weak hits."""
        with _told():
            request = SearchRequest(
                query=query, k=max(1, min(k, _MAX_K)) if isinstance(k, int) else k, alpha=alpha,
                where=Filter.parse(where), group_by="document" if group_by_document else None,
                min_confidence=min_confidence, principal=caller(ctx),
            )  # fmt: skip
            response = indexes.get(index).respond(request, indexes.reranker)
        return response.to_dict() | {"index": index or indexes.names[0]}

    @tool
    def get_document(id: str, index: str | None = None, ctx: Context | None = None) -> dict[str, Any]:
        """The whole document a hit's `document_id` names (or the chunk a hit's `id` names): its text,
        source and metadata."""
        with _told():
            found = indexes.lookup(id, index, caller(ctx))
        kind = "document" if isinstance(found, StoredDocument) else "chunk"
        return {"kind": kind, "id": found.id, "source": found.source, "title": found.title, "text": found.text,
                "metadata": dict(found.metadata)}  # fmt: skip

    @tool
    def list_indexes(ctx: Context | None = None) -> dict[str, Any]:
        """The indexes this server answers from, with their sizes (null where documents say who may
        read them) and metadata fields."""
        found = []
        for name in indexes.names:
            details = indexes.describe(name, caller(ctx))
            counts = details["counts"] or {}
            found.append({"name": name, "documents": counts.get("documents"), "chunks": counts.get("chunks"),
                          "fields": details["fields"]})  # fmt: skip
        return {"indexes": found}

    return server


class _KnownArguments:
    """MCP middleware: a `tools/call` naming an argument its tool does not take is a tool error that
    names it (the SDK would drop it silently, and a misspelt `min_confidence` would search without it)."""

    def __init__(self, parameters: Mapping[str, frozenset[str]]) -> None:
        self.parameters = parameters  # filled as the tools are registered

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        from mcp.types import CallToolResult, TextContent

        params = ctx.params if ctx.method == "tools/call" and isinstance(ctx.params, dict) else {}
        name, given = str(params.get("name")), params.get("arguments")
        known = self.parameters.get(name)
        unknown = sorted(set(given) - known) if known is not None and isinstance(given, dict) else []
        if not unknown or known is None:
            return await call_next(ctx)
        said = f"Unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} of {name}"
        text = f"{said}; it takes {', '.join(sorted(known))}."
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def run_stdio(server: Any) -> None:
    """Serve `server` (`build_server`'s) to one client over stdin and stdout until stdin closes."""
    import anyio
    from mcp.server.stdio import stdio_server

    async def serve(lines: IO[str]) -> None:
        async with stdio_server(stdin=anyio.wrap_file(lines)) as (read, write):
            lowlevel = server._lowlevel_server  # MCPServer runs stdio only on the stdin it opens itself
            await lowlevel.run(read, write, lowlevel.create_initialization_options())

    with _Readable(os.fdopen(0, "rb", closefd=False), encoding="utf-8", errors="replace") as stdin:
        anyio.run(serve, stdin)


class _Readable(io.TextIOWrapper):
    """Lines of JSON-RPC with each lone surrogate (escaped `\\udc80`: not text) read as U+FFFD."""

    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]  # as typeshed's TextIOWrapper
        line = super().readline(size)
        if not _ESCAPED_SURROGATE.search(line):
            return line
        try:
            text = json.dumps(json.loads(line), ensure_ascii=False)
        except (ValueError, RecursionError):  # not JSON: the SDK says so
            return line
        return encodable(text) + "\n"


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@contextmanager
def _told() -> Iterator[None]:
    """Our errors (a bad filter, an unknown id or index) reach the client with their message; anything
    else stays a crash whose text the SDK keeps on the server."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        yield
    except HybridSearchError as error:
        raise ToolError(str(error)) from error
