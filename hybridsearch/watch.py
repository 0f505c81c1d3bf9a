"""Keeping an index current from file-system events: `hsearch watch DIR... --index IDX` and `serve --watch`.

    watcher = Watcher("indexes/docs", ["docs"])   # loads the index's model once
    watcher.run()                                 # until watcher.stop() (the CLI: SIGINT/SIGTERM)

On start the watcher catches up (one `write_index` over the folders: what changed while it was not
running), then each burst of events becomes one update once the folder has been quiet for `debounce`
seconds (an editor's temp file and rename, Office's lock files, a copy of many files: one update;
a folder that never goes quiet is written every `MAX_DELAY` seconds). An update is `write_index`
over the folders the burst touched, with the model kept loaded: unchanged files are hashed, not read
again, and only changed ones are chunked and encoded; files gone (deleted, renamed, moved out,
ignored now) are dropped, a renamed file's new path added. Events that cannot change the index are
dropped before they count: paths the walk's ignore rules leave out (built-in, `.hsearchignore`,
`exclude`, `hsearch.toml`), hidden files, types no loader reads, and anything in an index folder,
so an index inside a watched folder never wakes its own watcher.

Events come from the OS (inotify, FSEvents, ReadDirectoryChangesW, through watchdog); a folder on a
network file system (NFS, SMB/CIFS, FUSE…), where the OS does not see other machines' changes, or
one the OS refuses to watch (inotify's watch limit) is polled instead (`poll`: poll every folder).

One writer at a time: while another process holds the index's lock, the update waits and tries
again. `stop` ends the watch: an update in progress is abandoned at its next progress step, and an
abandoned update leaves the index as it was (an update is one commit), for the next start to redo.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from .config import IndexConfig, ModelAccess
from .encoders import Encoder, load_encoder
from .errors import HybridSearchError, IndexLockedError, InputError, ModelMismatchError
from .index import HybridIndex
from .loaders import PathArg, Warn
from .location import IndexLocation, Location
from .watched import WatchedFolder
from .writer import IndexReport, ProgressEvent, write_index

__all__ = ["DEBOUNCE", "POLL_SECONDS", "WatchUpdate", "Watcher", "load_model", "watch_served"]

logger = logging.getLogger("hybridsearch")

#: Seconds of quiet after the last event before a burst becomes an update.
DEBOUNCE = 0.4
#: Seconds a burst may go on before it is written all the same (a log file written without pause).
MAX_DELAY = 5.0
#: Seconds between polls of a folder watched by polling.
POLL_SECONDS = 2.0
#: Seconds between tries while another writer holds the index's lock.
RETRY_SECONDS = 1.0
#: The events that may change the index ("attrib": a chmod or chown, which changes readers under --acl posix).
_CHANGES = ("created", "modified", "deleted", "moved", "attrib")


@dataclass(frozen=True)
class WatchUpdate:
    """One update: the folders walked, the changed paths that caused it (none for the catch-up on
    start), and what `write_index` did (`report`), or why nothing was written (`error`)."""

    folders: tuple[str, ...]
    paths: tuple[str, ...]
    report: IndexReport | None = None
    error: str | None = None

    @property
    def summary(self) -> str:
        """`1 changed, 0 added, 1 removed (0.4 s)`, or the error."""
        if self.report is None:
            return f"not updated: {self.error}"
        r = self.report
        return f"{r.changed} changed, {r.added} added, {r.removed} removed ({r.seconds:.1f} s)"


class _Stopped(Exception):
    """Raised from the progress callback to abandon an update when the watch stops."""


class Watcher:
    """Keeps the index at `location` current with `folders` (see the module's docstring).

    `encoder`: the index's model, loaded (else `load_model` loads it once, with `access` and
    `device`); `model`, if given, must be the index's. `config`: the settings of an index that does
    not exist yet (the first update makes it). `poll`: poll every folder every `poll` seconds
    instead of listening for events. `ignore` and `config_file` as for `write_index`. Each update's
    line goes to `log` (default: the `hybridsearch` logger), skipped files to `warn`, and each
    `WatchUpdate` to `on_update`.
    """

    def __init__(
        self,
        location: Location,
        folders: Sequence[PathArg],
        *,
        encoder: Encoder | None = None,
        model: str | None = None,
        config: IndexConfig | None = None,
        access: ModelAccess | None = None,
        device: str | None = None,
        poll: float | None = None,
        debounce: float = DEBOUNCE,
        ignore: Sequence[str] = (),
        config_file: PathArg | None = None,
        log: Callable[[str], None] | None = None,
        warn: Warn | None = None,
        on_update: Callable[[WatchUpdate], None] | None = None,
        label: str = "watch",
    ) -> None:
        if not folders:
            raise InputError("Give at least one folder to watch.")
        for folder in folders:
            if os.path.isfile(folder):
                raise InputError(f"{folder} is a file; hsearch watch watches folders: give the folder it is in.")
            if not os.path.isdir(folder):
                raise InputError(f"No such folder: {folder}")
        if config_file is not None and not os.path.isfile(config_file):
            raise InputError(f"No such config file: {config_file}")
        if poll is not None and poll <= 0:
            raise InputError(f"--poll must be a number of seconds above 0 (got {poll}).")
        self.location = location
        parsed = IndexLocation.parse(location)
        index = os.path.realpath(parsed.folder) if parsed.is_local else None
        self.folders = [WatchedFolder(folder, ignore, config_file, index) for folder in folders]
        self.access = access or ModelAccess()
        self.new_config = config if HybridIndex.stored_config(location) is None else None
        self.encoder = encoder or load_model(location, model, config, self.access, device)
        self.poll, self.debounce = poll, debounce
        self.ignore, self.config_file = tuple(ignore), config_file
        self.label = label
        self.log = log or logger.info
        self.warn = warn or logger.warning
        self.on_update = on_update
        self.ready = threading.Event()  # set once the catch-up on start is done
        self._stop = threading.Event()
        self._signalled = False  # set by a signal handler, which must take no lock
        self._lock = threading.Lock()
        self._pending: dict[WatchedFolder, set[str]] = {}
        self._first = self._last = 0.0

    # --- control ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """End `run`: now if it is waiting; an update in progress is abandoned (the index stays as it was)."""
        self._stop.set()

    def signalled(self, *_: object) -> None:
        """`stop` for a signal handler (`signal.signal(SIGTERM, watcher.signalled)`): takes no lock."""
        self._signalled = True

    @property
    def stopping(self) -> bool:
        return self._signalled or self._stop.is_set()

    def start(self) -> threading.Thread:
        """`run` in a daemon thread (errors go to `log`); `stop` then `join` it."""

        def running() -> None:
            try:
                self.run()
            except HybridSearchError as error:
                self.log(f"{self.label}: stopped watching: {error}")

        thread = threading.Thread(target=running, name=f"hybridsearch-{self.label}", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        """Watch until `stop`: catch up, then one update per quiet burst. An error in the catch-up
        (a folder that cannot be read, an index of another model) is raised; later ones are logged
        and the watch goes on, except an index rebuilt with another model."""
        _warm_up(self.encoder)
        with self._observing():
            if self.stopping:
                return
            self._update(self.folders, (), catch_up=True)
            self.ready.set()
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                paths = tuple(sorted(path for changed in batch.values() for path in changed))
                self._update([folder for folder in self.folders if folder in batch], paths)

    # --- events -----------------------------------------------------------------------------------

    @contextmanager
    def _observing(self) -> Iterator[None]:
        observers: list[Any] = []
        try:
            for folder in self.folders:
                observer, how = self._observe(folder)
                observers.append(observer)
                self.log(f"{self.label}: watching {folder.given} ({how}) for {self.location}")
            yield
        finally:
            for observer in observers:
                observer.stop()
            for observer in observers:
                observer.join(timeout=5)

    def _observe(self, folder: WatchedFolder) -> tuple[Any, str]:
        """An observer of `folder`, started: the OS's events, else polling."""
        from watchdog import events
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        kinds: list[type[events.FileSystemEvent]] = [
            events.FileCreatedEvent, events.FileModifiedEvent, events.FileDeletedEvent, events.FileMovedEvent,
            events.DirCreatedEvent, events.DirDeletedEvent, events.DirMovedEvent,
        ]  # fmt: skip
        # a chmod (before watchdog 5: a modified event) and an inotify queue overflow (watchdog >= 7.1)
        for name in ("FileAttribEvent", "DirAttribEvent", "EventsLostEvent"):
            if hasattr(events, name):
                kinds.append(getattr(events, name))
        watcher = self

        class Handler(events.FileSystemEventHandler):
            def dispatch(self, event: events.FileSystemEvent) -> None:
                watcher._event(folder, event)

        system = folder.network_file_system()
        interval = self.poll
        if interval is None and system is not None:
            interval = POLL_SECONDS
            self.log(f"{self.label}: {folder.given} is on a network file system ({system}); polling it instead")
        if interval is None:
            observer = Observer()
            try:
                observer.schedule(Handler(), str(folder.root), recursive=True, event_filter=kinds)
                observer.start()
                return observer, "file-system events"
            except OSError as error:  # inotify's limits (max_user_watches, max_user_instances)
                interval = POLL_SECONDS
                self.log(f"{self.label}: the OS cannot watch {folder.given} ({error}); polling it instead")
        observer = PollingObserver(timeout=interval)
        observer.schedule(Handler(), str(folder.root), recursive=True, event_filter=kinds)
        observer.start()
        return observer, f"polling every {interval:g} s"

    def _event(self, folder: WatchedFolder, event: Any) -> None:
        """Note an event (in the observer's thread) if it can change the index."""
        kind = event.event_type
        if kind == "events_lost":  # the OS's queue overflowed: anything may have changed
            paths, relevant = [os.fsdecode(event.src_path)], True
        elif kind not in _CHANGES:  # opened and closed: the walk's own reads among them
            return
        else:
            paths = [os.fsdecode(event.src_path)] + ([os.fsdecode(event.dest_path)] if kind == "moved" else [])
            if kind == "modified" and event.is_directory:
                return
            relevant = any(folder.relevant(path, event.is_directory) for path in paths)
        if not relevant:
            return
        with self._lock:
            now = time.monotonic()
            if not self._pending:
                self._first = now
            self._last = now
            self._pending.setdefault(folder, set()).update(paths)

    def _next_batch(self) -> dict[WatchedFolder, set[str]] | None:
        """The next quiet burst's changed paths by folder; None when the watch stops."""
        while not self.stopping:
            with self._lock:
                wait = 0.1
                if self._pending:
                    now = time.monotonic()
                    due = min(self._last + self.debounce, self._first + MAX_DELAY)
                    if now >= due:
                        batch, self._pending = self._pending, {}
                        return batch
                    wait = min(wait, due - now)
            self._stop.wait(wait)
        return None

    # --- updates ----------------------------------------------------------------------------------

    def _update(self, folders: list[WatchedFolder], paths: tuple[str, ...], catch_up: bool = False) -> None:
        given = tuple(folder.given for folder in folders)
        waiting = False
        while not self.stopping:
            try:
                report = write_index(
                    self.location, given, config=self.new_config, encoder=self.encoder, access=self.access,
                    progress=self._progress, warn=self.warn, ignore=self.ignore, config_file=self.config_file,
                )  # fmt: skip
            except IndexLockedError as error:
                if not waiting:
                    self.log(f"{self.label}: {error} Trying again every {RETRY_SECONDS:g} s.")
                    waiting = True
                self._stop.wait(RETRY_SECONDS)
                continue
            except _Stopped:
                self.log(f"{self.label}: stopped during an update; the index stays as it was until the next start")
                return
            except ModelMismatchError:
                raise
            except HybridSearchError as error:
                if catch_up:
                    raise
                self.log(f"{self.label}: not updated: {error}")
                self._done(WatchUpdate(given, paths, error=str(error)))
                return
            self.new_config = None
            update = WatchUpdate(given, paths, report)
            if catch_up:
                self.log(f"{self.label}: caught up: {update.summary}; {report.documents} documents")
            elif report.written:
                self.log(f"{self.label}: {update.summary}")
            self._done(update)
            return

    def _done(self, update: WatchUpdate) -> None:
        if self.on_update is not None:
            self.on_update(update)

    def _progress(self, event: ProgressEvent) -> None:
        if self.stopping:
            raise _Stopped


def load_model(
    location: Location,
    model: str | None = None,
    config: IndexConfig | None = None,
    access: ModelAccess | None = None,
    device: str | None = None,
) -> Encoder:
    """The model an update of `location` encodes with, loaded once: the index's own (with the grants
    in `access`; `model`, if given, must be it), or for an index not made yet `model`, else
    `config`'s (default: the default model)."""
    access = access or ModelAccess()
    if HybridIndex.stored_config(location) is None:
        dense = (config or IndexConfig()).dense
        return load_encoder(dense if model is None else replace(dense, model=model), device)
    with HybridIndex.open(location, model=model, access=access, device=device) as index:
        return index.encoder


class _Served:
    """The watchers of served indexes, each in its thread; `close` stops them."""

    def __init__(self, watchers: list[Watcher]) -> None:
        self.watchers = watchers
        self.threads = [watcher.start() for watcher in watchers]

    def close(self) -> None:
        for watcher in self.watchers:
            watcher.stop()
        for thread in self.threads:
            thread.join(timeout=30)


def watch_served(
    indexes: Mapping[str, HybridIndex],
    log: Callable[[str], None] | None = None,
    warn: Warn | None = None,
    poll: float | None = None,
) -> _Served:
    """Keep each of `indexes` (served, by name) current with the folders it was built from (its
    manifest's `sources`, relative to the working folder as when it was indexed), each new
    generation picked up by the index at once. Only local indexes built from folders that are here
    can be watched; an `InputError` says which is not, before anything starts."""
    plans: list[tuple[str, HybridIndex, list[str]]] = []
    for name, index in indexes.items():
        if not IndexLocation.parse(index.location).is_local:
            raise InputError(
                f"serve --watch watches local index folders; index {name!r} is in Qdrant ({index.location}): "
                f"keep it current with its own watcher beside the server: hsearch watch DIR... --index {index.location}"
            )
        sources = [str(source) for source in index.info().get("sources", [])]
        if not sources:
            raise InputError(
                f"serve --watch: index {name!r} does not record the folders it was built from; "
                f"index them again (hsearch index DIR... --index {index.location}), or serve it without --watch."
            )
        for source in sources:
            if os.path.isfile(source):
                raise InputError(
                    f"serve --watch watches folders; index {name!r} was built from the file {source}: "
                    "index its folder instead, or serve it without --watch."
                )
            if not os.path.isdir(source):
                raise InputError(
                    f"serve --watch: index {name!r} was built from {source}, which is not a folder here "
                    f"({os.getcwd()}); serve from the folder it was indexed from, or index it again with an "
                    "absolute path, or serve it without --watch."
                )
        plans.append((name, index, sources))
    watchers = []
    for name, index, sources in plans:
        label = "watch" if len(plans) == 1 else f"watch {name}"
        watchers.append(
            Watcher(
                index.location, sources, encoder=index.encoder, poll=poll, log=log, warn=warn, label=label,
                on_update=partial(_picked_up, index),
            )
        )  # fmt: skip
    return _Served(watchers)


def _warm_up(encoder: Encoder) -> None:
    """Load the model's weights now, not on the first change (a local model loads them on first use:
    seconds; `fits` needs them, and calls no remote model)."""
    encoder.fits("準備")


def _picked_up(index: HybridIndex, update: WatchUpdate) -> None:
    if update.report is not None and update.report.written:
        index.refresh()
