"""The HTTP API and the web page: `hsearch serve` (FastAPI + uvicorn; the `[serve]` extra).

    GET/POST /search     q and the other SearchRequest options, path (glob), index → SearchResponse.to_dict
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
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import HybridSearchError, IndexAccessError, IndexFormatError, InputError, NotFoundError
from ..request import SearchRequest, option_schema
from ..schema import StoredChunk, StoredDocument
from ..textnorm import encodable
from .guards import AllowedHosts, limit_body, require_token, same_site
from .indexes import ServedIndexes

__all__ = ["Limits", "create_app", "lenient_http"]

logger = logging.getLogger("hybridsearch.server")

STATIC = Path(__file__).with_name("static")


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
    from fastapi import Body, FastAPI
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

    def run_search(given: Mapping[str, Any], text: bool) -> dict[str, Any]:
        """`given` (JSON, or with `text` URL parameters) as a `SearchRequest`, answered from its index."""
        options = dict(given)
        name = options.pop("index", None)
        if "q" in options:
            if "query" in options:
                raise InputError("Give the query once: q or query, not both.")
            options["query"] = options.pop("q")
        query = options.get("query")
        if isinstance(query, str) and len(query) > limits.query_chars:
            raise _TooLarge(f"The query has {len(query)} characters; this server takes at most {limits.query_chars}.")
        request = SearchRequest.from_mapping(options, text=text)
        if request.k > limits.k:
            raise InputError(f"k must be at most {limits.k} on this server (got {request.k}).")
        response = indexes.get(name).respond(request, indexes.reranker)
        return response.to_dict() | {"index": name or indexes.names[0]}

    @app.get("/search", summary="Search an index", openapi_extra={"parameters": _parameters()})
    def search_get(request: Request) -> dict[str, Any]:
        return run_search(request.query_params, text=True)

    @app.post("/search", summary="Search an index (the filter as a JSON object)", openapi_extra=_body())
    def search_post(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        return run_search(body, text=False)

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


def _options() -> dict[str, dict[str, Any]]:
    """The search options as the HTTP API names them (the query is `q`), with `path` and `index`."""
    schema = option_schema()
    return {
        "q": schema.pop("query"),
        **schema,
        "path": {"type": "string", "description": "Only documents whose path matches this glob, e.g. 規程/**."},
        "index": {"type": "string", "description": "Which index (GET /indexes); default: the first."},
    }


def _parameters() -> list[dict[str, Any]]:
    """`GET /search`'s parameters for the OpenAPI page (`where` as JSON text)."""
    found = []
    for name, schema in _options().items():
        if name == "where":
            schema = schema | {"type": "string", "description": schema["description"] + " As JSON text."}
        described = {"name": name, "in": "query", "required": name == "q", "schema": schema}
        found.append(described | {"description": schema["description"]})
    return found


def _body() -> dict[str, Any]:
    """`POST /search`'s body for the OpenAPI page."""
    body = {"type": "object", "required": ["q"], "properties": _options(), "additionalProperties": False}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}


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
