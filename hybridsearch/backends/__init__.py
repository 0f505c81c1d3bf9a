"""Backends, selected by the index location: a folder is the local backend; an engine registers a
scheme (`register_backend("qdrant", …)` for `qdrant://HOST:PORT/COLLECTION`)."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..config import IndexConfig
from ..location import IndexLocation, Location
from .base import Backend, Batch, Side, Writer
from .local import LocalBackend, LocalWriter, local_config
from .local import check_files as local_check_files
from .qdrant import SCHEMES as QDRANT_SCHEMES
from .qdrant import QdrantBackend, QdrantWriter, qdrant_config

__all__ = [
    "Backend",
    "Batch",
    "Location",
    "Side",
    "Writer",
    "check_files",
    "open_backend",
    "open_writer",
    "register_backend",
    "stored_config",
]

Opener = Callable[[str], Backend]
WriterOpener = Callable[[str, bool], Writer]
ConfigReader = Callable[[str], "IndexConfig | None"]

_SCHEMES: dict[str, tuple[Opener, WriterOpener, ConfigReader]] = {}


def register_backend(scheme: str, opener: Opener, writer: WriterOpener, config: ConfigReader) -> None:
    """Serve locations `scheme://…` with `opener(location)` (reading), `writer(location, rebuild)` and
    `config(location)` (the stored settings, or None when there is no index there yet)."""
    _SCHEMES[scheme] = (opener, writer, config)


def _scheme(location: Location) -> tuple[Opener, WriterOpener, ConfigReader] | None:
    scheme = IndexLocation.parse(location).scheme
    return _SCHEMES.get(scheme) if scheme else None


def open_backend(location: Location) -> Backend:
    """The index at `location`, opened for reading."""
    engine = _scheme(location)
    return engine[0](os.fspath(location)) if engine else LocalBackend.open(IndexLocation.parse(location).folder)


def open_writer(location: Location, rebuild: bool = False) -> Writer:
    """A writer for the index at `location` (use it as a context manager: it holds the writer lock)."""
    engine = _scheme(location)
    return (
        engine[1](os.fspath(location), rebuild)
        if engine
        else LocalWriter(IndexLocation.parse(location).folder, rebuild)
    )


def check_files(location: Location) -> list[str]:
    """What a file-level check finds wrong with an index that may be too damaged to open (local
    indexes; an engine checks itself when opened)."""
    return [] if _scheme(location) else local_check_files(IndexLocation.parse(location).folder)


def stored_config(location: Location) -> IndexConfig | None:
    """The settings of the index at `location`, or None when there is none yet."""
    engine = _scheme(location)
    return engine[2](os.fspath(location)) if engine else local_config(IndexLocation.parse(location).folder)


for _scheme_name in QDRANT_SCHEMES:
    register_backend(_scheme_name, QdrantBackend.open, QdrantWriter, qdrant_config)
