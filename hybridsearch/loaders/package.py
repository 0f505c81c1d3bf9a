"""Office Open XML packages (.docx, .xlsx, .pptx): the checks made before a reader inflates anything,
and the core properties every such file carries.

A package is a zip file. Its directory declares each member's size; Python's zipfile never inflates
a member past its declared size, so refusing packages whose declared sizes are out of proportion
(a zip bomb) or too large bounds the memory a reader can take.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..locations import Location, Region
from .base import FileInfo, LoadContext, SkipFile

__all__ = ["Lines", "checked_package", "core_metadata", "reading"]

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a Compound File: a legacy .doc/.xls/.ppt, or an encrypted package
_BOMB_RATIO = 200  # a member that inflates to more than this many times its compressed size …
_BOMB_MIN = 2**20  # … and to more than 1 MB is a zip bomb, not an Office part
_INFLATED_PER_MB = 10  # a package may inflate to at most this many times the file size limit

#: the part each kind of package must hold
_MAIN_PART = {
    ".docx": "word/document.xml",
    ".xlsx": "xl/workbook.xml",
    ".xlsm": "xl/workbook.xml",
    ".pptx": "ppt/presentation.xml",
}


def checked_package(data: bytes, file: FileInfo, context: LoadContext, kind: str) -> io.BytesIO:
    """`data` as a stream for a reader, once it is known to be an intact `kind` package (".docx",
    ".xlsx", ".xlsm", ".pptx") whose declared sizes are safe to inflate; otherwise `SkipFile` says why."""
    if data.startswith(_OLE):
        raise SkipFile(
            f"encrypted (password protected) or legacy binary Office file, not a {kind} package; not indexed"
        )
    if not data.startswith(b"PK"):
        raise SkipFile(f"not a {kind} file (not a zip package)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            members = package.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise SkipFile(f"damaged or truncated {kind} file ({error})") from None
    for member in members:
        if member.file_size > _BOMB_MIN and member.file_size > _BOMB_RATIO * max(member.compress_size, 1):
            raise SkipFile(
                f"a zip bomb? {member.filename} would inflate {member.compress_size:,} bytes to "
                f"{member.file_size:,}; not inflated"
            )
    inflated = sum(member.file_size for member in members)
    limit = _INFLATED_PER_MB * context.config.max_file_mb
    if inflated > limit * 2**20:
        raise SkipFile(
            f"would inflate to {inflated / 2**20:,.0f} MB (limit {limit:,} MB, {_INFLATED_PER_MB}× --max-file-mb); "
            "not inflated"
        )
    main = _MAIN_PART[kind]
    if main not in {member.filename for member in members}:
        raise SkipFile(f"not a {kind} file (a zip package without {main})")
    return io.BytesIO(data)


@contextmanager
def reading(kind: str) -> Iterator[None]:
    """Turn what a reader raises on a damaged part (bad XML, a missing relationship) into `SkipFile`:
    the readers parse input from anyone, and their errors are reasons to skip, not crashes."""
    try:
        yield
    except SkipFile:
        raise
    except Exception as error:  # noqa: BLE001 - any error of a third-party parser on hostile input
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise SkipFile(f"damaged {kind} file ({reason})") from None


def core_metadata(properties: Any) -> dict[str, str]:
    """The core properties (docProps/core.xml) as metadata: `author`, `created`, `modified` (ISO)."""
    fields: dict[str, str] = {}
    name = (getattr(properties, "author", None) or getattr(properties, "creator", None) or "").strip()
    if name:
        fields["author"] = name
    for key in ("created", "modified"):
        value = getattr(properties, key, None)
        if isinstance(value, datetime):
            fields[key] = value.replace(tzinfo=None).isoformat(timespec="seconds")
    return fields


class Lines:
    """A document's text built line by line, with the regions that say where its parts lie."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._length = 0
        self.regions: list[Region] = []

    def add(self, line: str) -> int:
        """Append a line (blank lines are left out); its offset in the text."""
        offset = self._length + (1 if self._lines else 0)
        if line.strip():
            self._lines.append(line)
            self._length = offset + len(line)
        return offset

    def mark(self, place: Location, hard: bool = False) -> None:
        """The lines added from now on lie on `place` (it replaces a region before it that got no line,
        keeping its `hard` break)."""
        offset = self._length + (1 if self._lines else 0)
        if self.regions and self.regions[-1].start >= offset:
            hard = self.regions.pop().hard or hard
        self.regions.append(Region(offset, place, hard))

    @property
    def text(self) -> str:
        return "\n".join(self._lines)
