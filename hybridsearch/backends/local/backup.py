"""A consistent copy of a local index: its live generation, under the writer lock (no writer can
replace or remove it meanwhile), hard-linked where the file system allows it (generations are never
changed in place, so a link is as good as a copy of them) and copied where not, then re-hashed
against its manifest. The copy is an index itself: open it, or copy it back, to restore.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ...errors import IndexFormatError, InputError
from .generations import LOCK, POINTER, access_error, live_generation, read_manifest, verify_files, writer_lock

__all__ = ["BackupReport", "backup_index"]


@dataclass(frozen=True)
class BackupReport:
    """What a backup wrote: the generation copied, its files, and how many of them are hard links."""

    generation: str
    files: int
    linked: int
    bytes: int


def backup_index(index_dir: Path, destination: Path) -> BackupReport:
    """Copy the live generation of the index at `index_dir` into a new index at `destination` (a
    folder that must not exist yet, or be empty) and verify every file against the manifest."""
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise InputError(f"{destination} already exists; back up into a new folder.")
    if destination.absolute().is_relative_to(index_dir.absolute()):
        raise InputError(f"Back up into a folder outside the index, not {destination}.")
    with writer_lock(index_dir):
        generation, pointer = live_generation(index_dir)
        manifest = read_manifest(generation)
        problems = verify_files(generation, manifest, pointer.manifest_sha256)
        if problems:
            raise IndexFormatError(f"Index {index_dir} does not match its checksums ({problems[0]}); not backed up.")
        try:
            report = _copy(generation, destination / generation.name)
            (destination / POINTER).write_bytes((index_dir / POINTER).read_bytes())
            (destination / LOCK).touch()
        except OSError as error:
            shutil.rmtree(destination, ignore_errors=True)
            raise access_error(destination, error, "write") from None
    copied = verify_files(destination / generation.name, manifest, pointer.manifest_sha256)
    if copied:
        shutil.rmtree(destination, ignore_errors=True)
        raise IndexFormatError(f"The copy in {destination} does not match the index's checksums ({copied[0]}).")
    return report


def _copy(generation: Path, target: Path) -> BackupReport:
    files = linked = size = 0
    for source in sorted(generation.rglob("*")):
        if source.is_dir():
            continue
        copy = target / source.relative_to(generation)
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, copy)
            linked += 1
        except OSError:  # another file system, or one without hard links
            shutil.copy2(source, copy)
        files += 1
        size += copy.stat().st_size
    return BackupReport(generation.name, files, linked, size)
