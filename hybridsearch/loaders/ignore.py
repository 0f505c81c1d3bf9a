"""Which files and folders a folder walk leaves out: the junk every file share holds, the patterns
given with `--exclude`, and `.hsearchignore` files, in gitignore syntax (read with pathspec).

An ignored file is not read and not reported as skipped; a document indexed from it before is
dropped, as for a deleted file. A `.hsearchignore` applies to its folder and everything under it,
its patterns relative to that folder, whichever folder the walk starts from (those of the folders
above it count too); `--exclude` patterns are relative to each folder given. As in git, the
deepest rule that matches decides, so `!keep.txt` in a subfolder brings back what a folder above
left out. User patterns match case as written (the built-in ones in any case). A pattern that does
not parse, or that writes folders with a backslash (`old\\*.txt`, a Windows habit that gitignore
reads as an escape), is an error naming the file and line, never a file silently indexed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pathspec import GitIgnoreSpec

from ..errors import InputError

__all__ = ["DEFAULT_IGNORES", "IGNORE_FILE", "IgnoreRules"]

#: The file whose patterns a folder's walk leaves out.
IGNORE_FILE = ".hsearchignore"

#: Left out of every walk, matched against the name alone, in any case (Windows writes them in any):
#: Office lock and temporary files, Windows thumbnail, folder-settings and shortcut files, recycle
#: bins, cache folders and NAS metadata folders. (Hidden files and folders, whose names start with a
#: dot, are never walked: .DS_Store, .git, LibreOffice's .~lock files.)
DEFAULT_IGNORES = (
    "~$*", "~*.tmp", "thumbs.db", "ehthumbs.db", "desktop.ini", "*.lnk", "__pycache__/", "node_modules/",
    "$recycle.bin/", "system volume information/", "@eadir/", "#recycle/", "~snapshot/",
)  # fmt: skip

_DEFAULTS = GitIgnoreSpec.from_lines(DEFAULT_IGNORES)
#: A backslash that is a Windows folder separator, not an escape: before anything but what gitignore
#: escapes in a file name (a backslash, [, !, # or a space; * and ? cannot be in a Windows file name).
_FOLDER_BACKSLASH = re.compile(r"\\[^\\\[!# ]")


class IgnoreRules:
    """The rules of one walk from `root`: the defaults, the given `patterns`, and each
    `.hsearchignore` of a folder the walk has entered."""

    def __init__(self, root: Path, patterns: Sequence[str] = ()) -> None:
        self.root = root
        self._given = _spec(patterns, "--exclude")
        self._by_folder: dict[Path, GitIgnoreSpec] = {}
        for folder in reversed(root.absolute().parents):  # the rules of the folders above the walk's
            self.enter(folder)

    def enter(self, folder: Path) -> None:
        """Read `folder`'s `.hsearchignore`, if it has one (call on each folder before its entries)."""
        folder = folder.absolute()
        rules = folder / IGNORE_FILE
        if not rules.is_file():
            return
        try:
            text = rules.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"Cannot read {rules}: {error}; fix it or remove it.") from None
        self._by_folder[folder] = _spec(text.splitlines(), str(rules))

    def ignored(self, path: Path, is_folder: bool = False) -> bool:
        """Whether the walk leaves `path` (a file, or a folder with `is_folder`) out: the deepest
        `.hsearchignore` with a rule for it decides, then `--exclude`, then the built-in rules."""
        slash = "/" if is_folder else ""
        absolute = path.absolute()
        for folder in absolute.parents:
            spec = self._by_folder.get(folder)
            if spec is not None:
                decided = spec.check_file(absolute.relative_to(folder).as_posix() + slash).include
                if decided is not None:
                    return decided
        decided = self._given.check_file(path.relative_to(self.root).as_posix() + slash).include
        if decided is not None:
            return decided
        return _DEFAULTS.match_file(path.name.lower() + slash)


def _spec(lines: Iterable[str], source: str) -> GitIgnoreSpec:
    patterns: list[Any] = []
    for number, line in enumerate(lines, 1):
        if _FOLDER_BACKSLASH.search(line) and not line.lstrip().startswith("#"):
            fixed = line.strip().replace("\\", "/")
            raise InputError(f"{source} line {number}: write folders with '/' ({fixed!r}, not {line.strip()!r}).")
        try:
            patterns += GitIgnoreSpec.from_lines([line]).patterns  # a line at a time: pathspec's error names none
        except ValueError:
            raise InputError(f"{source} line {number}: {line.strip()!r} is not a gitignore pattern.") from None
    return GitIgnoreSpec(patterns)
