"""The named indexes a server (HTTP or MCP) answers from, each kept on its newest generation.

A watcher thread calls `refresh()` on every index once a second, so a generation that `hsearch
index` writes is answered from within a second or two; searches in flight finish on the generation
they started on (`HybridIndex` holds it for them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..access import Principal
from ..config import ModelAccess
from ..errors import HybridSearchError, NotFoundError
from ..index import HybridIndex
from ..rerank import Reranker
from ..schema import StoredChunk, StoredDocument

__all__ = ["ServedIndexes", "parse_index_options"]

logger = logging.getLogger("hybridsearch.server")


def parse_index_options(options: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`--index DIR` or `--index NAME=DIR` (repeatable) as {name: location}; a bare DIR is named by its folder."""
    found: dict[str, str] = {}
    for option in options:
        name, named, location = option.partition("=")
        if not named or not name.strip() or "/" in name or ":" in name:  # a plain DIR (or a URL)
            name, location = "", option
        name = name.strip() or Path(location.rstrip("/")).name or location
        if name in found:
            raise HybridSearchError(f"Two indexes are named {name!r}; name them: --index NAME=DIR.")
        found[name] = location
    return found


class ServedIndexes:
    """Opened indexes by name; `close` stops the watcher and closes them."""

    def __init__(
        self,
        locations: Mapping[str, str],
        access: ModelAccess | None = None,
        every: float = 1.0,
        reranker: Reranker | None = None,
    ) -> None:
        """`reranker`, when given, re-scores every search's best candidates (`HybridIndex.search`'s `rerank`)."""
        self.reranker = reranker
        if not locations:
            raise HybridSearchError("Name at least one index to serve: --index DIR or --index NAME=DIR.")
        access = access or ModelAccess()
        self.indexes: dict[str, HybridIndex] = {}
        try:
            for name, location in locations.items():
                self.indexes[name] = HybridIndex.open(location, access=access)
        except BaseException:
            self.close()
            raise
        self._stop = threading.Event()
        self._every = every
        self._watcher = threading.Thread(target=self._watch, name="hybridsearch-refresh", daemon=True)
        self._watcher.start()

    @property
    def names(self) -> list[str]:
        return list(self.indexes)

    def get(self, name: str | None) -> HybridIndex:
        """The index named `name` (the first one when None); `NotFoundError` for a name not served."""
        if name is None:
            return next(iter(self.indexes.values()))
        index = self.indexes.get(name)
        if index is None:
            raise NotFoundError(f"No index named {name!r} is served here; the indexes are: {', '.join(self.names)}.")
        return index

    def lookup(
        self, id: str, name: str | None = None, principal: Principal | None = None
    ) -> StoredDocument | StoredChunk:
        """The document or chunk `id` in the index named `name`, if `principal` may read it; the
        `NotFoundError` for an unknown or forbidden id names the index as served, not where it lives."""
        index = self.get(name)
        try:
            return index.get(id, principal=principal)
        except NotFoundError:
            raise NotFoundError.of_id(repr(name or self.names[0]), id) from None

    def describe(self, name: str | None, principal: Principal | None = None) -> dict[str, Any]:
        """Index `name` as `principal` sees it: its manifest, its served name and the metadata fields of
        the documents they may read. Its `counts` are None where documents have readers (they count
        every document, and would tell of those the principal may not read)."""
        index = self.get(name)
        details = index.info() | {"name": name or self.names[0], "fields": index.fields(principal=principal)}
        return details | ({"counts": None} if index.has_readers else {})

    def _watch(self) -> None:
        while not self._stop.wait(self._every):
            for name, index in self.indexes.items():
                try:
                    if index.refresh():
                        logger.info("index %s: now answering from %s", name, index.version)
                except HybridSearchError as error:  # a damaged new generation: keep answering from the old one
                    logger.warning("index %s: cannot move to its newest generation (%s)", name, error)

    def close(self) -> None:
        if hasattr(self, "_stop"):
            self._stop.set()
            self._watcher.join(timeout=5)
        for index in self.indexes.values():
            index.close()
