"""Office Open XML packages (.docx, .xlsx, .pptx): the checks made before a reader inflates anything,
and the core properties every such file carries.

A package is a zip file. Its directory declares each member's size; Python's zipfile never inflates
a member past its declared size, so refusing packages whose declared sizes are out of proportion
(a zip bomb) or too large bounds the memory a reader can take. The parts a reader parses whole into
a tree (styles, slides, the workbook) may inflate to `TREE_PART_MB` each; the large parts (a Word
body, worksheets, shared strings) are read as streams, and the text taken from a file stops at the
file size limit (`Lines`).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

from ..locations import Location, Region
from .base import FileInfo, LoadContext, SkipFile

__all__ = [
    "TREE_PART_MB",
    "Lines",
    "checked_package",
    "core_metadata",
    "core_properties",
    "forget",
    "parsed_part",
    "reading",
    "streamed_part",
]

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a Compound File: a legacy .doc/.xls/.ppt, or an encrypted package
_BOMB_RATIO = 200  # a member that inflates to more than this many times its compressed size …
_BOMB_MIN = 2**20  # … and to more than 1 MB is a zip bomb, not an Office part
_INFLATED_PER_MB = 10  # a package may inflate to at most this many times the file size limit
#: the most an XML part that a reader parses whole into a tree may inflate to, in MB
TREE_PART_MB = 20
#: the parts read as streams, not parsed whole (any size the package limit allows)
_STREAMED = re.compile(r"word/document\.xml|xl/worksheets/[^/]+\.xml|xl/sharedStrings\.xml")

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
    for member in members:
        whole = member.filename.endswith((".xml", ".rels")) and not _STREAMED.fullmatch(member.filename)
        if whole and member.file_size > TREE_PART_MB * 2**20:
            raise SkipFile(
                f"{member.filename} would inflate to {member.file_size / 2**20:,.0f} MB; a part read whole "
                f"may have at most {TREE_PART_MB} MB; not inflated"
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


def parsed_part(package: zipfile.ZipFile, name: str, context: LoadContext) -> Any:
    """The part `name` parsed into an lxml tree (entities not resolved, nothing fetched), or None
    when the package has no such part. `checked_package` has bounded its size."""
    from lxml import etree

    try:
        data = package.read(name)
    except KeyError:
        return None
    context.check_time()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.fromstring(data, parser)


def streamed_part(source: IO[bytes], tags: str | tuple[str, ...]) -> Iterator[Any]:
    """Each element of a part read as a stream whose tag is one of `tags`, as it ends (entities not
    resolved, nothing fetched); `forget` one once it is read, so the part never fills memory."""
    from lxml import etree

    events = etree.iterparse(source, events=("end",), tag=tags, resolve_entities=False, no_network=True)
    return (element for _, element in events)


def forget(element: Any) -> None:
    """Drop a streamed element that was read, and what precedes it in its parent."""
    parent = element.getparent()
    element.clear()
    while element.getprevious() is not None:
        del parent[0]


_CORE = {
    "title": "{http://purl.org/dc/elements/1.1/}title",
    "creator": "{http://purl.org/dc/elements/1.1/}creator",
    "created": "{http://purl.org/dc/terms/}created",
    "modified": "{http://purl.org/dc/terms/}modified",
}


def core_properties(package: zipfile.ZipFile, context: LoadContext) -> tuple[str, dict[str, str]]:
    """(title, metadata) from the package's core properties (docProps/core.xml): `author`, `created`
    and `modified` as `core_metadata` gives them; ("", {}) without that part."""
    root = parsed_part(package, "docProps/core.xml", context)
    if root is None:
        return "", {}
    values = {key: " ".join("".join(found.itertext()).split()) for key, tag in _CORE.items()
              if (found := root.find(tag)) is not None}  # fmt: skip
    fields = {"author": values["creator"]} if values.get("creator") else {}
    for key in ("created", "modified"):
        try:
            moment = datetime.fromisoformat(values.get(key, "").replace("Z", "+00:00"))
        except ValueError:
            continue
        fields[key] = moment.replace(tzinfo=None).isoformat(timespec="seconds")
    return values.get("title", ""), fields


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
    """A document's text built line by line, with the regions that say where its parts lie; it
    holds at most `limit_mb` MB of text (UTF-8), and is `full` once a line would pass that."""

    def __init__(self, limit_mb: int) -> None:
        self._lines: list[str] = []
        self._length = 0
        self._bytes = 0
        self._limit_mb = limit_mb
        self.full = False
        self.regions: list[Region] = []

    def add(self, line: str) -> int:
        """Append a line (blank lines are left out, and every line once full); its offset in the text."""
        offset = self._length + (1 if self._lines else 0)
        if line.strip() and not self.full:
            self._bytes += len(line.encode("utf-8", "surrogatepass")) + 1
            if self._bytes > self._limit_mb * 2**20:
                self.full = True
                return offset
            self._lines.append(line)
            self._length = offset + len(line)
        return offset

    @property
    def full_warning(self) -> str:
        """What a loader warns once `full`: the text is cut at the limit."""
        return (
            f"read its first {self._limit_mb} MB of text (the file size limit, --max-file-mb); the rest is not indexed"
        )

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
