"""Which files and folders a folder walk leaves out: the junk every file share holds, the patterns
given with `--exclude`, and `.hsearchignore` files, in gitignore syntax (read with pathspec).

An ignored file is not read and not reported as skipped; a document indexed from it before is
dropped, as for a deleted file. A `.hsearchignore` applies to its folder and everything under it,
its patterns relative to that folder; `--exclude` patterns are relative to each folder given. A
pattern that does not parse is an error naming the file and line, never a file silently indexed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

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


class IgnoreRules:
    """The rules of one walk from `root`: the defaults, the given `patterns`, and each
    `.hsearchignore` of a folder the walk has entered."""

    def __init__(self, root: Path, patterns: Sequence[str] = ()) -> None:
        self.root = root
        self._given = _spec(patterns, "--exclude")
        self._by_folder: dict[Path, GitIgnoreSpec] = {}

    def enter(self, folder: Path) -> None:
        """Read `folder`'s `.hsearchignore`, if it has one (call on each folder before its entries)."""
        rules = folder / IGNORE_FILE
        if not rules.is_file():
            return
        try:
            text = rules.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"Cannot read {rules}: {error}; fix it or remove it.") from None
        self._by_folder[folder] = _spec(text.splitlines(), str(rules))

    def ignored(self, path: Path, is_folder: bool = False) -> bool:
        """Whether the walk leaves `path` (a file, or a folder with `is_folder`) out."""
        slash = "/" if is_folder else ""
        if _DEFAULTS.match_file(path.name.lower() + slash):
            return True
        if self._given.match_file(_relative(path, self.root) + slash):
            return True
        return any(spec.match_file(_relative(path, folder) + slash) for folder, spec in self._applying(path))

    def _applying(self, path: Path) -> Iterable[tuple[Path, GitIgnoreSpec]]:
        for folder in path.parents:
            spec = self._by_folder.get(folder)
            if spec is not None:
                yield folder, spec
            if folder == self.root:
                return


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _spec(lines: Iterable[str], source: str) -> GitIgnoreSpec:
    patterns = []
    for number, line in enumerate(lines, 1):
        try:
            GitIgnoreSpec.from_lines([line])  # pathspec's error does not say which line
        except ValueError:
            raise InputError(f"{source} line {number}: {line.strip()!r} is not a gitignore pattern.") from None
        patterns.append(line)
    return GitIgnoreSpec.from_lines(patterns)
