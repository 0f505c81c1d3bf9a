"""Where an index in Qdrant lives: `qdrant://HOST:PORT/NAME`, `qdrants://…` or `qdrant+local://PATH/NAME`."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError

__all__ = ["SCHEMES", "Target", "parse_location"]

SCHEMES = ("qdrant", "qdrants", "qdrant+local")


@dataclass(frozen=True)
class Target:
    """Where an index lives: a server URL or a local-mode folder, and the collection (alias) name."""

    location: str
    collection: str
    url: str = ""
    path: str = ""
    shards: int | None = None  # for a new collection on a server: shard_number …
    replicas: int | None = None  # … and replication_factor (None: the server's defaults)


def parse_location(location: str) -> Target:
    """`qdrant://HOST:PORT/NAME`, `qdrants://…` or `qdrant+local://PATH/NAME` as a `Target`; a server
    location may end in `?shards=N&replicas=M` (used when the collection is created)."""
    scheme, _, rest = location.partition("://")
    rest, _, query = rest.partition("?")
    where, _, collection = rest.rstrip("/").rpartition("/")
    if "--" in collection:
        raise InputError(
            f"{location}: an index name cannot hold '--' (hybridsearch names its own collections NAME--…)."
        )
    if scheme not in SCHEMES or not where or not collection:
        raise InputError(
            f"Not a Qdrant index location: {location!r}; use qdrant://HOST:PORT/COLLECTION, "
            "qdrants://HOST:PORT/COLLECTION or qdrant+local://PATH/COLLECTION."
        )
    if scheme == "qdrant+local":
        if query:
            raise InputError(f"{location}: local mode has no shards or replicas; drop {'?' + query!r}.")
        return Target(location, collection, path=where)
    options = dict(part.partition("=")[::2] for part in query.split("&") if part)
    unknown = set(options) - {"shards", "replicas"}
    if unknown or not all(value.isdigit() and int(value) > 0 for value in options.values()):
        raise InputError(f"{location}: the options are shards=N and replicas=N (whole numbers from 1).")
    numbers = {key: int(value) for key, value in options.items()}
    url = ("https://" if scheme == "qdrants" else "http://") + where
    return Target(location, collection, url=url, shards=numbers.get("shards"), replicas=numbers.get("replicas"))
