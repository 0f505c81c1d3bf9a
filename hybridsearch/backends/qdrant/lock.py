"""One writer at a time for an index in Qdrant, which has no locks of its own: the writer lock is a
collection, `NAME--writer`. Creating a collection that exists fails on a server and in local mode
alike, so of two writers that try at once exactly one creates it; the winner writes who it is into
the collection's one point and deletes the collection when it is done.

A writer that dies leaves the collection behind. In local mode the folder itself is locked by the
process that opened it, so a lock that no live writer of this process holds is stale. On a server
the holder beats, counting up the beat in its point every `BEAT` seconds from a thread (a failed
beat is tried again a second later); a lock is stale when its beat has not changed for `STALE`
seconds, timed by the writer that waits on it (so the hosts' clocks need not agree), and is then
taken over. The holder has a lease: it goes on writing only while its last beat went through less
than `STALE / 2` seconds ago, so by the time a waiter takes over, the holder has stopped. A writer
checks that the lock is still its own before every request that changes what the index holds.
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
STALE = 60.0  # a server lock whose beat has not changed for this long belongs to a writer that is gone
_RETRY = 1.0  # seconds before a failed beat is tried again
_OWNER = 0  # the lock collection's one point
_LOOK = 1.0  # seconds between looks at a lock that may be stale
_LIVE: set[str] = set()  # the tokens of the locks this process holds


@dataclass(frozen=True)
class Holder:
    """Who holds a writer lock: a token of its own, its host and process, when it took the lock and
    its heartbeat count."""

    token: str
    host: str
    pid: int
    started: float
    beat: int

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.started, timezone.utc).isoformat(timespec="seconds")
        return f"pid {self.pid} on {self.host} (since {since})"


_NOBODY = Holder("", "?", 0, 0.0, 0)  # a lock point that names no writer (damaged, or not yet written)


class WriterLock:
    """The writer lock of the index at `location` (lock collection `collection`), held from
    `__enter__` to `__exit__`; `confirm` stops a writer that lost it, `holder` says who holds it."""

    def __init__(self, client: Any, collection: str, location: str, server: bool) -> None:
        self.client = client
        self.collection = collection
        self.location = location
        self.server = server
        self._token = os.urandom(8).hex()
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None
        self._lost = False
        self._beaten = time.monotonic()  # when the last beat went through

    def __enter__(self) -> WriterLock:
        for _ in range(3):
            if self._create():
                break
            stale = self._stale_holder()
            if stale is None:
                continue  # released meanwhile: try again
            if self.holder() == stale:  # still the one that went stale: take it over
                self._drop()
        else:
            raise IndexLockedError(f"Index {self.location}: another writer took its writer lock first; try again.")
        _LIVE.add(self._token)
        try:  # on failure the lock is left owner-less, to go stale: it may be another's by now
            self._write(Holder(self._token, socket.gethostname(), os.getpid(), time.time(), 0))
            self._beaten = time.monotonic()
            holder = self.holder()
        except BaseException:
            _LIVE.discard(self._token)
            raise
        if holder is None or holder.token != self._token:  # a waiter dropped it as we created it
            _LIVE.discard(self._token)
            raise IndexLockedError(f"Index {self.location}: another writer took its writer lock first; try again.")
        if self.server:
            self._beating = threading.Thread(target=self._beat, name="hsearch-writer-lock", daemon=True)
            self._beating.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            holder = self.holder()
            if holder is not None and holder.token == self._token:
                self._drop()  # while still beating: the lock cannot go stale meanwhile
        finally:
            self.stop_beating()
            _LIVE.discard(self._token)

    @property
    def token(self) -> str:
        """This writer's own token: the lock is its own while `holder().token` is this."""
        return self._token

    def stop_beating(self) -> None:
        """Stop the heartbeat (a server lock) and wait for its thread, leaving the lock as it is: what
        `__exit__` does last, and what a writer that dies amounts to (its lock goes stale)."""
        self._stop.set()
        if self._beating is not None:
            self._beating.join()

    def confirm(self, ask: bool = True) -> None:
        """Raise IndexLockedError unless this writer still holds the lock: its lease is current (on a
        server) and, when `ask`, the lock's point names it."""
        holder = None
        if not self._lost and not (self.server and time.monotonic() - self._beaten > STALE / 2):
            if not ask:
                return
            holder = self.holder()
            if holder is not None and holder.token == self._token:
                return
        taken = f" by {holder.describe()}" if holder not in (None, _NOBODY) else ""
        raise IndexLockedError(
            f"Index {self.location}: this writer lost its writer lock (taken over{taken} after its "
            f"heartbeat stood still for {STALE:g} s); it stopped. Run it again."
        )

    def _stale_holder(self) -> Holder | None:
        """Wait while the lock's holder is alive; return it once it is seen to be gone (None: the
        lock was released meanwhile). A live holder is refused with IndexLockedError."""
        first = self.holder()
        if first is None:
            return None
        if not self.server:
            if first == _NOBODY:  # perhaps a writer of this process about to say who it is
                time.sleep(_LOOK)
                first = self.holder()
            if first is not None and first.token in _LIVE:
                raise IndexLockedError(
                    f"Index {self.location} is being written by {first.describe()}; wait for it to finish."
                )
            return first
        waited = time.monotonic()
        while time.monotonic() - waited < STALE:
            time.sleep(_LOOK if first == _NOBODY else min(_LOOK * 2, STALE))
            now = self.holder()
            if now != first:
                if now is None:
                    return None
                who = "another writer" if now == _NOBODY else now.describe()
                raise IndexLockedError(f"Index {self.location} is being written by {who}; wait for it to finish.")
        return first  # its beat stood still for STALE seconds: its lease ran out long ago

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
        except Exception as error:  # noqa: BLE001 - "already exists", in the words of a server or of local mode
            if self._call(self.client.collection_exists, self.collection):
                return False
            raise InputError(f"Cannot write {self.location}: {reason(error)}") from None

    def _drop(self) -> None:
        """Delete the lock collection (gone already is as good)."""
        try:
            self.client.delete_collection(self.collection)
        except Exception as error:  # noqa: BLE001 - not there (any more): nothing to delete
            if self._call(self.client.collection_exists, self.collection):
                raise InputError(f"Cannot write {self.location}: {reason(error)}") from None

    def holder(self) -> Holder | None:
        """Who holds the lock now, as its point says (asked of the engine): None when nobody does, a
        `Holder` with an empty `token` when the point names no writer (yet)."""
        try:
            found = self.client.retrieve(self.collection, ids=[_OWNER], with_payload=True)
        except Exception as error:  # noqa: BLE001 - no lock collection (released), or a failure
            if not self._call(self.client.collection_exists, self.collection):
                return None
            raise InputError(f"Cannot read {self.location}'s writer lock: {reason(error)}") from None
        if not found:
            return _NOBODY
        payload = found[0].payload or {}
        try:
            fields = (payload["token"], payload["host"], payload["pid"], payload["started"], payload["beat"])
            return Holder(str(fields[0]), str(fields[1]), int(fields[2]), float(fields[3]), int(fields[4]))
        except (KeyError, TypeError, ValueError):
            return _NOBODY

    def _write(self, holder: Holder) -> None:
        from qdrant_client import models

        point = models.PointStruct(id=_OWNER, vector={}, payload=holder.__dict__)
        self._call(self.client.upsert, self.collection, points=[point])

    def _beat(self) -> None:
        beat, wait = 0, BEAT
        while not self._stop.wait(wait):
            try:
                holder = self.holder()
                if holder is None or holder.token != self._token:
                    self._lost = True  # taken over: `confirm` stops the write at its next request
                    return
                started = time.monotonic()
                self.client.set_payload(self.collection, payload={"beat": beat + 1}, points=[_OWNER])
                beat, wait, self._beaten = beat + 1, BEAT, started
            except Exception:  # noqa: BLE001 - a dropped connection, a slow server: try again soon
                wait = _RETRY


def reason(error: BaseException) -> str:
    """An engine error's first line (its type when it has no text), for a one-line message."""
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
