"""docs.sqlite: documents (ids, built-in fields, metadata as JSON, text) and chunks (ids, offsets,
location as JSON).

A chunk's text is not stored twice: it is its document's text from `start` to `end`. A docstore of
format 2 (before locations) is read as it is, its chunks without a location. Rows are
positions: chunk row i is BM25 row i and FAISS vector i. Opened read-only and immutable; one
connection, shared by threads under a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ...schema import Chunk, Document, StoredChunk, StoredDocument

__all__ = ["DocStore", "write_docstore"]

_SCHEMA = """
CREATE TABLE documents (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, path TEXT NOT NULL, abs_path TEXT NOT NULL,
    record TEXT NOT NULL, title TEXT NOT NULL, encoding TEXT NOT NULL, sha256 TEXT NOT NULL,
    mtime REAL NOT NULL, size INTEGER NOT NULL, metadata TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc INTEGER NOT NULL REFERENCES documents(row),
    ord INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, location TEXT NOT NULL
);
CREATE INDEX chunks_doc ON chunks(doc);
"""
_SCHEMA_2 = _SCHEMA.replace(", location TEXT NOT NULL", "")  # format 2: no locations


def _expected_schema(schema: str) -> list[tuple[str, str, str]]:
    """What sqlite_master holds for `schema` (whitespace-normalised), as an in-memory database shows it."""
    with closing(sqlite3.connect(":memory:")) as db:
        db.executescript(schema)
        rows = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    return [(kind, name, " ".join((sql or "").split())) for kind, name, sql in rows]


_EXPECTED_SCHEMA, _EXPECTED_SCHEMA_2 = _expected_schema(_SCHEMA), _expected_schema(_SCHEMA_2)
_DOCUMENT_FIELDS = "d.id, d.path, d.abs_path, d.record, d.title, d.encoding, d.sha256, d.mtime, d.size, d.metadata"
_CHUNKS = "FROM chunks c JOIN documents d ON d.row = c.doc"


def _chunk_fields(location: str) -> str:
    return (
        "c.id, d.id, c.ord, c.start, c.end, substr(d.text, c.start + 1, c.end - c.start), d.path, d.record, "
        f"d.title, d.metadata, {location}"
    )


def _old_has_locations(db: sqlite3.Connection) -> bool:
    """Whether the attached docstore `old` is of format 3 (its chunks have a location column)."""
    return any(row[1] == "location" for row in db.execute("PRAGMA old.table_info(chunks)"))


def write_docstore(
    path: Path,
    kept_from: Path | None,
    kept_documents: Sequence[int],
    kept_chunks: Sequence[int],
    documents: Sequence[Document],
    chunks: Iterable[Chunk],
) -> None:
    """Write a new docs.sqlite: the `kept_documents` and `kept_chunks` rows of the docstore at
    `kept_from` (renumbered in order), then the new `documents` and `chunks`."""
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(_SCHEMA)
        rows = len(kept_documents)
        if kept_from is not None and rows:
            db.execute("ATTACH DATABASE ? AS old", (_read_only_uri(kept_from),))
            db.execute("CREATE TEMP TABLE kept_docs (old INTEGER PRIMARY KEY, new INTEGER)")
            db.executemany("INSERT INTO kept_docs VALUES (?, ?)", ((int(o), n) for n, o in enumerate(kept_documents)))
            db.execute(
                "INSERT INTO documents SELECT k.new, d.id, d.path, d.abs_path, d.record, d.title, d.encoding, "
                "d.sha256, d.mtime, d.size, d.metadata, d.text FROM old.documents d JOIN kept_docs k ON k.old = d.row"
            )
            db.execute("CREATE TEMP TABLE kept_chunks (old INTEGER PRIMARY KEY, new INTEGER)")
            db.executemany("INSERT INTO kept_chunks VALUES (?, ?)", ((int(o), n) for n, o in enumerate(kept_chunks)))
            location = "c.location" if _old_has_locations(db) else "'{}'"
            db.execute(
                f"INSERT INTO chunks SELECT k.new, c.id, kd.new, c.ord, c.start, c.end, {location} FROM old.chunks c "
                "JOIN kept_chunks k ON k.old = c.row JOIN kept_docs kd ON kd.old = c.doc"
            )
        db.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (rows + i, d.id, d.path, d.abs_path, d.record, d.title, d.encoding, d.sha256, d.mtime, d.size,
                 json.dumps(dict(d.metadata), ensure_ascii=False), d.text)
                for i, d in enumerate(documents)
            ),
        )  # fmt: skip
        document_rows = {d.id: rows + i for i, d in enumerate(documents)}
        first = len(kept_chunks)
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (first + i, c.id, document_rows[c.document_id], c.ordinal, c.start, c.end,
                 json.dumps(dict(c.location), ensure_ascii=False))
                for i, c in enumerate(chunks)
            ),
        )  # fmt: skip


class DocStore:
    """Read-only access to a generation's documents and chunks; reads only what is asked for."""

    def __init__(self, path: Path, damaged: Callable[[str], Exception]) -> None:
        """Open `path`; `damaged(reason)` is the error raised when its content turns out unreadable.

        The file's schema must be exactly the one `write_docstore` writes: a file from elsewhere could
        hold views or triggers (a recursive view never finishes), and SQL in it is never run."""
        self._db = sqlite3.connect(_read_only_uri(path), uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._damaged = damaged
        self._db.execute("PRAGMA trusted_schema = OFF")
        schema = self._rows("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        found = [(kind, name, " ".join((sql or "").split())) for kind, name, sql in schema]
        if found not in (_EXPECTED_SCHEMA, _EXPECTED_SCHEMA_2):
            self._db.close()
            raise damaged("docs.sqlite does not have the tables hybridsearch writes")
        self._chunk_fields = _chunk_fields("c.location" if found == _EXPECTED_SCHEMA else "'{}'")

    def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, parameters).fetchall()
            except sqlite3.Error as error:
                raise self._damaged(f"docs.sqlite: {error}") from None

    def chunks(self, rows: Sequence[int]) -> list[StoredChunk]:
        """The chunks of these rows, in the order given (every row must exist)."""
        if not rows:
            return []
        wanted = [int(row) for row in rows]
        found = {}
        for start in range(0, len(wanted), 900):  # SQLite's limit on bound parameters
            part = wanted[start : start + 900]
            marks = ",".join("?" * len(part))
            for row, *fields in self._rows(
                f"SELECT c.row, {self._chunk_fields} {_CHUNKS} WHERE c.row IN ({marks})",
                part,
            ):
                found[row] = self._decoded(_chunk, fields)
        if len(found) < len(set(wanted)):
            raise self._damaged("docs.sqlite lacks chunks that BM25 or FAISS name")
        return [found[row] for row in wanted]

    def _decoded(self, make: Callable[..., Any], *fields: Any) -> Any:
        try:
            return make(*fields)
        except (ValueError, TypeError, RecursionError) as error:  # metadata that is not JSON
            raise self._damaged(f"docs.sqlite: {error}") from None

    def chunk_by_id(self, id: str) -> StoredChunk | None:
        rows = self._rows(
            f"SELECT {self._chunk_fields} FROM chunks c JOIN documents d ON d.row = c.doc WHERE c.id = ?", [id]
        )
        return self._decoded(_chunk, rows[0]) if rows else None

    def document_by_id(self, id: str) -> StoredDocument | None:
        rows = self._rows(f"SELECT d.row, {_DOCUMENT_FIELDS}, d.text FROM documents d WHERE d.id = ?", [id])
        if not rows:
            return None
        row, *fields, text = rows[0]
        chunks = tuple(
            (chunk_id, int(start), int(end))
            for chunk_id, start, end in self._rows(
                "SELECT id, start, end FROM chunks WHERE doc = ? ORDER BY row", [row]
            )
        )
        return self._decoded(partial(_document, text=text, chunks=chunks), fields, len(chunks))

    def documents(self) -> list[StoredDocument]:
        """Every document (without its text), in row order."""
        count = "(SELECT COUNT(*) FROM chunks c WHERE c.doc = d.row)"
        rows = self._rows(f"SELECT {_DOCUMENT_FIELDS}, {count} FROM documents d ORDER BY d.row")
        return [self._decoded(_document, fields, count) for *fields, count in rows]

    def document_ids(self) -> list[str]:
        """Every document's id, in row order."""
        return [document_id for (document_id,) in self._rows("SELECT id FROM documents ORDER BY row")]

    def chunk_rows(self, ids: Sequence[str]) -> dict[str, int]:
        """The rows of those chunk `ids` that the docstore holds."""
        found: dict[str, int] = {}
        for start in range(0, len(ids), 900):  # SQLite's limit on bound parameters
            part = list(ids[start : start + 900])
            found.update(self._rows(f"SELECT id, row FROM chunks WHERE id IN ({','.join('?' * len(part))})", part))
        return found

    def chunk_documents(self) -> np.ndarray:
        """For every chunk row in order, its document's row."""
        return np.asarray([doc for (doc,) in self._rows("SELECT doc FROM chunks ORDER BY row")], dtype=np.int64)

    def document_metadata(self) -> list[dict[str, Any]]:
        """Every document's metadata, in row order."""
        rows = self._rows("SELECT metadata FROM documents ORDER BY row")
        return [self._decoded(json.loads, metadata) for (metadata,) in rows]

    def has_field(self, field: str) -> bool:
        """Whether a document has the metadata field `field`: a scan of the JSON text for the key,
        without parsing it (a value followed by a colon inside a longer text may count too)."""
        key = json.dumps(field, ensure_ascii=False) + ":"
        ((found,),) = self._rows("SELECT EXISTS(SELECT 1 FROM documents WHERE instr(metadata, ?) > 0)", (key,))
        return bool(found)

    def problems(self) -> list[str]:
        """What a full check finds wrong: rows out of order, chunks outside their document's text."""
        found = []
        (bad_rows,) = self._rows(
            "SELECT COUNT(*) FROM chunks c LEFT JOIN documents d ON d.row = c.doc "
            "WHERE d.row IS NULL OR c.start < 0 OR c.end < c.start OR c.end > length(d.text)"
        )[0]
        if bad_rows:
            found.append(f"{bad_rows} chunk(s) point outside their document's text")
        (documents, chunks, last_doc, last_chunk) = self._rows(
            "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks), "
            "(SELECT MAX(row) FROM documents), (SELECT MAX(row) FROM chunks)"
        )[0]
        if (last_doc if last_doc is not None else -1) != documents - 1 or (
            last_chunk if last_chunk is not None else -1
        ) != chunks - 1:
            found.append("docstore rows are not numbered 0..n-1")
        docs = self.chunk_documents()
        if np.any(np.diff(docs) < 0):
            found.append("chunks are not in the order of their documents")
        return found

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        documents, chunks = self._rows("SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks)")[0]
        return int(documents), int(chunks)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _read_only_uri(path: Path) -> str:
    """An SQLite URI that opens `path` read-only and immutable (# ? % in the path escaped)."""
    return f"file:{quote(path.resolve().as_posix())}?mode=ro&immutable=1"


def _chunk(fields: Sequence[Any]) -> StoredChunk:
    chunk_id, document_id, ordinal, start, end, text, path, record, title, metadata, location = fields
    location = json.loads(location)
    if not isinstance(location, dict):
        raise ValueError("a chunk's location is not a JSON object")
    return StoredChunk(
        id=chunk_id, document_id=document_id, ordinal=ordinal, start=start, end=end, text=text,
        location=location, path=path, record=record, title=title, metadata=json.loads(metadata),
    )  # fmt: skip


def _document(fields: Sequence[Any], num_chunks: int, **extra: Any) -> StoredDocument:
    document_id, path, abs_path, record, title, encoding, sha256, mtime, size, metadata = fields
    return StoredDocument(
        document_id, path, abs_path, record, title, encoding, sha256, mtime, size, json.loads(metadata), num_chunks,
        **extra,
    )  # fmt: skip
