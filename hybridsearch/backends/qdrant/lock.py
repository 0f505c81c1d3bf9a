"""One writer at a time for an index in Qdrant, which has no locks of its own: the writer lock is a
collection, `NAME--writer`. Creating a collection that exists fails on a server and in local mode
alike, so of two writers that try at once exactly one creates it; the winner writes who it is into
the collection's one point and deletes the collection when it is done.

A writer that dies leaves the collection behind. In local mode the folder itself is locked by the
process that opened it, so a lock left by another process is always stale. On a server the holder
beats, writing the time into its point every `BEAT` seconds from a thread, and a lock that has not
beaten for `STALE` seconds is taken over. A writer checks just before its write becomes visible
that the lock is still its own, so a writer that lost its lock (it stalled past `STALE` and was
taken over) fails without making anything visible.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ...errors import IndexLockedError, InputError

__all__ = ["BEAT", "STALE", "Holder", "WriterLock", "reason"]

BEAT = 10.0  # seconds between a server writer's heartbeats
STALE = 60.0  # a server lock that has not beaten for this long belongs to a writer that is gone
_OWNER = 0  # the lock collection's one point
_STARTING = 1.0  # seconds to wait for the owner point of a lock that was just created


@dataclass(frozen=True)
class Holder:
    """Who holds a writer lock: a token of its own, its host and process, and its last heartbeat
    (seconds since the epoch, by the holder's clock)."""

    token: str
    host: str
    pid: int
    started: float
    beat: float

    def stale(self, server: bool, now: float) -> bool:
        """True when the holder is gone: on a server, no heartbeat for `STALE` seconds; in local
        mode, any other process (this one has the folder open, so that one cannot)."""
        if server:
            return now - self.beat > STALE
        return (self.host, self.pid) != (socket.gethostname(), os.getpid())

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.started, timezone.utc).isoformat(timespec="seconds")
        return f"pid {self.pid} on {self.host} (since {since})"


class WriterLock:
    """The writer lock of the index at `location` (lock collection `collection`), held from
    `__enter__` to `__exit__`."""

    def __init__(self, client: Any, collection: str, location: str, server: bool) -> None:
        self.client = client
        self.collection = collection
        self.location = location
        self.server = server
        self._token = os.urandom(8).hex()
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None

    def __enter__(self) -> WriterLock:
        for attempt in range(3):
            if self._create():
                break
            holder = self._holder()
            if holder is None and attempt == 0:  # just created, its owner not yet written: look again
                time.sleep(_STARTING)
                continue
            if holder is not None and not holder.stale(self.server, time.time()):
                raise IndexLockedError(
                    f"Index {self.location} is being written by {holder.describe()}; wait for it to finish."
                )
            self._drop()  # its writer is gone: take it over
        else:
            raise IndexLockedError(f"Index {self.location}: another writer took its writer lock first; try again.")
        now = time.time()
        self._write(Holder(self._token, socket.gethostname(), os.getpid(), now, now))
        if self.server:
            self._beating = threading.Thread(target=self._beat, name="hsearch-writer-lock", daemon=True)
            self._beating.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._beating is not None:
            self._beating.join()
        holder = self._holder()
        if holder is not None and holder.token == self._token:
            self._drop()

    def confirm(self) -> None:
        """Raise IndexLockedError unless this writer still holds the lock."""
        holder = self._holder()
        if holder is None or holder.token != self._token:
            taken = f" by {holder.describe()}" if holder else ""
            raise IndexLockedError(
                f"Index {self.location}: this write stalled past {STALE:g} s and its writer lock was taken "
                f"over{taken}; nothing of it became visible. Run it again."
            )

    def _call(self, request: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return request(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - connection refused, a server's error response…
            raise InputError(f"Cannot write {self.location}: {reason(error)}") from None

    def _create(self) -> bool:
        """Create the lock collection: True when this call made it, False when it was there."""
        try:
            self.client.create_collection(self.collection, vectors_config={})
            return True
        except Exception:  # noqa: BLE001 - "already exists", in the words of a server or of local mode
            if self._call(self.client.collection_exists, self.collection):
                return False
            raise

    def _drop(self) -> None:
        """Delete the lock collection (gone already is as good)."""
        try:
            self.client.delete_collection(self.collection)
        except Exception:  # noqa: BLE001 - not there (any more): nothing to delete
            if self._call(self.client.collection_exists, self.collection):
                raise InputError(f"Cannot write {self.location}: its writer lock cannot be deleted.") from None

    def _holder(self) -> Holder | None:
        """Who holds the lock now (None: nobody, or a writer that has not yet said who it is)."""
        try:
            found = self.client.retrieve(self.collection, ids=[_OWNER], with_payload=True)
        except Exception:  # noqa: BLE001 - the collection is gone: the lock was released meanwhile
            return None
        if not found:
            return None
        payload = found[0].payload or {}
        try:
            fields = (payload["token"], payload["host"], payload["pid"], payload["started"], payload["beat"])
            return Holder(str(fields[0]), str(fields[1]), int(fields[2]), float(fields[3]), float(fields[4]))
        except (KeyError, TypeError, ValueError):  # not an owner's point: nobody is behind it
            return Holder("", "?", 0, 0.0, 0.0)

    def _write(self, holder: Holder) -> None:
        from qdrant_client import models

        point = models.PointStruct(id=_OWNER, vector={}, payload=holder.__dict__)
        self._call(self.client.upsert, self.collection, points=[point])

    def _beat(self) -> None:
        while not self._stop.wait(BEAT):
            holder = self._holder()
            if holder is None or holder.token != self._token:
                return  # taken over: `confirm` says so before the write becomes visible
            try:
                self.client.set_payload(self.collection, payload={"beat": time.time()}, points=[_OWNER])
            except Exception:  # noqa: BLE001 - a dropped connection: the next beat tries again
                continue


def reason(error: BaseException) -> str:
    """An engine error's first line (its type when it has no text), for a one-line message."""
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
