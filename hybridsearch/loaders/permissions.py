"""A file's readers from POSIX permissions (`--acl posix`): who could open it through the folder
given to `hsearch index`, as a file share serves it.

Reading a file takes its read bit and the search (x) bit of every folder from the one indexed down
to it, each for the class the reader falls in (owner, group, others; the owner's bits alone apply
to the owner, the group's to its members). The readers are `everyone` when every class may; else
each group (the file's, or a folder's when others may read the file) whose members may, and the
file's owner if the owner may; else no one (`access.NOBODY`). Users and groups are named as the
system names them (`#1001`: a number without a name, which no login name looks like). A POSIX ACL
on the file or a folder (`getfacl`), which these bits do not describe, leaves the file to its owner,
with a warning.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Callable
from pathlib import Path

from ..access import EVERYONE, NOBODY

__all__ = ["PosixReaders"]


class PosixReaders:
    """The readers of files under one indexed folder `root` (folder modes are read once per walk)."""

    def __init__(self, root: Path, warn: Callable[[str], None]) -> None:
        self.root = Path(os.path.realpath(root))
        self.warn = warn
        self._folders: dict[Path, tuple[os.stat_result, bool]] = {}  # each folder's mode and whether it has an ACL

    def __call__(self, file: Path, status: os.stat_result) -> list[str]:
        real = Path(os.path.realpath(file))
        folders, acl = self._folders_to(real.parent)
        if acl or _has_acl(real):
            self.warn(f"{file}: a POSIX ACL (getfacl) decides who may read it, which --acl posix does not read; "
                      "readable by its owner only (give its readers in hsearch.toml)")  # fmt: skip
            return [f"user:{_user_name(status.st_uid)}"]
        if all(status.st_mode & bit for bit in _READ) and all(
            all(folder.st_mode & bit for bit in _SEARCH) for folder in folders
        ):
            return [EVERYONE]
        groups = {status.st_gid}
        if status.st_mode & stat.S_IROTH:  # a folder's group may be what lets its members through
            groups |= {folder.st_gid for folder in folders}
        found = [f"group:{_group_name(gid)}" for gid in sorted(groups) if _group_reads(gid, status, folders)]
        if _owner_reads(status, folders):
            found.append(f"user:{_user_name(status.st_uid)}")
        return found or [NOBODY]

    def _folders_to(self, folder: Path) -> tuple[list[os.stat_result], bool]:
        """The modes of `folder` and each folder above it up to the root (not above; only `folder` when
        it is outside), and whether any of them has a POSIX ACL."""
        modes, acl = [], False
        while True:
            if folder not in self._folders:
                self._folders[folder] = (folder.stat(), _has_acl(folder))
            mode, has_acl = self._folders[folder]
            modes.append(mode)
            acl = acl or has_acl
            if folder == self.root or folder.parent == folder or self.root not in folder.parents:
                return modes, acl
            folder = folder.parent


_READ = (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)
_SEARCH = (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)


def _has_acl(path: Path) -> bool:
    """Whether `path` has a POSIX access ACL (False where the file system has no extended attributes)."""
    try:
        return "system.posix_acl_access" in os.listxattr(path)
    except OSError:
        return False


def _group_reads(gid: int, status: os.stat_result, folders: list[os.stat_result]) -> bool:
    """Whether a member of group `gid` (not the owner) may read the file through `folders`."""

    def allows(mode_of: os.stat_result, group_bit: int, other_bit: int) -> bool:
        return bool(mode_of.st_mode & (group_bit if mode_of.st_gid == gid else other_bit))

    return allows(status, stat.S_IRGRP, stat.S_IROTH) and all(
        allows(folder, stat.S_IXGRP, stat.S_IXOTH) for folder in folders
    )


def _owner_reads(status: os.stat_result, folders: list[os.stat_result]) -> bool:
    """Whether the file's owner may read it through `folders`."""
    uid = status.st_uid
    groups = _groups_of(uid)

    def searchable(folder: os.stat_result) -> bool:
        if folder.st_uid == uid:
            return bool(folder.st_mode & stat.S_IXUSR)
        return bool(folder.st_mode & (stat.S_IXGRP if folder.st_gid in groups else stat.S_IXOTH))

    return bool(status.st_mode & stat.S_IRUSR) and all(searchable(folder) for folder in folders)


def _groups_of(uid: int) -> set[int]:
    try:
        user = pwd.getpwuid(uid)
    except KeyError:
        return set()
    return set(os.getgrouplist(user.pw_name, user.pw_gid))


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"#{gid}"
