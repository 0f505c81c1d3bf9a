"""CSV and JSONL: each row / line is a document. `LoaderConfig` names the fields that hold the text,
the title and the record id; the record's other fields (scalars, lists of scalars; nested JSON
objects flattened to `parent.child`) become its metadata.

A file without the configured fields is read by the names spreadsheets give them (`TEXT_NAMES`,
`TITLE_NAMES`, `ID_NAMES`: 回答, 本文, 質問, 件名, 番号…), and when no column is named for text, by
content: its longest text column, with a warning that names the column taken and those found.
A field named on the command line (`--text-field 本文`) is never guessed past.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..access import READERS_FIELD
from ..config import LoaderConfig
from ..schema import Document
from ..textnorm import folded_name
from .base import FileInfo, LoadContext, SkipFile, flat_metadata, warn_dropped
from .text import decoded

__all__ = ["ID_NAMES", "TEXT_NAMES", "TITLE_NAMES", "load_csv", "load_jsonl"]

Row = tuple[int, dict[str, Any] | None]  # (line number, the record or None when unusable)
Records = Iterator[Row]

#: Names of a record's text field when the configured one is absent, best first (an FAQ's answer is
#: its text, its question the title).
TEXT_NAMES = ("本文", "内容", "回答", "答え", "説明", "詳細", "概要", "備考", "body", "content", "answer",
              "description", "text")  # fmt: skip
#: Names of its title field.
TITLE_NAMES = ("タイトル", "題名", "表題", "件名", "見出し", "質問", "問い", "名称", "項目", "title", "question",
               "subject", "name")  # fmt: skip
#: Names of its record id field.
ID_NAMES = ("id", "_id", "番号", "no", "no.", "管理番号", "通し番号")
#: A column read as text by its content must average at least this many characters (not a date or a code).
MIN_GUESSED_CHARS = 10


_DEFAULTS = LoaderConfig()


@dataclass(frozen=True)
class _Fields:
    """The fields one file's records are read with."""

    text: str
    title: str
    id: str


def load_csv(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    text, encoding = decoded(data, file)
    return _documents(list(_csv_records(text)), file, encoding, context)


def load_jsonl(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    text, encoding = decoded(data, file)
    return _documents(list(_jsonl_records(text)), file, encoding, context)


def _csv_records(text: str) -> Records:
    reader = csv.DictReader(io.StringIO(text))
    try:
        for row in reader:
            yield (
                reader.line_num,
                {
                    key: value
                    for key, value in row.items()
                    if isinstance(key, str) and (value or folded_name(key) == READERS_FIELD)  # no reader: no one
                },
            )
    except csv.Error as error:
        raise SkipFile(f"malformed CSV after line {reader.line_num} ({error})") from None


def _jsonl_records(text: str) -> Records:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, too deeply nested, an integer too long to convert
            record = None
        yield number, record if isinstance(record, dict) else None


def _fields(rows: list[Row], columns: list[str], file: FileInfo, context: LoadContext) -> _Fields:
    """The text, title and id fields of a file's records: the configured ones where the file has them
    (or where the user named them), else the first of the known names it has, else for the text its
    longest column (with a warning)."""
    config: LoaderConfig = context.config
    by_name = {folded_name(name): name for name in reversed(columns)}  # the first spelling of each

    def chosen(configured: str, default: str, known: Sequence[str], taken: Sequence[str] = ()) -> str:
        if configured in columns or configured != default:
            return configured
        named = (by_name.get(folded_name(name)) for name in known)
        return next((name for name in named if name is not None and name not in taken), configured)

    text = chosen(config.text_field, _DEFAULTS.text_field, TEXT_NAMES)
    title = chosen(config.title_field, _DEFAULTS.title_field, TITLE_NAMES, [text])
    if text not in columns and config.text_field == _DEFAULTS.text_field:
        longest = _longest(rows, [name for name in columns if name != title])
        if longest is not None:
            text = longest
            context.warn(f"{file.path}: no text column by name; reading {text!r}, its longest "
                         f"(columns: {', '.join(columns)}; name it with --text-field)")  # fmt: skip
    record_id = chosen(config.id_field, _DEFAULTS.id_field, ID_NAMES, [text, title])
    return _Fields(text, title, record_id)


def _longest(rows: list[Row], names: list[str]) -> str | None:
    """The field whose string values are longest on average, if that is `MIN_GUESSED_CHARS` or more."""
    means = {}
    for name in names:
        lengths = [len(value) for _, record in rows if record and isinstance(value := record.get(name), str)]
        if lengths:
            means[name] = sum(lengths) / len(lengths)
    best = max(means, key=means.__getitem__, default=None)
    return best if best is not None and means[best] >= MIN_GUESSED_CHARS else None


def _documents(rows: list[Row], file: FileInfo, encoding: str, context: LoadContext) -> list[Document]:
    columns = list(dict.fromkeys(name for _, record in rows for name in record or ()))
    use = _fields(rows, columns, file, context)
    bad_lines: list[int] = []
    seen_ids: set[str] = set()
    documents = []
    dropped: list[str] = []
    for line, record in rows:
        text = record.get(use.text) if record is not None else None
        if record is None or not isinstance(text, str) or not text.strip():
            bad_lines.append(line)
            continue
        id_field = use.id if use.id in record else "_id"
        raw_id = record.get(id_field)
        record_id = str(raw_id) if isinstance(raw_id, str | int | float) and raw_id != "" else f"line-{line}"
        if record_id in seen_ids:
            record_id = f"{record_id}@line-{line}"
        seen_ids.add(record_id)
        title = record.get(use.title)
        others = {key: value for key, value in record.items() if key not in (use.text, use.title, id_field)}
        metadata, left_out = flat_metadata(others)
        dropped += left_out
        documents.append(
            file.document(
                text.replace("\r\n", "\n"),
                title=str(title) if isinstance(title, str | int | float) and title != "" else "",
                record=record_id,
                encoding=encoding,
                metadata=metadata,
            )
        )
    warn_dropped(context.warn, file.path, dropped)
    shown = ", ".join(map(str, bad_lines[:5])) + (" …" if len(bad_lines) > 5 else "")
    problem = f"no {use.text!r} field or not valid {file.suffix[1:].upper()} (line {shown})"
    if not documents:
        found = f" (columns: {', '.join(columns)}; name the text column with --text-field)" if columns else ""
        raise SkipFile(f"no record with a non-empty {use.text!r} field{found}" + (f"; {problem}" if bad_lines else ""))
    if bad_lines:
        context.skipped_records += len(bad_lines)
        context.warn(f"skipped {len(bad_lines)} record(s) of {file.path}: {problem}")
    return documents
