"""CSV and JSONL: each row / line is a document. `LoaderConfig` names the fields that hold the text,
the title and the record id; the record's other fields (scalars, lists of scalars; nested JSON
objects flattened to `parent.child`) become its metadata."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from ..config import LoaderConfig
from ..schema import Document
from .base import FileInfo, LoadContext, SkipFile, flat_metadata, warn_dropped
from .text import decoded

__all__ = ["load_csv", "load_jsonl"]

Records = Iterator[tuple[int, dict[str, Any] | None]]  # (line number, the record or None when unusable)


def load_csv(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    text, encoding = decoded(data, file)
    return _documents(_csv_records(text), file, encoding, context)


def load_jsonl(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    text, encoding = decoded(data, file)
    return _documents(_jsonl_records(text), file, encoding, context)


def _csv_records(text: str) -> Records:
    reader = csv.DictReader(io.StringIO(text))
    try:
        for row in reader:
            yield reader.line_num, {key: value for key, value in row.items() if isinstance(key, str) and value}
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


def _documents(records: Records, file: FileInfo, encoding: str, context: LoadContext) -> list[Document]:
    config: LoaderConfig = context.config
    bad_lines: list[int] = []
    seen_ids: set[str] = set()
    documents = []
    dropped: list[str] = []
    for line, record in records:
        text = record.get(config.text_field) if record is not None else None
        if record is None or not isinstance(text, str) or not text.strip():
            bad_lines.append(line)
            continue
        id_field = config.id_field if config.id_field in record else "_id"
        raw_id = record.get(id_field)
        record_id = str(raw_id) if isinstance(raw_id, str | int | float) and raw_id != "" else f"line-{line}"
        if record_id in seen_ids:
            record_id = f"{record_id}@line-{line}"
        seen_ids.add(record_id)
        title = record.get(config.title_field)
        fields, left_out = flat_metadata(
            {k: v for k, v in record.items() if k not in (config.text_field, config.title_field, id_field)}
        )
        dropped += left_out
        documents.append(
            file.document(
                text.replace("\r\n", "\n"),
                title=str(title) if isinstance(title, str | int | float) and title != "" else "",
                record=record_id,
                encoding=encoding,
                metadata=fields,
            )
        )
    warn_dropped(context.warn, file.path, dropped)
    shown = ", ".join(map(str, bad_lines[:5])) + (" …" if len(bad_lines) > 5 else "")
    problem = f"no {config.text_field!r} field or not valid {file.suffix[1:].upper()} (line {shown})"
    if not documents:
        raise SkipFile(
            f"no record with a non-empty {config.text_field!r} field" + (f"; {problem}" if bad_lines else "")
        )
    if bad_lines:
        context.skipped_records += len(bad_lines)
        context.warn(f"skipped {len(bad_lines)} record(s) of {file.path}: {problem}")
    return documents
