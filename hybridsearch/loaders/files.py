"""Folder walk → file bytes → the registered loader → Documents.

Files that cannot be used (binary, undecodable, empty, malformed, too large, slower to read than
the time limit, another type than their suffix says, not a regular file) are skipped with a
one-line warning naming the file and the reason, and counted in `LoadReport`; nothing is skipped
silently. Files of a type no loader reads are counted apart, by suffix (a share holds .zip and
.exe files that nobody expects to be searched), and files the ignore rules leave out (`ignore`:
lock files, Thumbs.db, `.hsearchignore`, `--exclude`) and links to files (not followed, as links to
folders are not) are only counted.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..access import NOBODY
from ..config import Acl, LoaderConfig
from ..errors import InputError
from ..schema import Document
from .base import FileInfo, LoadContext, SkipFile, Unsupported, Warn, loader_for
from .folder_config import CONFIG_FILE, FileRules, FolderConfig
from .ignore import IgnoreRules
from .permissions import PosixReaders
from .sniff import mismatch

__all__ = ["LoadReport", "PathArg", "is_index_folder", "iter_documents", "left_out"]

PathArg = str | os.PathLike[str]
Unchanged = Callable[[str, str], bool]


@dataclass
class LoadReport:
    """What a load saw: files read, files and records skipped (with reasons), files unchanged, the
    resolved paths of folders and files that could not be read (their documents stay as they were),
    files of unsupported types (by suffix) and the files and folders the ignore rules left out."""

    files: int = 0
    documents: int = 0
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    skipped_records: int = 0
    unchanged: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unsupported: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    ignored_folders: int = 0


class _Unreadable(SkipFile):
    """A file that exists but cannot be read now (permissions): what the index holds of it stays."""


def iter_documents(
    paths: Iterable[PathArg],
    config: LoaderConfig | None = None,
    report: LoadReport | None = None,
    warn: Warn | None = None,
    unchanged: Unchanged | None = None,
    exclude: Collection[PathArg] = (),
    ignore: Sequence[str] = (),
    configs: Mapping[Path, FolderConfig] = {},
) -> Iterator[Document]:
    """Yield the documents under each path (a folder, walked recursively, or a single file).

    `unchanged(abs_path, sha256)` may say that a file is already indexed as it is: such a file is
    not parsed, and its absolute path is listed in `report.unchanged` instead. Folders in `exclude`
    (the index being written) and folders that are hybridsearch indexes are not walked; `ignore`
    adds gitignore patterns, relative to each folder given, to the built-in ones and `.hsearchignore`
    files (`loaders.ignore`). `configs` holds the `hsearch.toml` of each path given that has one
    (`folder_config.folder_configs`): its include/exclude patterns, record columns, metadata
    defaults and links.
    """
    config = config or LoaderConfig()
    report = report if report is not None else LoadReport()
    warn = warn or (lambda message: None)
    skipped = {os.path.realpath(folder) for folder in exclude}
    posix: dict[Path, PosixReaders] = {}
    for file, rules, root in _walk(paths, report, warn, skipped, ignore, configs):
        report.files += 1
        context = LoadContext(rules.loader_config(config), warn)
        readers = posix.setdefault(root, PosixReaders(root, warn)) if config.acl is Acl.POSIX else None
        try:
            documents = _read_file(file, context, report, unchanged, rules, readers)
        except Unsupported:
            report.unsupported[file.suffix.lower() or "(none)"] += 1
            continue
        except SkipFile as reason:
            if isinstance(reason, _Unreadable):
                report.unreadable.append(os.path.realpath(file))
            report.skipped_files.append((str(file), str(reason)))
            warn(f"skipped {file}: {reason}")
            continue
        report.skipped_records += context.skipped_records
        report.documents += len(documents)
        yield from documents


def _walk(
    paths: Iterable[PathArg],
    report: LoadReport,
    warn: Warn,
    exclude: set[str],
    ignore: Sequence[str],
    configs: Mapping[Path, FolderConfig],
) -> Iterator[tuple[Path, FileRules, Path]]:
    """Every file under `paths` once, in order (a file reached twice, through overlapping paths or a
    link, is read the first time only), with its rules and the folder given that holds it (a file
    given: its folder). A folder that cannot be read is a warning and is noted in
    `report.unreadable`; folders that are hybridsearch indexes are not documents."""

    def unreadable(error: OSError) -> None:
        folder = str(error.filename)
        report.unreadable.append(os.path.realpath(folder))
        report.skipped_files.append((folder, f"cannot read folder ({error.strerror})"))
        warn(f"skipped {folder}: cannot read folder ({error.strerror}); its documents stay in the index as they were")

    seen: set[str] = set()
    for file, folder_config, root in _files(paths, report, unreadable, exclude, ignore, configs):
        real = os.path.realpath(file)
        if real not in seen:
            seen.add(real)
            yield file, folder_config.rules(file) if folder_config is not None else FileRules(), root


def _files(
    paths: Iterable[PathArg],
    report: LoadReport,
    unreadable: Callable[[OSError], None],
    exclude: set[str],
    ignore: Sequence[str],
    configs: Mapping[Path, FolderConfig],
) -> Iterator[tuple[Path, FolderConfig | None, Path]]:
    for given in paths:
        root = Path(given)
        folder_config = configs.get(root)
        if root.is_file():  # a file named on its own is read whatever the rules say
            yield root, folder_config, root.parent
            continue
        if not root.is_dir():
            raise InputError(f"No such file or folder: {root}")
        rules = IgnoreRules(root, ignore)
        # symlinked folders are not followed (no loops)
        for walked, dirnames, filenames in os.walk(root, onerror=unreadable):
            folder = Path(walked)
            rules.enter(folder)
            walked_into = [
                name
                for name in dirnames
                if not name.startswith(".")
                and not (os.path.realpath(folder / name) in exclude or is_index_folder(folder / name))
            ]
            dirnames[:] = sorted(
                name for name in walked_into if not left_out(folder / name, rules, folder_config, is_folder=True)
            )
            report.ignored_folders += len(walked_into) - len(dirnames)
            for name in sorted(filenames):
                if name.startswith(".") or name == CONFIG_FILE:
                    continue
                # a link is not followed (as a linked folder is not): its target, wherever it is, would be
                # read with the readers and rules of the link's place
                if (folder / name).is_symlink() or left_out(folder / name, rules, folder_config):
                    report.ignored += 1
                else:
                    yield folder / name, folder_config, root


def is_index_folder(folder: Path) -> bool:
    """A hybridsearch index folder: a walk never enters one (its files are not documents, and an
    index inside a folder it indexes would otherwise read itself on every run)."""
    try:
        return (folder / "CURRENT").is_file() and (folder / "LOCK").exists()
    except OSError:  # an unreadable folder: the walk reports it
        return False


def left_out(path: Path, rules: IgnoreRules, config: FolderConfig | None, is_folder: bool = False) -> bool:
    """Whether a walk leaves `path` (a file, or a folder with `is_folder`) out: the ignore rules
    (built-in, `.hsearchignore`, `--exclude`) or its `hsearch.toml`'s include and exclude."""
    return rules.ignored(path, is_folder=is_folder) or (config is not None and not config.included(path, is_folder))


def _read_file(
    file: Path,
    context: LoadContext,
    report: LoadReport,
    unchanged: Unchanged | None,
    rules: FileRules,
    posix: PosixReaders | None,
) -> list[Document]:
    suffix = file.suffix.lower()
    loader = loader_for(suffix)
    if loader is None:
        raise Unsupported(suffix)
    try:
        str(file).encode("utf-8")
    except UnicodeEncodeError:
        raise SkipFile("its name is not valid UTF-8; rename it") from None
    try:
        status = file.stat()
        if not stat.S_ISREG(status.st_mode):
            raise SkipFile("not a regular file (a FIFO, socket or device)")
        if status.st_size > context.config.max_file_mb * 2**20:
            size = f"{status.st_size / 2**20:.0f} MB > {context.config.max_file_mb} MB"
            raise SkipFile(f"too large ({size}); raise --max-file-mb to index it")
        data = file.read_bytes()
    except PermissionError as error:
        raise _Unreadable(f"cannot read ({error.strerror}); what the index holds of it stays as it was") from None
    except OSError as error:
        raise SkipFile(f"cannot read ({error.strerror or error})") from None
    wrong_type = mismatch(data, suffix)
    if wrong_type:
        raise SkipFile(wrong_type)
    if rules.readers is None and (posix is not None or context.config.private):  # hsearch.toml first, then these
        rules = replace(rules, readers=tuple(posix(file, status)) if posix is not None else (NOBODY,))
    # a file's identity: its bytes, and the rules it is read with, readers too (a change of those re-reads it)
    abs_path, digest = os.path.realpath(file), hashlib.sha256(data + rules.key.encode()).hexdigest()
    if unchanged is not None and unchanged(abs_path, digest):
        report.unchanged.append(abs_path)
        return []
    info = FileInfo(str(file), abs_path, digest, status.st_mtime, len(data), suffix, context.warn)
    return [rules.applied(document, context.warn) for document in loader(data, info, context)]
