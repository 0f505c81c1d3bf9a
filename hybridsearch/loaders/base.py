"""The loader door: a loader gets a file's bytes and returns its Documents; loaders are registered by suffix.

    from hybridsearch.loaders import register_loader

    def load_rst(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
        text, encoding = decode_bytes(data)
        return [file.document(text, encoding=encoding)]

    register_loader(load_rst, ".rst")

A file a loader cannot use raises `SkipFile` with the reason shown to the user (`Unsupported` when
it cannot read such files at all here: counted by suffix, not as skipped); a loader may also
warn (`context.warn`) and count records it skipped (`context.skipped_records`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Protocol

from ..access import READERS_FIELD
from ..config import LoaderConfig
from ..locations import Region
from ..schema import Document
from ..textnorm import folded_name

__all__ = [
    "BUILTIN_FIELDS",
    "FileInfo",
    "LoadContext",
    "Loader",
    "SkipFile",
    "Unsupported",
    "Warn",
    "clean_text",
    "flat_metadata",
    "loader_for",
    "metadata_value",
    "register_loader",
    "supported_suffixes",
    "warn_dropped",
]

Warn = Callable[[str], None]

#: Fields every document has; a source field of the same name is stored as `name_` (with a warning).
BUILTIN_FIELDS = ("path", "type", "mtime", "size", "title")


class SkipFile(Exception):
    """A file cannot be used; the message is the reason shown to the user."""


class Unsupported(SkipFile):
    """A file of a type nothing here reads (a loader raises it when what it needs, such as
    LibreOffice, is not installed): counted with the unsupported types, not as a skipped file."""


@dataclass
class LoadContext:
    """What a loader may use besides the bytes: the loader settings, a warning channel, a record
    count, and the time reading the file started (a loader calls `check_time` as it goes)."""

    config: LoaderConfig
    warn: Warn
    skipped_records: int = 0
    started: float = field(default_factory=time.monotonic)

    def check_time(self) -> None:
        """Raise `SkipFile` once reading this file has taken longer than `config.max_file_seconds`."""
        if time.monotonic() - self.started > self.config.max_file_seconds:
            raise SkipFile(
                f"took over {self.config.max_file_seconds:g} s to read (the limit per file, --max-file-seconds); "
                "not indexed"
            )


@dataclass(frozen=True)
class FileInfo:
    """A file being loaded: where it is and what the folder walk learnt about it."""

    path: str
    abs_path: str
    sha256: str
    mtime: float
    size: int
    suffix: str
    warn: Warn = field(default=lambda message: None, compare=False, repr=False)

    def document(
        self,
        text: str,
        *,
        title: str = "",
        record: str = "",
        encoding: str = "utf-8",
        metadata: Mapping[str, Any] = {},
        regions: Sequence[Region] = (),
    ) -> Document:
        """A Document of this file with the built-in fields added to the source's own `metadata`
        (`regions`: where parts of `text` lie in the file, see `locations.py`)."""
        own = {}
        for key, value in metadata.items():
            if key in BUILTIN_FIELDS and key != "title":
                self.warn(f"{self.path}: its field {key!r} is stored as {key + '_'!r} ({key} is a built-in field)")
                key += "_"
            own[key] = value
        title = clean_text(title)
        builtin = {
            "path": self.path,
            "type": self.suffix.lstrip("."),
            "mtime": datetime.fromtimestamp(self.mtime, timezone.utc).isoformat(timespec="seconds")[:-6] + "Z",
            "size": self.size,
            "title": title,
        }
        return Document(
            path=self.path,
            abs_path=self.abs_path,
            text=clean_text(text),
            title=title,
            record=clean_text(record),
            encoding=encoding,
            sha256=self.sha256,
            mtime=self.mtime,
            size=self.size,
            metadata=own | builtin,
            regions=tuple(regions),
        )


class Loader(Protocol):
    """Turns a file's bytes into Documents (raise `SkipFile` when it cannot)."""

    def __call__(self, data: bytes, file: FileInfo, context: LoadContext) -> list[Document]: ...


_LOADERS: dict[str, Loader] = {}


def register_loader(loader: Loader, *suffixes: str) -> None:
    """Use `loader` for files ending in `suffixes` (".pdf"; case-insensitive); a later registration wins."""
    for suffix in suffixes:
        _LOADERS[suffix.lower()] = loader


def loader_for(suffix: str) -> Loader | None:
    return _LOADERS.get(suffix.lower())


def supported_suffixes() -> list[str]:
    return sorted(_LOADERS)


def clean_text(text: str) -> str:
    """`text` with NUL characters and lone surrogates (from JSON escapes such as \\u0000, \\ud800)
    replaced by U+FFFD: neither can be stored as text (SQLite's string functions stop at a NUL)."""
    return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

_MAX_VALUES = 1000  # a YAML alias bomb expands to exponentially many nodes: stop early


def metadata_value(value: Any, budget: list[int] | None = None) -> Any:
    """A JSON-ready metadata value (str, int, float, bool, or a list of those), or None when `value`
    has no such form (a map, a list holding anything else, NaN): dates become ISO text, text is cleaned."""
    budget = budget if budget is not None else [_MAX_VALUES]
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        items = [metadata_value(item, budget) for item in value]
        return None if any(item is None or isinstance(item, list) for item in items) else items
    return None


def flat_metadata(mapping: Mapping[Any, Any]) -> tuple[dict[str, Any], list[str]]:
    """The usable fields of a mapping (front matter, a JSON record), nested maps flattened to
    `parent.child` and values as `metadata_value` makes them, and the names of the fields left out.
    A `readers` field (by its folded name) is kept as written, whatever it holds (`access.py`)."""
    found: dict[str, Any] = {}
    dropped: list[str] = []
    budget = [_MAX_VALUES]

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not prefix and folded_name(str(key)) == READERS_FIELD:  # ` Readers`, ｒｅａｄｅｒｓ too
                    found[READERS_FIELD] = _as_written(item)
                    continue
                walk(f"{prefix}.{key}" if prefix else str(key), item)
            return
        usable = metadata_value(value, budget)
        if usable is not None:
            found[clean_text(prefix)] = usable
        elif value is not None:
            dropped.append(clean_text(prefix))

    walk("", mapping)
    return found, dropped


def _as_written(readers: Any) -> str | list[str]:
    """A `readers` value as text for `access.parse_readers`, whatever it is: a null, a map, a number or
    a nested list becomes an entry that is none, so it closes the document instead of vanishing."""
    if isinstance(readers, str):
        return readers
    if isinstance(readers, list):
        return [item if isinstance(item, str) else repr(item) for item in readers]
    return [repr(readers)]


def warn_dropped(warn: Warn, where: str, dropped: list[str]) -> None:
    """One warning naming the fields `flat_metadata` left out (if any)."""
    if dropped:
        shown = ", ".join(dict.fromkeys(dropped[:5])) + (" …" if len(dropped) > 5 else "")
        warn(f"{where}: left out {len(dropped)} field(s) that are not text, numbers, dates or lists of them ({shown})")
