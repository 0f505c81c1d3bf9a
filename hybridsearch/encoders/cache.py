"""The embedding cache: document vectors already computed, by model and text, in one
SQLite file that every index on the machine shares. A `--rebuild`, another chunk size, a second index
over the same files or a re-run after a killed one encode only what was never encoded before.

Entries are keyed by sha256 over the model's identity (name, revision, dimension, document prompt,
length limit; a local model folder adds a fingerprint of its files) and the text as given to the
model, so two models never share a vector. Misses are written a block at a time, each block its own transaction:
a killed run keeps what it had finished. The file is bounded (least recently used entries go
first) and safe for concurrent writers (WAL, a busy timeout). Query vectors are never cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..errors import InputError
from .base import Encoder, ModelSpec, Progress
from .embedded_model import cache_dir

__all__ = ["CacheInfo", "CachedEncoder", "EmbeddingCache", "cached_encoder", "model_identity", "open_default_cache"]

T = TypeVar("T")

#: Texts encoded (and committed to the cache) at a time: what a killed run can lose at most.
BLOCK = 256
DEFAULT_MB = 2048
_SQL_VARIABLES = 500  # keys per IN (...) statement
_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY, identity TEXT UNIQUE NOT NULL, name TEXT NOT NULL,
    entries INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS vectors (
    key BLOB PRIMARY KEY, model INTEGER NOT NULL, used INTEGER NOT NULL, bytes INTEGER NOT NULL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS vectors_used ON vectors (used);
CREATE INDEX IF NOT EXISTS vectors_model ON vectors (model);
CREATE TRIGGER IF NOT EXISTS vectors_added AFTER INSERT ON vectors BEGIN
    UPDATE models SET entries = entries + 1, bytes = bytes + NEW.bytes WHERE id = NEW.model;
END;
CREATE TRIGGER IF NOT EXISTS vectors_dropped AFTER DELETE ON vectors BEGIN
    UPDATE models SET entries = entries - 1, bytes = bytes - OLD.bytes WHERE id = OLD.model;
END;
"""


@dataclass(frozen=True)
class CacheInfo:
    """What the cache holds: its file, size, bound, and entries and bytes per model name."""

    path: Path
    bytes: int
    max_bytes: int
    entries: int
    models: list[tuple[str, int, int]]  # (name, entries, bytes)


class EmbeddingCache:
    """One SQLite file of vectors by key, bounded to `max_bytes` of vector data."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MB << 20) -> None:
        self.path, self.max_bytes = path, max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.Error:
            self.db.close()
            raise
        self._models: dict[str, int] = {}

    @classmethod
    def default(cls) -> EmbeddingCache | None:
        """The machine's cache: `$HSEARCH_EMBEDDING_CACHE` (a file, or `off`), else `embeddings.sqlite`
        in the hybridsearch cache folder; bounded by `$HSEARCH_EMBEDDING_CACHE_MB` (default 2048)."""
        path = cls.default_path()
        return None if path is None else cls(path, cls.default_max_bytes())

    @staticmethod
    def default_path() -> Path | None:
        """Where `default` keeps the cache; None when `$HSEARCH_EMBEDDING_CACHE` turns it off."""
        setting = os.environ.get("HSEARCH_EMBEDDING_CACHE", "").strip()
        if setting.lower() in {"off", "0", "none", "false"}:
            return None
        return Path(setting) if setting else cache_dir() / "embeddings.sqlite"

    @staticmethod
    def default_max_bytes() -> int:
        setting = os.environ.get("HSEARCH_EMBEDDING_CACHE_MB", "").strip() or str(DEFAULT_MB)
        if not setting.isdigit():
            raise InputError(f"HSEARCH_EMBEDDING_CACHE_MB must be a whole number of megabytes, not {setting!r}.")
        return int(setting) << 20

    def get(self, keys: Sequence[bytes]) -> dict[bytes, bytes]:
        """The stored data of those `keys` that are present (marked as just used)."""
        found: dict[bytes, bytes] = {}
        now = time.time_ns()
        for part in _parts(list(keys)):
            found.update(self.db.execute(f"SELECT key, data FROM vectors WHERE key IN ({_marks(part)})", part))
        hits = list(found)
        if not hits:
            return found
        with self._transaction():
            for part in _parts(hits):
                self.db.execute(f"UPDATE vectors SET used = ? WHERE key IN ({_marks(part)})", [now, *part])
        return found

    def put(self, identity: str, name: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Store `(key, data)` pairs of the model `identity` (shown as `name`) in one transaction, then
        drop the least recently used entries while the cache is over its bound."""
        now = time.time_ns()
        with self._transaction():
            model = self._model_id(identity, name)
            for part in _parts([key for key, _ in items]):  # a key stored before (of the wrong size) goes first
                self.db.execute(f"DELETE FROM vectors WHERE key IN ({_marks(part)})", part)
            self.db.executemany(
                "INSERT INTO vectors (key, model, used, bytes, data) VALUES (?, ?, ?, ?, ?)",
                [(key, model, now, len(data), data) for key, data in items],
            )
        if self._bytes() > self.max_bytes:
            self._prune(self.max_bytes * 9 // 10)  # some room, so that not every block prunes

    def info(self) -> CacheInfo:
        rows = self.db.execute(
            "SELECT name, sum(entries), sum(bytes) FROM models GROUP BY name HAVING sum(entries) > 0 ORDER BY name"
        ).fetchall()
        models = [(str(name), int(entries), int(size)) for name, entries, size in rows]
        return CacheInfo(self.path, self._bytes(), self.max_bytes, sum(m[1] for m in models), models)

    def clear(self, model: str | None = None) -> int:
        """Drop every entry (or those of models named `model`); returns how many went. The models' rows
        stay (with no entries), as a run going on at the same time may still add to them."""
        with self._transaction():
            if model is None:
                dropped = self.db.execute("DELETE FROM vectors").rowcount
            else:
                ids = [row[0] for row in self.db.execute("SELECT id FROM models WHERE name = ?", (model,))]
                dropped = sum(self.db.execute("DELETE FROM vectors WHERE model = ?", (i,)).rowcount for i in ids)
        with contextlib.suppress(sqlite3.OperationalError):  # another process writing: the space is reused instead
            self.db.execute("VACUUM")  # give the space back to the disk
        return int(dropped)

    def close(self) -> None:
        self.db.close()

    def _model_id(self, identity: str, name: str) -> int:
        if identity not in self._models:
            self.db.execute("INSERT OR IGNORE INTO models (identity, name) VALUES (?, ?)", (identity, name))
            (self._models[identity],) = self.db.execute(
                "SELECT id FROM models WHERE identity = ?", (identity,)
            ).fetchone()
        return self._models[identity]

    def _bytes(self) -> int:
        (total,) = self.db.execute("SELECT coalesce(sum(bytes), 0) FROM models").fetchone()
        return int(total)

    def _prune(self, target: int) -> None:
        while True:
            with self._transaction():  # counted and deleted in one transaction: two pruners never both delete
                total = self._bytes()
                oldest = self.db.execute("SELECT key, bytes FROM vectors ORDER BY used LIMIT ?", (_SQL_VARIABLES,))
                keys = []
                for key, size in oldest.fetchall():
                    if total <= target:
                        break
                    keys.append(key)
                    total -= size
                if not keys:  # within the bound (or counters that no rows back: nothing left to drop)
                    return
                self.db.execute(f"DELETE FROM vectors WHERE key IN ({_marks(keys)})", keys)

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")


def model_identity(spec: ModelSpec) -> str | None:
    """What makes a model's document vectors the same: name, revision, dimension, document prompt, and
    for a model folder the names, sizes and times of its files. None when nothing pins the model down
    (no revision and not a folder, e.g. a remote endpoint, whose model may change behind its name)."""
    identity: dict[str, object] = {
        "name": spec.name, "revision": spec.revision, "dim": spec.dim, "document_prompt": spec.document_prompt,
        "max_seq_length": spec.max_seq_length,
    }  # fmt: skip
    if not spec.revision:
        folder = Path(spec.name)
        if not folder.is_dir():
            return None
        files = [(p, p.stat()) for p in folder.rglob("*") if p.is_file()]
        identity["files"] = sorted((str(p.relative_to(folder)), stat.st_size, stat.st_mtime_ns) for p, stat in files)
    return json.dumps(identity, sort_keys=True, ensure_ascii=False)


class CachedEncoder:
    """`inner` with its document vectors read from, and written to, `cache`. A cache that fails
    (a damaged file, a full disk) gives one warning and the run goes on without it."""

    def __init__(self, inner: Encoder, cache: EmbeddingCache, identity: str, warn: Callable[[str], None]) -> None:
        self.inner, self.identity, self.warn = inner, identity, warn
        self.cache: EmbeddingCache | None = cache
        self.spec = inner.spec
        self.texts = self.hits = 0  # texts asked for, and those whose vectors came from the cache

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_queries(texts)

    def fits(self, text: str) -> bool:
        return self.inner.fits(text)

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 16, progress: Progress | None = None
    ) -> np.ndarray:
        vectors = np.zeros((len(texts), self.spec.dim), np.float32)
        for i, data in self._through_cache(texts, batch_size, progress):
            vectors[i] = np.frombuffer(data, np.float32)
        return vectors

    def holds(self, texts: Sequence[str]) -> np.ndarray:
        """For each text: does the cache hold a valid vector of it (nothing is encoded)?"""
        keys = [self._key(text) for text in texts]
        found: dict[bytes, bytes] = self._safely(EmbeddingCache.get, {}, keys)
        return np.array([_valid(found.get(key, b""), self.spec.dim) for key in keys], dtype=bool)

    def _key(self, text: str) -> bytes:
        return hashlib.sha256(self.identity.encode() + b"\0" + text.encode("utf-8", "surrogatepass")).digest()

    def _through_cache(
        self, texts: Sequence[str], batch_size: int, progress: Progress | None
    ) -> Iterator[tuple[int, bytes]]:
        """(row, float32 bytes) for every text: stored data where the cache has it (valid), else what
        the inner encoder computes for the missing texts a block at a time, stored as each block finishes."""
        keys = [self._key(text) for text in texts]
        found: dict[bytes, bytes] = self._safely(EmbeddingCache.get, {}, keys)
        missing: dict[bytes, list[int]] = {}  # rows by key: a text repeated (overlapping chunks) is encoded once
        for i, key in enumerate(keys):
            data = found.get(key)
            if data is not None and _valid(data, self.spec.dim):
                yield i, data
            else:
                missing.setdefault(key, []).append(i)
        self.texts += len(keys)
        self.hits += len(keys) - sum(map(len, missing.values()))
        firsts = [rows[0] for rows in missing.values()]
        if progress and len(keys) > len(firsts):
            progress(len(keys) - len(firsts))
        for start in range(0, len(firsts), BLOCK):
            block = firsts[start : start + BLOCK]
            encoded = self.inner.encode_documents([texts[i] for i in block], batch_size, progress)
            items = [(keys[i], np.asarray(row, np.float32).tobytes()) for i, row in zip(block, encoded)]
            self._safely(EmbeddingCache.put, None, self.identity, self.spec.name, items)
            for key, data in items:
                for row in missing[key]:
                    yield row, data

    def _safely(self, method: Callable[..., T], fallback: T, *args: object) -> T:
        """`method(cache, *args)`; `fallback` once the cache has failed (it is then dropped, with one warning)."""
        if self.cache is None:
            return fallback
        try:
            return method(self.cache, *args)
        except sqlite3.Error as error:
            self.warn(
                f"embedding cache {self.cache.path} is unusable ({error}); going on without it "
                "(delete the file to start a new one)"
            )
            self.cache = None
            return fallback


def _valid(data: bytes, dim: int) -> bool:
    """A stored vector of the right size and finite (a damaged entry is encoded again)."""
    return len(data) == dim * 4 and bool(np.isfinite(np.frombuffer(data, np.float32)).all())


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def _parts(items: list[bytes]) -> Iterator[list[bytes]]:
    for start in range(0, len(items), _SQL_VARIABLES):
        yield items[start : start + _SQL_VARIABLES]


def cached_encoder(encoder: Encoder, cache: EmbeddingCache | None, warn: Callable[[str], None]) -> Encoder:
    """`encoder` through `cache`; `encoder` itself without a cache or for a model nothing pins down."""
    identity = model_identity(encoder.spec) if cache is not None else None
    if cache is None or identity is None:
        return encoder
    return CachedEncoder(encoder, cache, identity, warn)


def open_default_cache(warn: Callable[[str], None]) -> EmbeddingCache | None:
    """`EmbeddingCache.default()`, or None (after one warning) when its file cannot be opened."""
    try:
        return EmbeddingCache.default()
    except (sqlite3.Error, OSError) as error:
        path = EmbeddingCache.default_path()
        warn(f"embedding cache {path} is unusable ({error}); indexing without it (delete the file to start a new one)")
        return None
