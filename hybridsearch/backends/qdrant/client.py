"""The engine and what readers and writers share of an index's collections: one client per server
or local folder in this process, the state point, the points a generation sees, paging through them,
and the collection that gives terms their ids."""

from __future__ import annotations

import io
import os
import pickle
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ...errors import IndexFormatError, InputError
from .location import Target
from .lock import reason

__all__ = [
    "API_KEY_ENV", "CLIENTS", "FORMAT", "PAGE", "STATE_POINT", "Clients", "damaged", "engine_models", "read_state",
    "scroll", "stored_term_ids", "terms_collection", "visible",
]  # fmt: skip

API_KEY_ENV = "HSEARCH_QDRANT_API_KEY"
FORMAT = 1
STATE_POINT = 0  # the point that holds the index's state
PAGE = 1000  # points per scroll page and per upsert


class _SafePickle:
    """What qdrant-client's local storage unpickles its points with, limited to its own point models
    (and a few plain types): a local folder from someone else is data, and a pickle could run code."""

    _PLAIN = {("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"), ("uuid", "UUID"),
              ("datetime", "datetime"), ("datetime", "date")}  # fmt: skip

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            models = module == "qdrant_client.http.models" or module.startswith("qdrant_client.http.models.")
            if "." not in name and (models or (module, name) in _SafePickle._PLAIN):  # a dotted name walks attributes
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"a local Qdrant folder may not hold {module}.{name}")

    dumps = staticmethod(pickle.dumps)
    HIGHEST_PROTOCOL = pickle.HIGHEST_PROTOCOL
    DEFAULT_PROTOCOL = pickle.DEFAULT_PROTOCOL

    @staticmethod
    def loads(data: bytes) -> Any:
        return _SafePickle._Unpickler(io.BytesIO(data)).load()


def _guard_local_storage() -> None:
    from qdrant_client.local import persistence

    persistence.pickle = _SafePickle  # type: ignore[assignment,attr-defined]


class Clients:
    """One client per server or local folder in this process (local mode locks its folder, so a
    reader and a writer of one folder must share a client), counted by who holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[Any, int]] = {}

    def take(self, target: Target) -> Any:
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            raise InputError("Qdrant indexes need qdrant-client: pip install 'hybridsearch[qdrant]'") from None
        key = target.url or os.path.realpath(target.path)
        with self._lock:
            client, count = self._held.get(key, (None, 0))
            if client is None:
                try:
                    if target.url:
                        client = QdrantClient(url=target.url, api_key=os.environ.get(API_KEY_ENV) or None)
                    else:
                        _guard_local_storage()
                        client = QdrantClient(path=target.path)
                except Exception as error:  # noqa: BLE001 - another process holds the folder, a bad URL…
                    raise InputError(f"Cannot open {target.location}: {reason(error)}") from None
            self._held[key] = (client, count + 1)
            return client

    def give_back(self, target: Target) -> None:
        key = target.url or os.path.realpath(target.path)
        with self._lock:
            client, count = self._held[key]
            if count > 1:
                self._held[key] = (client, count - 1)
                return
            del self._held[key]
            client.close()  # under the lock: a local folder is unlocked before another client opens it


CLIENTS = Clients()


def engine_models() -> Any:
    """qdrant-client's request models (imported when first needed)."""
    from qdrant_client import models

    return models


@contextmanager
def damaged(target: Target) -> Iterator[None]:
    """What an index holds is data from anyone: a field missing or of the wrong type is an IndexFormatError."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise IndexFormatError(f"{target.location} holds a damaged hybridsearch index ({error!r}).") from None


def read_state(client: Any, target: Target, any_format: bool = False) -> dict[str, Any] | None:
    """The index's state (point 0), or None when there is no such collection yet (`any_format`: do
    not refuse a state of another format, which a rebuild replaces)."""
    try:
        if not client.collection_exists(target.collection):
            return None
        found = client.retrieve(target.collection, ids=[STATE_POINT], with_payload=True)
    except Exception as error:  # noqa: BLE001 - connection refused, a server's error response…
        raise InputError(f"Cannot read {target.location}: {reason(error)}") from None
    if not found or not isinstance(found[0].payload, dict) or found[0].payload.get("kind") != "index":
        raise IndexFormatError(f"{target.location} is a Qdrant collection, but not a hybridsearch index.")
    state = dict(found[0].payload)
    if state.get("format") != FORMAT and not any_format:
        raise IndexFormatError(
            f"{target.location} has index format {state.get('format')!r}; this version reads {FORMAT} "
            f"(rebuild it: hsearch index PATH --index {target.location} --rebuild)."
        )
    return state


def visible(generation: int, kind: str, *more: Any) -> Any:
    """The filter of points of `kind` that a reader of `generation` sees."""
    m = engine_models()
    return m.Filter(
        must=[
            m.FieldCondition(key="kind", match=m.MatchValue(value=kind)),
            m.FieldCondition(key="added", range=m.Range(lte=generation)),
            *more,
        ],
        must_not=[m.FieldCondition(key="removed", range=m.Range(lte=generation))],
    )


def scroll(client: Any, collection: str, where: Any, payload: Any = True) -> Iterator[Any]:
    """Every point of `collection` that `where` keeps, a page at a time (without vectors)."""
    offset = None
    while True:
        records, offset = client.scroll(
            collection, scroll_filter=where, limit=PAGE, offset=offset, with_payload=payload, with_vectors=False
        )
        yield from records
        if offset is None:
            return


def terms_collection(target: Target) -> str:
    """The collection that gives terms their ids (shared by every generation and rebuild of the index;
    no index can have its name, which holds '--')."""
    return f"{target.collection}--terms"


def _lock_collection(target: Target) -> str:
    """The collection that is the index's writer lock while a writer holds it (see `lock.py`)."""
    return f"{target.collection}--writer"


def stored_term_ids(client: Any, target: Target, terms: Sequence[str] | None) -> dict[str, int]:
    """The stored ids of those `terms` that have one (of every term for None). A server looks them up
    in its payload index; local mode, which scans every point for every filter, reads all terms once."""
    m = engine_models()
    found: dict[str, int] = {}
    if not client.collection_exists(terms_collection(target)):
        return found
    if not target.url or terms is None:
        every = {record.payload["term"]: int(record.id) for record in scroll(client, terms_collection(target), None)}
        return every if terms is None else {term: every[term] for term in terms if term in every}
    for start in range(0, len(terms), PAGE):
        where = m.Filter(must=[m.FieldCondition(key="term", match=m.MatchAny(any=list(terms[start : start + PAGE])))])
        for record in scroll(client, terms_collection(target), where):
            found[record.payload["term"]] = int(record.id)
    return found
