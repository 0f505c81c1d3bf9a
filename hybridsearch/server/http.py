"""The HTTP API and the web page: `hsearch serve` (FastAPI + uvicorn; the `[serve]` extra).

    GET/POST /search     q and the other SearchRequest options, path (glob), index → SearchResponse.to_dict
    GET /documents/{id}  a document: full text, metadata, its chunks' ids and offsets
    GET /chunks/{id}     a chunk
    GET /indexes         the indexes served;  GET /info?index=NAME  one index's manifest and fields
    GET /health          no token needed
    GET /                the search page (static files in the package, no CDN);  /docs  OpenAPI

Each request is made by the principal its caller is (`guards.identify`: a user of the auth file, a
trusted proxy's user, or no one in particular), and answered with what that principal may read.

Errors are `{"detail": message}` with the library's one-line message: 400 for bad input, 401
without a valid token (when tokens are checked), 404 for an unknown index or id (or one the
principal may not read: the same answer), 413 for a body or query over the limits, 422 for a
malformed request, 503 for a damaged index; never a stack trace.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import HybridSearchError, IndexAccessError, IndexFormatError, NotFoundError
from ..textnorm import encodable
from .guards import AllowedHosts, Caller, bearer_token, identify, limit_body, same_site
from .indexes import ServedIndexes
from .routes import Limits, TooLarge, lookup_routes, search_routes

__all__ = ["Limits", "create_app", "lenient_http"]

logger = logging.getLogger("hybridsearch.server")

STATIC = Path(__file__).with_name("static")


def create_app(
    indexes: ServedIndexes,
    token: str | None = None,
    cors: Sequence[str] = (),
    limits: Limits | None = None,
    mcp: Any = None,
    allowed_hosts: Sequence[str] = (),
    caller: Caller | None = None,
) -> Any:
    """The FastAPI app over `indexes`. `token` (bearer, shared) guards everything but /health and the
    page's static files; `caller` (`guards.bearer_users`, `guards.trusted_headers`) says who each
    request's caller is, after the token, and they are answered as that principal; `cors` lists the
    origins allowed to call from a browser (none by default); `mcp`, an MCP server
    (`server.mcp.build_server`), is mounted at /mcp over streamable HTTP. `allowed_hosts` (`NAME`,
    `NAME:PORT` or `*`) are the names besides localhost, 127.0.0.1, [::1] and the address a client
    connected to that a request may address the server by (`AllowedHosts`)."""
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

    _answer_errors(app)
    app.include_router(search_routes(indexes, limits))
    app.include_router(lookup_routes(indexes))
    app.include_router(_page_routes())

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
    callers = [*([bearer_token(token)] if token else []), *([caller] if caller else [])]
    return same_site(limit_body(identify(guarded, callers), limits.body_bytes), hosts, cors)


def _answer_errors(app: FastAPI) -> None:
    """Every error as `{"detail": one line}`: the library's with its status (404 unknown, 413 too
    large, 503 damaged, else 400), a request of the wrong shape 422, anything else 500 (logged)."""
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(HybridSearchError)
    async def library_error(request: Request, error: HybridSearchError) -> JSONResponse:
        status = (
            404 if isinstance(error, NotFoundError)
            else 413 if isinstance(error, TooLarge)
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


def _page_routes() -> Any:
    """The search page and the API's documentation page (its assets are served from the package)."""
    from fastapi import APIRouter
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, HTMLResponse

    router = APIRouter()

    @router.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="hybridsearch API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js", swagger_css_url="/docs-assets/swagger-ui.css",
        )  # fmt: skip

    @router.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    return router


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
