"""The HTTP API and the web page: `hsearch serve` (FastAPI + uvicorn; the `[serve]` extra).

    GET/POST /search     q, k, alpha, fusion, where (JSON), path (glob), index → hits (Hit.to_dict + snippet)
    GET /documents/{id}  a document: full text, metadata, its chunks' ids and offsets
    GET /chunks/{id}     a chunk
    GET /indexes         the indexes served;  GET /info?index=NAME  one index's manifest and fields
    GET /health          no token needed
    GET /                the search page (static files in the package, no CDN);  /docs  OpenAPI

Errors are `{"detail": message}` with the library's one-line message: 400 for bad input, 401
without the token (when one is set), 404 for an unknown index or id, 413 for a body or query over
the limits, 422 for a malformed request, 503 for a damaged index; never a stack trace.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from starlette.responses import JSONResponse

from ..errors import HybridSearchError, IndexAccessError, IndexFormatError, InputError, NotFoundError
from ..filters import Filter
from ..schema import StoredChunk, StoredDocument
from ..search import checked_k, snippet
from .guards import AllowedHosts, limit_body, require_token, same_site
from .indexes import ServedIndexes
from .text import encodable

__all__ = ["Limits", "SearchRequest", "create_app", "lenient_http"]

logger = logging.getLogger("hybridsearch.server")

STATIC = Path(__file__).with_name("static")


class SearchRequest(BaseModel):
    """A search: what `GET /search` takes as parameters, with `where` as an object instead of JSON text."""

    q: str
    k: int = 10
    alpha: float | None = None
    fusion: Literal["coverage", "minmax", "zscore", "rrf"] | None = None
    where: dict[str, Any] | None = None
    path: str | None = None
    index: str | None = None
    group_by: Literal["document"] | None = None
    collapse: bool = True
    min_confidence: float | None = None


@dataclass(frozen=True)
class Limits:
    """What one request may ask: query characters, k, request body bytes."""

    query_chars: int = 4000
    k: int = 100
    body_bytes: int = 64 * 1024


def create_app(
    indexes: ServedIndexes,
    token: str | None = None,
    cors: Sequence[str] = (),
    limits: Limits | None = None,
    mcp: Any = None,
    allowed_hosts: Sequence[str] = (),
) -> Any:
    """The FastAPI app over `indexes`. `token` (bearer) guards everything but /health and the page's
    static files; `cors` lists the origins allowed to call from a browser (none by default); `mcp`,
    an MCP server (`server.mcp.build_server`), is mounted at /mcp over streamable HTTP.
    `allowed_hosts` (`NAME`, `NAME:PORT` or `*`) are the names besides localhost, 127.0.0.1, [::1]
    and the address a client connected to that a request may address the server by (`AllowedHosts`)."""
    from fastapi import Body, FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, HTMLResponse
    from fastapi.staticfiles import StaticFiles

    limits = limits or Limits()
    hosts = AllowedHosts.parse(allowed_hosts)
    mcp_app = _mcp_app(mcp) if mcp is not None else None

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        if mcp is None:
            yield
            return
        async with mcp.session_manager.run():
            yield

    app = FastAPI(
        title="hybridsearch", summary="Japanese hybrid search: BM25 over MeCab words + dense embeddings",
        docs_url=None, redoc_url=None, lifespan=lifespan, default_response_class=_Json,
    )  # fmt: skip

    @app.exception_handler(HybridSearchError)
    async def library_error(request: Request, error: HybridSearchError) -> JSONResponse:
        status = (
            404 if isinstance(error, NotFoundError)
            else 413 if isinstance(error, _TooLarge)
            else 503 if isinstance(error, IndexFormatError | IndexAccessError)
            else 400
        )  # fmt: skip
        return _Json({"detail": str(error)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, error: RequestValidationError) -> JSONResponse:
        return _Json({"detail": _malformed(error.errors())}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error in %s %s", request.method, request.url.path)
        return _Json({"detail": "Internal error; the server's log has the details."}, status_code=500)

    def run_search(request: SearchRequest) -> dict[str, Any]:
        if len(request.q) > limits.query_chars:
            raise _TooLarge(
                f"The query has {len(request.q)} characters; this server takes at most {limits.query_chars}."
            )
        k = checked_k(request.k)
        if k > limits.k:
            raise InputError(f"k must be at most {limits.k} on this server (got {k}).")
        index = indexes.get(request.index)
        condition = Filter.parse(request.where)
        if request.path:
            glob = Filter.from_cli((), request.path)
            condition = Filter((*(condition.conditions if condition else ()), *glob.conditions)) if glob else condition
        with index.searcher() as searcher:
            hits = searcher.search(
                request.q, k, request.alpha, request.fusion, condition, request.group_by, request.collapse,
                indexes.reranker, min_confidence=request.min_confidence,
            )  # fmt: skip
            prepared = searcher.prepare(request.q)
            generation = searcher.backend.version
        config = index.config
        return {
            "query": request.q,
            "index": request.index or indexes.names[0],
            "generation": generation,
            "alpha": config.alpha if request.alpha is None else request.alpha,
            "fusion": str(request.fusion or config.fusion),
            **({"where": condition.describe()} if condition else {}),
            **({"cut": prepared.cut} if prepared.cut else {}),
            "hits": [hit.to_dict() | {"snippet": _snippet(hit)} for hit in hits],
        }

    @app.get("/search", summary="Search an index")
    def search_get(
        q: str,
        k: int = 10,
        alpha: float | None = None,
        fusion: Literal["coverage", "minmax", "zscore", "rrf"] | None = None,
        where: str | None = Query(None, description='A filter as JSON, e.g. {"type": "md"}'),
        path: str | None = Query(None, description="A path glob, e.g. planets/*.md"),
        index: str | None = None,
        group_by: Literal["document"] | None = Query(None, description="document: each document's best chunk"),
        collapse: bool = Query(True, description="fold chunks that (nearly) repeat a better hit's text into it"),
        min_confidence: float | None = Query(None, description="drop hits less likely than this to answer (0-1)"),
    ) -> dict[str, Any]:
        return run_search(
            SearchRequest(
                q=q,
                k=k,
                alpha=alpha,
                fusion=fusion,
                where=_json_filter(where),
                path=path,
                index=index,
                group_by=group_by,
                collapse=collapse,
                min_confidence=min_confidence,
            )
        )

    @app.post("/search", summary="Search an index (the filter as a JSON object)")
    def search_post(request: SearchRequest = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        return run_search(request)

    @app.get("/documents/{id}", summary="A document: full text, metadata, its chunks")
    def document(id: str, index: str | None = None) -> dict[str, Any]:
        found = indexes.lookup(id, index)
        if not isinstance(found, StoredDocument):
            raise NotFoundError(f"{id!r} is a chunk, not a document; ask /chunks/{id}.")
        return found.to_dict()

    @app.get("/chunks/{id}", summary="A chunk: text, offsets, its document's metadata")
    def chunk(id: str, index: str | None = None) -> dict[str, Any]:
        found = indexes.lookup(id, index)
        if not isinstance(found, StoredChunk):
            raise NotFoundError(f"{id!r} is a document, not a chunk; ask /documents/{id}.")
        return found.to_dict()

    @app.get("/indexes", summary="The indexes this server answers from")
    def served() -> dict[str, Any]:
        return {"indexes": [_summary(name, indexes.get(name)) for name in indexes.names]}

    @app.get("/info", summary="One index: its manifest (settings, model, counts) and metadata fields")
    def info(index: str | None = None) -> dict[str, Any]:
        opened = indexes.get(index)
        return opened.info() | {
            "name": index or indexes.names[0], "fields": opened.fields(), "values": opened.field_values(),
        }  # fmt: skip

    @app.get("/health", summary="Is the server up (no token needed)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "indexes": {name: indexes.get(name).version for name in indexes.names}}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="hybridsearch API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js", swagger_css_url="/docs-assets/swagger-ui.css",
        )  # fmt: skip

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    swagger = _swagger_assets()
    if swagger is not None:
        app.mount("/docs-assets", StaticFiles(directory=swagger), name="docs-assets")
    if mcp_app is not None:
        app.mount("/mcp", mcp_app)

    guarded: Any = app
    if cors:
        from starlette.middleware.cors import CORSMiddleware

        guarded = CORSMiddleware(
            guarded, allow_origins=list(cors), allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )  # fmt: skip
    return same_site(limit_body(require_token(guarded, token), limits.body_bytes), hosts, cors)


class _TooLarge(InputError):
    """Bigger than the server accepts (a 413)."""


class _Json(JSONResponse):
    """JSON in which a lone surrogate (`"\\udc80"` in a request's JSON, not text in any encoding: echoed
    back, it would be a 500) is U+FFFD."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return encodable(text).encode()


def _malformed(errors: Sequence[Any]) -> str:
    """A request of the wrong shape in one line: where and what, never the value sent (which JSON may
    not be able to carry: NaN, Infinity, a lone surrogate)."""
    said = "; ".join(_said(error) for error in errors[:5]) + ("; …" if len(errors) > 5 else "")
    return f"Malformed request: {said}."


def _said(error: Any) -> str:
    source, *place = error["loc"] or ("request",)
    if error["type"] == "json_invalid":
        return f"the body is not JSON ({error.get('ctx', {}).get('error', 'JSON decode error')})"
    return f"{'.'.join(map(str, place)) or source}: {error['msg'].rstrip('.')}"


def _mcp_app(mcp: Any) -> Any:
    """The MCP server's streamable HTTP app. Its own Host/Origin check is off: `same_site` makes the
    same check on every path, /mcp included, with the names the operator allows (the SDK's would know
    only loopback and refuse them)."""
    from mcp.server.transport_security import TransportSecuritySettings

    return mcp.streamable_http_app(
        streamable_http_path="/", transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )


def _json_filter(text: str | None) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise InputError(
            f'The where parameter is not JSON; write a filter such as {{"type": "md"}} (got {text[:100]!r}).'
        ) from None
    if not isinstance(value, dict):
        raise InputError(f'The where parameter is a JSON object such as {{"type": "md"}} (got {text[:100]!r}).')
    return value


def _snippet(hit: Any) -> dict[str, Any]:
    shown = snippet(hit)
    return {"text": shown.text, "marks": [list(mark) for mark in shown.marks]}


def _summary(name: str, index: Any) -> dict[str, Any]:
    details = index.info()
    return {"name": name, "location": details["path"], "generation": details["generation"],
            "documents": details["counts"]["documents"], "chunks": details["counts"]["chunks"],
            "model": details["model"]["name"]}  # fmt: skip


def _swagger_assets() -> Path | None:
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return Path(swagger_ui_bundle.swagger_ui_path)


def lenient_http() -> type:
    """uvicorn's h11 protocol, accepting a request line with raw UTF-8 in it.

    `curl 'http://127.0.0.1:8800/search?q=赤い惑星は?'` sends the query's bytes as typed; HTTP wants
    them percent-encoded (browsers do that), and h11 refuses the request. This percent-encodes bytes
    above 0x7F in the request line of each new request, and touches nothing else (not headers, not
    bodies)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class LenientH11Protocol(H11Protocol):
        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:
                line, found, rest = data.partition(b"\r\n")
                if found:
                    data = _HIGH_BYTES.sub(lambda m: b"%%%02X" % m.group()[0], line) + found + rest
            super().data_received(data)

    return LenientH11Protocol


_HIGH_BYTES = re.compile(rb"[\x80-\xff]")
