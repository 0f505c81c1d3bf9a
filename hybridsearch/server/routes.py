"""The HTTP API's routes, each group a router `create_app` includes: search (GET and POST, one
parser: `SearchRequest.from_mapping`), lookups (documents, chunks, indexes, info, health)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Body
from starlette.requests import Request

from ..access import Principal
from ..errors import InputError, NotFoundError
from ..request import SearchRequest, option_schema
from ..schema import StoredChunk, StoredDocument
from .guards import principal_of
from .indexes import ServedIndexes

__all__ = ["Limits", "TooLarge", "lookup_routes", "search_routes"]


@dataclass(frozen=True)
class Limits:
    """What one request may ask: query characters, k, request body bytes."""

    query_chars: int = 4000
    k: int = 100
    body_bytes: int = 64 * 1024


class TooLarge(InputError):
    """Bigger than the server accepts (a 413)."""


def search_routes(indexes: ServedIndexes, limits: Limits) -> APIRouter:
    """GET and POST /search: a `SearchRequest` from URL parameters or a JSON body, made by the caller's
    principal, answered as `SearchResponse.to_dict` (with the index's served name)."""
    router = APIRouter()

    def run_search(given: Mapping[str, Any], text: bool, principal: Principal | None) -> dict[str, Any]:
        """`given` (JSON, or with `text` URL parameters) as `principal`'s `SearchRequest`, answered from its index."""
        options = dict(given)
        name = options.pop("index", None)
        if "q" in options:
            if "query" in options:
                raise InputError("Give the query once: q or query, not both.")
            options["query"] = options.pop("q")
        query = options.get("query")
        if isinstance(query, str) and len(query) > limits.query_chars:
            raise TooLarge(f"The query has {len(query)} characters; this server takes at most {limits.query_chars}.")
        request = SearchRequest.from_mapping(options, text=text, principal=principal)
        if request.k > limits.k:
            raise InputError(f"k must be at most {limits.k} on this server (got {request.k}).")
        response = indexes.get(name).respond(request, indexes.reranker)
        return response.to_dict() | {"index": name or indexes.names[0]}

    @router.get("/search", summary="Search an index", openapi_extra={"parameters": _parameters()})
    def search_get(request: Request) -> dict[str, Any]:
        return run_search(request.query_params, text=True, principal=principal_of(request.scope))

    @router.post("/search", summary="Search an index (the filter as a JSON object)", openapi_extra=_body())
    def search_post(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        return run_search(body, text=False, principal=principal_of(request.scope))

    return router


def lookup_routes(indexes: ServedIndexes) -> APIRouter:
    """What an index holds and how it is, as far as the caller's principal may read it: documents and
    chunks by id (a forbidden id is the 404 of an unknown one), the indexes served, one index's
    manifest and fields; health."""
    router = APIRouter()

    @router.get("/documents/{id}", summary="A document: full text, metadata, its chunks")
    def document(request: Request, id: str, index: str | None = None) -> dict[str, Any]:
        found = indexes.lookup(id, index, principal_of(request.scope))
        if not isinstance(found, StoredDocument):
            raise NotFoundError(f"{id!r} is a chunk, not a document; ask /chunks/{id}.")
        return found.to_dict()

    @router.get("/chunks/{id}", summary="A chunk: text, offsets, its document's metadata")
    def chunk(request: Request, id: str, index: str | None = None) -> dict[str, Any]:
        found = indexes.lookup(id, index, principal_of(request.scope))
        if not isinstance(found, StoredChunk):
            raise NotFoundError(f"{id!r} is a document, not a chunk; ask /documents/{id}.")
        return found.to_dict()

    @router.get("/indexes", summary="The indexes this server answers from")
    def served(request: Request) -> dict[str, Any]:
        principal = principal_of(request.scope)
        return {"indexes": [_summary(indexes.describe(name, principal)) for name in indexes.names]}

    @router.get("/info", summary="One index: its manifest (settings, model, counts) and metadata fields")
    def info(request: Request, index: str | None = None) -> dict[str, Any]:
        principal = principal_of(request.scope)
        values = indexes.get(index).field_values(principal=principal)
        return indexes.describe(index, principal) | {"values": values}

    @router.get("/health", summary="Is the server up (no token needed)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "indexes": {name: indexes.get(name).version for name in indexes.names}}

    return router


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


def _summary(details: dict[str, Any]) -> dict[str, Any]:
    """An index's line in /indexes, from `ServedIndexes.describe` (no counts where documents have readers)."""
    counts = details["counts"] or {}
    return {"name": details["name"], "location": details["path"], "generation": details["generation"],
            "documents": counts.get("documents"), "chunks": counts.get("chunks"),
            "model": details["model"]["name"]}  # fmt: skip
