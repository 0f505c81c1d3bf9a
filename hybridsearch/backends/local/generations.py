"""On-disk layout: immutable generations behind an atomically swapped pointer.

    <index>/CURRENT                  name of the live generation ("gen-000003")
    <index>/gen-000003/manifest.json format_version, versions, config, model, counts, file checksums
    <index>/gen-000003/docs.sqlite   documents (ids, metadata, text) + chunks (ids, offsets)
    <index>/gen-000003/bm25/         term counts and weights (CSR .npy), chunk lengths, vocab.json, sorted term hashes
    <index>/gen-000003/vectors.faiss FAISS index, a vector per chunk row
    <index>/gen-000003/sentence-vectors.npy, sentence-starts.npy
                                     float16 sentence vectors, each chunk's first row (`DenseConfig.sentences`)

A build writes a hidden temporary folder, fsyncs it, renames it to the next generation and only
then replaces CURRENT (write + rename, atomic on POSIX). A crash at any point leaves the previous
generation live; readers never see a half-written index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ...errors import (
    HybridSearchError,
    IndexAccessError,
    IndexFormatError,
    IndexLockedError,
    IndexNotFoundError,
    InputError,
)
from ...version import __version__

logger = logging.getLogger("hybridsearch")

__all__ = [
    "BM25_DIR",
    "DOCSTORE",
    "FORMAT_VERSION",
    "LOCK",
    "MANIFEST",
    "POINTER",
    "VECTORS",
    "VECTOR_MASK",
    "Pointer",
    "access_error",
    "check_index_location",
    "invalid_manifest",
    "linked",
    "live_generation",
    "new_generation",
    "pointer_text",
    "read_manifest",
    "read_pointer",
    "rebuild_hint",
    "verify_files",
    "write_manifest",
    "writer_lock",
]

FORMAT_VERSION = 3  # 2: stable ids, metadata and document text in docs.sqlite; FAISS without an id map
PARTIAL_FORMAT_VERSION = 4  # a generation whose vectors are still filling in (VECTOR_MASK); complete ones stay 3
READABLE_VERSIONS = (2, 3, 4)  # 3: chunk locations (page, slide, sheet, heading path) in docs.sqlite
POINTER = "CURRENT"
LOCK = "LOCK"
MANIFEST = "manifest.json"
DOCSTORE = "docs.sqlite"
BM25_DIR = "bm25"
VECTORS = "vectors.faiss"
VECTOR_MASK = "has-vector.npy"  # one bool per chunk: has it its vectors yet (only while they fill in)
_KEEP_GENERATIONS = 2  # the live one and its predecessor, for readers that opened it just before a swap


_GENERATION = re.compile(r"gen-[0-9]{6}")


@dataclass(frozen=True)
class Pointer:
    """What CURRENT says: the live generation's name and its manifest's sha256."""

    name: str
    manifest_sha256: str | None  # None in indexes written before CURRENT held it


def pointer_text(index_dir: Path) -> str:
    """CURRENT as it is now ("" when it cannot be read): to notice that a writer moved it."""
    try:
        return (index_dir / POINTER).read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def read_pointer(index_dir: Path) -> Pointer:
    """CURRENT, checked: the name of a generation folder inside the index, and a manifest checksum."""
    pointer = index_dir / POINTER
    try:
        exists = pointer.is_file()
        folder_has_files = not exists and index_dir.is_dir() and any(index_dir.iterdir())
        lines = pointer.read_bytes().decode("utf-8").split("\n") if exists else []
    except UnicodeDecodeError:
        lines = [""]
    except OSError as error:
        raise access_error(index_dir, error, "read") from None
    if folder_has_files:
        raise IndexFormatError(
            f"{index_dir} is not a hybridsearch index (no {POINTER} file); point --index at an index folder."
        )
    if not exists:
        raise IndexNotFoundError(f"No index at {index_dir}; create one with: hsearch index PATH --index {index_dir}")
    name = lines[0].strip() if lines else ""
    checksum = lines[1].strip().removeprefix("manifest sha256 ") if len(lines) > 1 and lines[1].strip() else None
    if not _GENERATION.fullmatch(name) or (checksum is not None and not re.fullmatch(r"[0-9a-f]{64}", checksum)):
        shown = repr(name[:40]) if name else "unreadable text"
        raise IndexFormatError(
            f"Index {index_dir} has a damaged {POINTER} file (it names a generation folder such as gen-000001 and "
            f"its manifest's checksum, not {shown}); {rebuild_hint(index_dir)}."
        )
    return Pointer(name, checksum)


def live_generation(index_dir: Path) -> tuple[Path, Pointer]:
    """The folder of the live generation (a folder directly inside the index) and the pointer to it."""
    pointer = read_pointer(index_dir)
    generation = index_dir / pointer.name
    if generation.is_symlink() or not generation.is_dir():
        raise IndexFormatError(
            f"Index {index_dir} points at a missing generation {pointer.name!r}; {rebuild_hint(index_dir)}."
        )
    return generation, pointer


def access_error(index_dir: Path, error: OSError, doing: str) -> IndexAccessError:
    """The one-line error for an index that cannot be read or written (permissions, a full disk…)."""
    where = f": {error.filename}" if error.filename else ""
    reason = error.strerror or str(error)
    if doing == "read":
        return IndexAccessError(f"Cannot read index {index_dir} ({reason}{where}); check its permissions.")
    return IndexAccessError(f"Cannot write index {index_dir} ({reason}{where}); the index is unchanged.")


@contextmanager
def invalid_manifest(index_dir: Path) -> Iterator[None]:
    try:
        yield
    except (KeyError, TypeError, ValueError, HybridSearchError) as error:
        raise IndexFormatError(
            f"Index {index_dir} has an invalid manifest ({error}); {rebuild_hint(index_dir)}."
        ) from None


def read_manifest(generation: Path) -> dict[str, Any]:
    """The manifest of a generation, checked for format version, the files it lists, and their sizes."""
    index_dir = generation.parent
    try:
        manifest = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))
    except PermissionError as error:
        raise access_error(index_dir, error, "read") from None
    except (OSError, ValueError, RecursionError) as error:
        raise IndexFormatError(
            f"Index {index_dir} has an unreadable manifest ({error}); {rebuild_hint(index_dir)}."
        ) from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if version not in READABLE_VERSIONS:
        raise IndexFormatError(
            f"Index {index_dir} has format version {version!r}, but this hybridsearch {__version__} reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}; {rebuild_hint(index_dir)}."
        )
    with invalid_manifest(index_dir):
        files = _listed_files(manifest)
    for name, expected in files.items():
        path = generation / name
        try:
            size = path.stat().st_size if path.is_file() else None
            if size is not None:
                path.open("rb").close()  # a file we may not read is a permission problem, not damage
        except PermissionError as error:
            raise access_error(index_dir, error, "read") from None
        if size != expected["size"]:
            found = "missing" if size is None else f"{size} bytes, expected {expected['size']}"
            raise IndexFormatError(f"Index {index_dir} is damaged: {name} is {found}; {rebuild_hint(index_dir)}.")
    return manifest


def _listed_files(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The manifest's file list, checked: relative names inside the generation, each with a size and a sha256."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ValueError("no list of files")
    for name, expected in files.items():
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or ".." in parts:
            raise ValueError(f"a file name outside the generation: {name!r}")
        if not isinstance(expected, dict) or not isinstance(expected.get("size"), int):
            raise ValueError(f"no size for {name!r}")
        if not isinstance(expected.get("sha256"), str):
            raise ValueError(f"no checksum for {name!r}")
    return files


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's writer lock (an OS file lock, released by the kernel even if we are killed).

    A first build that fails leaves nothing behind; it removes the folder while it still holds the
    lock, so a build that lost the race for the lock never removes the winner's work."""
    check_index_location(index_dir)
    created = not index_dir.exists()
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise access_error(index_dir, error, "write") from None
    with _locked(index_dir):
        try:
            yield
        finally:
            if created and not (index_dir / POINTER).exists():
                shutil.rmtree(index_dir, ignore_errors=True)


@contextmanager
def _locked(index_dir: Path) -> Iterator[None]:
    import fcntl

    try:
        handle = open(index_dir / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as error:
        raise access_error(index_dir, error, "write") from None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IndexLockedError(
                f"Index {index_dir} is locked by pid {holder}, which is writing it; wait for it to finish."
            ) from None
        if not _same_file(handle, index_dir / LOCK):  # a failed first build removed the folder meanwhile
            raise IndexLockedError(f"Index {index_dir} was being created by another writer; try again.")
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        for leftover in index_dir.glob(".building-*"):  # from a writer that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()


def _same_file(handle: Any, path: Path) -> bool:
    """Is the open `handle` still the file at `path` (not one that was deleted and made again)?"""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except OSError:
        return False


def check_index_location(index_dir: Path) -> None:
    """Raise `InputError` unless `index_dir` is an index, an empty folder, or does not exist yet."""
    if index_dir.exists() and not index_dir.is_dir():
        raise InputError(f"Index location {index_dir} is a file; choose a folder with --index.")
    if (
        index_dir.is_dir()
        and not (index_dir / POINTER).exists()
        and any(not p.name.startswith(".") and p.name != LOCK for p in index_dir.iterdir())  # LOCK: being created
    ):
        raise InputError(
            f"{index_dir} exists and is not a hybridsearch index; refusing to write into it. "
            "Choose an empty or new folder with --index."
        )


@contextmanager
def new_generation(index_dir: Path) -> Iterator[Path]:
    """A fresh folder to write a generation into; made live when the block ends without error.

    The caller holds `writer_lock`, writes the index files into the folder, then the manifest with
    `write_manifest`.
    """
    try:
        work = Path(tempfile.mkdtemp(prefix=".building-", dir=index_dir))
    except OSError as error:
        raise access_error(index_dir, error, "write") from None
    try:
        yield work
        if not (work / MANIFEST).is_file():
            raise RuntimeError("a generation was finished without a manifest")
        _fsync_tree(work)
        generation = index_dir / f"gen-{_next_number(index_dir):06d}"
        os.rename(work, generation)
        _replace_pointer(index_dir, generation.name, _sha256(generation / MANIFEST))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    try:
        _remove_old(index_dir)
    except (OSError, HybridSearchError) as error:  # the new generation is live already; cleaning up can wait
        logger.warning("index %s: old generations were not removed (%s)", index_dir, error)


def write_manifest(
    generation: Path, manifest: dict[str, Any], known: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Complete `manifest` with format/version/time and checksums of every file, then write it. `known`:
    the entries of files linked unchanged from the live generation (`linked`), whose checksums stand."""
    files = {}
    for path in sorted(p for p in generation.rglob("*") if p.is_file()):
        name, size = path.relative_to(generation).as_posix(), path.stat().st_size
        entry = (known or {}).get(name)
        files[name] = entry if entry is not None and entry["size"] == size else {"size": size, "sha256": _sha256(path)}
    full = {
        "format_version": PARTIAL_FORMAT_VERSION if VECTOR_MASK in files else FORMAT_VERSION,
        "hybridsearch_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **manifest,
        "files": files,
    }
    (generation / MANIFEST).write_text(json.dumps(full, indent=2, ensure_ascii=False), encoding="utf-8")
    return full


def linked(old: Path, work: Path, files: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Hard-link (copy where links fail) these files of generation `old`, listed as in its manifest, into
    `work`; returns their entries for `write_manifest` (files are never changed in place)."""
    for name in files:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(old / name, work / name)
        except OSError:  # file systems without hard links
            shutil.copy2(old / name, work / name)
    return files


def verify_files(generation: Path, manifest: dict[str, Any], manifest_sha256: str | None) -> list[str]:
    """Problems found by re-hashing the manifest (against CURRENT's checksum) and every file it
    lists, and files in the generation that it does not list (empty when all is well)."""
    problems = []
    if manifest_sha256 is None:
        problems.append(f"{POINTER} holds no checksum of {MANIFEST}")
    elif _sha256(generation / MANIFEST) != manifest_sha256:
        problems.append(f"{MANIFEST} does not match the checksum in {POINTER}")
    listed = _listed_files(manifest)
    for path in sorted(generation.rglob("*")):
        name = path.relative_to(generation).as_posix()
        if path.is_symlink():
            problems.append(f"{name} is a link (an index holds only plain files)")
        elif not path.is_dir() and name not in listed and name != MANIFEST:
            problems.append(f"{name} is not a file of the index")
    for name, expected in listed.items():
        path = generation / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif _sha256(path) != expected["sha256"]:
            problems.append(f"{name} does not match its checksum")
    return problems


def rebuild_hint(index_dir: Path) -> str:
    """The fix for a damaged or incompatible index, as said in every error about one."""
    return f"rebuild it with: hsearch index PATH --index {index_dir} --rebuild"


def _next_number(index_dir: Path) -> int:
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()]
    return max(numbers, default=0) + 1


def _replace_pointer(index_dir: Path, name: str, manifest_sha256: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".pointer-", dir=index_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{name}\nmanifest sha256 {manifest_sha256}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / POINTER)
    with suppress(OSError):  # the new CURRENT is in place; a failed flush of the folder is not a failed write
        _fsync_dir(index_dir)


def _remove_old(index_dir: Path) -> None:
    live = read_pointer(index_dir).name
    generations = sorted(p for p in index_dir.glob("gen-*") if p.is_dir() and _GENERATION.fullmatch(p.name))
    keep = {live} | {p.name for p in generations[-_KEEP_GENERATIONS:]}
    for path in generations:
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # platforms without directory handles
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
