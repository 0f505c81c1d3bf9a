"""Where an index is, parsed once: a folder (the local backend) or an engine's address
(`scheme://…`, e.g. `qdrant://HOST:PORT/COLLECTION`, `qdrant+local://PATH/COLLECTION`).

    IndexLocation.parse("indexes/docs").folder            # Path("indexes/docs")
    IndexLocation.parse("qdrant://db:6333/docs").scheme   # "qdrant"
    IndexLocation.parse("qdrant://db:6333?shards=2").child("eval-1")   # qdrant://db:6333/eval-1?shards=2

What follows the scheme is the engine's to read (`backends.qdrant.parse_location`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IndexLocation", "Location"]

Location = str | os.PathLike[str]


@dataclass(frozen=True)
class IndexLocation:
    """An index location: `text` as given, and the engine `scheme` it names (None: a local folder)."""

    text: str
    scheme: str | None

    @classmethod
    def parse(cls, location: Location | IndexLocation) -> IndexLocation:
        if isinstance(location, IndexLocation):
            return location
        text = os.fspath(location)
        scheme, found, _ = text.partition("://")
        return cls(text, scheme if found and scheme else None)

    @property
    def is_local(self) -> bool:
        return self.scheme is None

    @property
    def folder(self) -> Path:
        """The folder of a local index (a `ValueError` for an engine's)."""
        if self.scheme is not None:
            raise ValueError(f"{self.text} is an engine's address, not a folder")
        return Path(self.text)

    def child(self, name: str) -> IndexLocation:
        """The location of the index `name` under this one: a subfolder, or for an engine the same
        address with `/name` before its options (`qdrant://HOST:PORT?shards=2` → `…/name?shards=2`)."""
        if self.scheme is None:
            return IndexLocation(str(Path(self.text) / name), None)
        where, _, options = self.text.partition("://")[2].partition("?")
        text = f"{self.scheme}://{where.rstrip('/')}/{name}" + (f"?{options}" if options else "")
        return IndexLocation(text, self.scheme)

    def __str__(self) -> str:
        return self.text
