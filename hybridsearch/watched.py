"""A folder `hsearch watch` watches: which of its changes can change the index (as the walk of
`loaders.files` reads the folder), and whether it lies on a network file system, to be polled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from .errors import InputError
from .loaders import PathArg, loader_for
from .loaders.files import is_index_folder, left_out
from .loaders.folder_config import CONFIG_FILE, FolderConfig, folder_configs
from .loaders.ignore import IGNORE_FILE, IgnoreRules

__all__ = ["NETWORK_FILE_SYSTEMS", "WatchedFolder"]

#: File systems whose changes made by other machines the OS does not report: polled.
NETWORK_FILE_SYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs", "vboxsf",
     "vmhgfs", "drvfs", "davfs"}
)  # fmt: skip


class WatchedFolder:
    """A watched folder, and which of its paths can change what the index holds (as the walk of
    `loaders.files` decides it: hidden names, index folders, ignore rules, `hsearch.toml`'s
    include/exclude, types a loader reads)."""

    def __init__(self, given: PathArg, ignore: Sequence[str], config_file: PathArg | None, index: str | None) -> None:
        self.given = os.fspath(given)
        self.root = Path(os.path.abspath(self.given))
        self.ignore = tuple(ignore)
        self.config_file = None if config_file is None else Path(config_file)
        self.index = index  # the watched index's folder, resolved (None: not a local index)
        self._config: FolderConfig | None = None
        self._config_read = False

    def relevant(self, path: str, is_folder: bool) -> bool:
        """Can a change at `path` (under this folder) change the index?"""
        target = Path(path)
        try:
            parts = target.relative_to(self.root).parts
        except ValueError:
            return False
        if not parts:  # the folder itself (gone, or moved)
            return True
        if self.index is not None and _inside(os.path.realpath(target), self.index):
            return False
        if any(part.startswith(".") for part in parts[:-1]):
            return False
        name = parts[-1]
        if name.startswith("."):
            return name == IGNORE_FILE and not is_folder  # the rules of what is read changed
        if parts == (CONFIG_FILE,) and self.config_file is None:
            self._config_read = False  # read again at the next event
            return True
        try:
            return self._walked(target, parts, is_folder)
        except InputError:  # a .hsearchignore or hsearch.toml that does not parse: the update says so
            return True

    def _walked(self, target: Path, parts: tuple[str, ...], is_folder: bool) -> bool:
        config = self._folder_config()
        rules = IgnoreRules(self.root, self.ignore)
        folder = self.root
        rules.enter(folder)
        for part in parts[:-1]:
            folder = folder / part
            if is_index_folder(folder) or left_out(folder, rules, config, is_folder=True):
                return False
            rules.enter(folder)
        if is_folder:
            return not is_index_folder(target) and not left_out(target, rules, config, is_folder=True)
        if parts[-1] == CONFIG_FILE or left_out(target, rules, config):
            return False
        return loader_for(target.suffix.lower()) is not None

    def _folder_config(self) -> FolderConfig | None:
        if not self._config_read:
            self._config = folder_configs([self.root], self.config_file).get(self.root)  # as `hsearch index` reads it
            self._config_read = True
        return self._config

    def network_file_system(self) -> str | None:
        """The type of the network file system the folder is on (NFS, SMB/CIFS, FUSE…), where the OS
        does not see other machines' changes; None for a local one, or where it cannot be told."""
        system = _file_system(self.root)
        return system if system is not None and (system in NETWORK_FILE_SYSTEMS or system.startswith("fuse.")) else None


def _inside(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies in it (both resolved)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _file_system(path: Path) -> str | None:
    """The type of the file system `path` is on (Linux: from /proc/self/mounts), or None."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            lines = mounts.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, found = -1, None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])  # \040 is a space
        if _inside(real, point) and len(point) > best:
            best, found = len(point), fields[2]
    return found
