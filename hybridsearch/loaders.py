"""Folder walk → Document: txt, md, html, csv, jsonl in any common Japanese encoding.

Files that cannot be used (binary, undecodable, empty, malformed) are skipped with a one-line
warning naming the file and the reason, and counted in `LoadReport`; nothing is skipped silently.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

from .config import LoaderConfig
from .errors import InputError
from .schema import Document

__all__ = ["LoadReport", "PathArg", "SUFFIXES", "Warn", "decode_bytes", "html_to_text", "iter_documents"]

SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".html", ".htm", ".csv", ".jsonl"})

# Tried in this order with strict decoding; charset-normalizer settles ties between the legacy ones.
_JAPANESE_LEGACY = ("cp932", "euc_jp")
_ISO2022_MARKERS = (b"\x1b$B", b"\x1b$@", b"\x1b(J", b"\x1b(B", b"\x1b$(Q", b"\x1b$(D")
_CONTROL_OK = frozenset("\t\n\r\f\v")

Warn = Callable[[str], None]
PathArg = str | os.PathLike[str]
Unchanged = Callable[[str, str], bool]


@dataclass
class LoadReport:
    """What a load saw: files read, files and records skipped (with reasons), files unchanged."""

    files: int = 0
    documents: int = 0
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    skipped_records: int = 0
    unchanged: list[str] = field(default_factory=list)


class _Skip(Exception):
    """A file cannot be used; the message is the reason shown to the user."""


def iter_documents(
    paths: Iterable[PathArg],
    config: LoaderConfig | None = None,
    report: LoadReport | None = None,
    warn: Warn | None = None,
    unchanged: Unchanged | None = None,
) -> Iterator[Document]:
    """Yield the documents under each path (a folder, walked recursively, or a single file).

    `unchanged(abs_path, sha256)` may say that a file is already indexed as it is: such a file is
    not parsed, and its absolute path is listed in `report.unchanged` instead.
    """
    config = config or LoaderConfig()
    report = report if report is not None else LoadReport()
    warn = warn or (lambda message: None)
    for file in _walk(paths):
        report.files += 1
        try:
            docs = _read_file(file, config, report, warn, unchanged)
        except _Skip as reason:
            report.skipped_files.append((str(file), str(reason)))
            warn(f"skipped {file}: {reason}")
            continue
        report.documents += len(docs)
        yield from docs


def _walk(paths: Iterable[PathArg]) -> Iterator[Path]:
    for given in paths:
        root = Path(given)
        if root.is_file():
            yield root
            continue
        if not root.is_dir():
            raise InputError(f"No such file or folder: {root}")
        for folder, dirnames, filenames in os.walk(root):  # symlinked folders are not followed (no loops)
            dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
            for name in sorted(filenames):
                if not name.startswith("."):
                    yield Path(folder) / name


def _read_file(
    file: Path, config: LoaderConfig, report: LoadReport, warn: Warn, unchanged: Unchanged | None
) -> list[Document]:
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise _Skip(f"unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(SUFFIXES))}")
    try:
        status = file.stat()
        if not stat.S_ISREG(status.st_mode):
            raise _Skip("not a regular file (a FIFO, socket or device)")
        if status.st_size > config.max_file_mb * 2**20:
            size = f"{status.st_size / 2**20:.0f} MB > {config.max_file_mb} MB"
            raise _Skip(f"too large ({size}); raise --max-file-mb to index it")
        data = file.read_bytes()
    except OSError as error:
        raise _Skip(f"cannot read ({error.strerror or error})") from None
    abs_path, digest = os.path.abspath(file), hashlib.sha256(data).hexdigest()
    if unchanged is not None and unchanged(abs_path, digest):
        report.unchanged.append(abs_path)
        return []
    text, encoding = decode_bytes(data)
    if "replaced" in encoding:
        warn(f"{file}: read as {encoding}")
    base = Document(
        path=str(file),
        abs_path=abs_path,
        text="",
        title="",
        encoding=encoding,
        sha256=digest,
        mtime=status.st_mtime,
        size=len(data),
    )
    if suffix in (".csv", ".jsonl"):
        records = _csv_records(text) if suffix == ".csv" else _jsonl_records(text)
        return list(_record_documents(records, base, config, file, warn, report))
    if suffix in (".html", ".htm"):
        title, text = html_to_text(text)
        base = _with(base, title=title)
    elif suffix in (".md", ".markdown"):
        base = _with(base, title=_markdown_title(text))
    if not text.strip():
        raise _Skip("no text")
    return [_with(base, text=text)]


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a file's bytes: BOMs, then UTF-8, ISO-2022-JP, CP932/EUC-JP, then charset-normalizer.

    Raises `_Skip` for empty, binary or undecodable data.
    """
    if not data.strip():
        raise _Skip("empty file")
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return _checked(_strict(data, encoding), encoding)
    if b"\x00" in data:
        raise _Skip("binary file (contains NUL bytes)")
    # ISO-2022-JP is 7-bit, hence also valid UTF-8: its escape sequences must be looked for first
    for encoding in (*(("iso2022_jp_ext",) if any(m in data for m in _ISO2022_MARKERS) else ()), "utf-8"):
        text = _strict(data, encoding)
        if text is not None:
            return _checked(text, encoding)
    fits = {encoding: text for encoding in _JAPANESE_LEGACY if (text := _strict(data, encoding)) is not None}
    if len(fits) == 1:
        encoding, text = next(iter(fits.items()))
        return _checked(text, encoding)
    return _detect(data, list(fits) or None)


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(data: bytes, candidates: list[str] | None) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=candidates).best()
    if best is not None:
        return _checked(str(best), best.encoding)
    return _checked(*_mostly_japanese(data))


def _mostly_japanese(data: bytes) -> tuple[str, str]:
    """UTF-8, CP932 or EUC-JP text with a few corrupt bytes (at most 1 %), those bytes replaced by U+FFFD."""
    best: tuple[int, str, str] | None = None
    for encoding in ("utf-8", *_JAPANESE_LEGACY):
        text = data.decode(encoding, errors="replace")
        bad = text.count("\ufffd") - (data.count("\ufffd".encode()) if encoding == "utf-8" else 0)
        if best is None or bad < best[0]:
            best = (bad, text, encoding)
    bad, text, encoding = best  # type: ignore[misc]
    if bad > max(1, len(text) // 100):
        raise _Skip("undecodable (not UTF-8, UTF-16, Shift_JIS/CP932, EUC-JP or ISO-2022-JP)")
    return text, f"{encoding}, {bad} corrupt byte sequence(s) replaced"


def _checked(text: str | None, encoding: str) -> tuple[str, str]:
    if text is None:
        raise _Skip(f"undecodable despite its {encoding} byte-order mark")
    sample = text[:20000]
    controls = sum(1 for ch in sample if ch < " " and ch not in _CONTROL_OK)
    if controls > max(8, len(sample) // 100):
        raise _Skip(f"binary file ({controls} control characters in the first {len(sample)})")
    if not text.strip():
        raise _Skip("no text")
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _with(doc: Document, **changes: object) -> Document:
    return replace(doc, **changes)  # type: ignore[arg-type]


def _markdown_title(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    _BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "tr",
            "table",
            "section",
            "article",
            "header",
            "footer",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "blockquote",
            "pre",
            "dd",
            "dt",
            "hr",
            "main",
            "nav",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, visible text) of an HTML page: scripts and styles dropped, blocks on their own lines."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = "\n".join(line for line in lines if line)
    return " ".join("".join(parser.title_parts).split()), text


def _csv_records(text: str) -> Iterator[tuple[int, dict[str, object] | None]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        for row in reader:
            yield reader.line_num, dict(row)
    except csv.Error as error:
        raise _Skip(f"malformed CSV after line {reader.line_num} ({error})") from None


def _jsonl_records(text: str) -> Iterator[tuple[int, dict[str, object] | None]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        yield number, record if isinstance(record, dict) else None


def _record_documents(
    records: Iterator[tuple[int, dict[str, object] | None]],
    base: Document,
    config: LoaderConfig,
    file: Path,
    warn: Warn,
    report: LoadReport,
) -> Iterator[Document]:
    bad_lines: list[int] = []
    seen_ids: set[str] = set()
    count = 0
    for line, record in records:
        text = record.get(config.text_field) if record is not None else None
        if not isinstance(text, str) or not text.strip():
            bad_lines.append(line)
            continue
        raw_id = record.get(config.id_field, record.get("_id")) if record is not None else None
        record_id = str(raw_id) if raw_id not in (None, "") else f"line-{line}"
        if record_id in seen_ids:
            record_id = f"{record_id}@line-{line}"
        seen_ids.add(record_id)
        title = record.get(config.title_field) if record is not None else None
        count += 1
        yield _with(
            base,
            text=text.replace("\r\n", "\n"),
            title=str(title) if title not in (None, "") else "",
            record=record_id,
        )
    shown = ", ".join(map(str, bad_lines[:5])) + (" …" if len(bad_lines) > 5 else "")
    problem = f"no {config.text_field!r} field or not valid {file.suffix[1:].upper()} (line {shown})"
    if not count:
        raise _Skip(f"no record with a non-empty {config.text_field!r} field" + (f"; {problem}" if bad_lines else ""))
    if bad_lines:
        report.skipped_records += len(bad_lines)
        warn(f"skipped {len(bad_lines)} record(s) of {file}: {problem}")
