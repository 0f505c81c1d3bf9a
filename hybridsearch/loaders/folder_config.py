"""`hsearch.toml`: how a folder is read, written once beside its files instead of in every command.

    # hsearch.toml, in the folder given to `hsearch index` (or named with --config)
    include = ["規程/", "FAQ/"]        # only these files and folders are read (gitignore patterns)
    exclude = ["下書き/", "*.bak"]      # left out, as in .hsearchignore
    threshold = 0.4                    # the index's confidence threshold (weaker hits are marked weak)

    [links]                            # a hit's link: the address of its folder + its path below it
    "." = "file://fileserver/share/総務/"
    "人事" = "https://hr.example.jp/docs/"

    [readers]                          # who may read the files a pattern matches (access.py); the last match decides
    "**" = ["everyone"]
    "人事/**" = ["group:jinji", "user:sato"]

    [[files]]                          # rules for the files a pattern matches; later blocks win
    match = "FAQ/*.csv"
    text = "回答"                      # CSV/JSONL columns (else --text-field, else by name and content)
    title = "質問"
    id = "番号"
    metadata = { "部署" = "総務" }        # fields a document has unless its source says otherwise

Patterns and folders are relative to the folder the file is in (for --config: to each folder
given); a subfolder or a file indexed on its own follows the nearest `hsearch.toml` above it.
`include` and `exclude` decide before any `.hsearchignore` (whose `!` cannot bring back what they
leave out). Unknown keys and values of the wrong kind are errors naming the file and the key. The
rules that apply to a file are part of its identity (`FileRules.key`), so a file whose rules
change is read again on the next run, as if it had changed.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import tomllib
from pathspec import GitIgnoreSpec

from ..access import READERS_FIELD, checked_entries, parse_readers
from ..config import LoaderConfig
from ..errors import InputError
from ..schema import Document
from .base import BUILTIN_FIELDS, Warn, metadata_value

__all__ = ["CONFIG_FILE", "LINK_FIELD", "FileRules", "FolderConfig", "folder_configs", "threshold_of"]

#: The config file a folder's walk reads (it is not a document).
CONFIG_FILE = "hsearch.toml"

_TOP_KEYS = ("include", "exclude", "threshold", "links", "readers", "files")
_FILE_KEYS = ("match", "text", "title", "id", "metadata")
_LINK_SCHEMES = ("http://", "https://", "file://")
_ADDRESS = re.compile(r"(?:https?://[^\s/]+|file://[^\s]*)[^\s]*")  # a host after http(s), no spaces
#: A key that is not ASCII and not quoted, which TOML does not allow (部署 = "総務").
_BARE_JAPANESE_KEY = re.compile(r"(?:^|[{,])[ \t]*[^\x00-\x7f][^=\n]*=", re.M)
#: The metadata field that holds a document's link.
LINK_FIELD = "link"


@dataclass(frozen=True)
class FileRules:
    """What `hsearch.toml` says about one file: its record columns, metadata defaults and link."""

    text: str | None = None
    title: str | None = None
    id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    link: str | None = None
    readers: tuple[str, ...] | None = None  # None: no rule says

    @property
    def key(self) -> str:
        """These rules as text ("" for none), folded into the file's identity."""
        if self == FileRules():
            return ""
        fields = [self.text, self.title, self.id, dict(self.metadata), self.link]
        return json.dumps(fields + ([list(self.readers)] if self.readers is not None else []), ensure_ascii=False)

    def loader_config(self, config: LoaderConfig) -> LoaderConfig:
        """`config` with the record columns these rules name."""
        return replace(
            config,
            text_field=self.text or config.text_field,
            title_field=self.title or config.title_field,
            id_field=self.id or config.id_field,
        )

    def applied(self, document: Document, warn: Warn) -> Document:
        """`document` with the metadata defaults its source lacks, the link (a source's own field
        named `link` is stored as `link_`: a file's author cannot point 「原本を開く」 elsewhere) and
        its readers (its own `readers` field, else these rules')."""
        metadata = {key: value for key, value in self.metadata.items() if key not in document.metadata}
        metadata |= document.metadata
        if LINK_FIELD in metadata:  # only hsearch.toml says where an original is: never a document itself
            warn(f"{document.path}: its field {LINK_FIELD!r} is stored as {LINK_FIELD + '_'!r} "
                 f"({LINK_FIELD!r} is the link to the original that {CONFIG_FILE} sets)")  # fmt: skip
            metadata[LINK_FIELD + "_"] = metadata.pop(LINK_FIELD)
        if self.link is not None:
            metadata[LINK_FIELD] = self.link
        if READERS_FIELD in metadata:  # the document's own readers come first
            metadata[READERS_FIELD] = parse_readers(metadata[READERS_FIELD], document.path, warn)
        elif self.readers is not None:
            metadata[READERS_FIELD] = list(self.readers)
        return replace(document, metadata=metadata) if metadata != document.metadata else document


@dataclass(frozen=True)
class _FileBlock:
    spec: GitIgnoreSpec
    rules: FileRules


@dataclass(frozen=True)
class FolderConfig:
    """The rules of one `hsearch.toml`, for the files under `root`."""

    root: Path
    source: str = ""
    include: GitIgnoreSpec | None = None
    exclude: GitIgnoreSpec | None = None
    threshold: float | None = None
    links: Mapping[PurePosixPath, str] = field(default_factory=dict)
    readers: tuple[tuple[GitIgnoreSpec, tuple[str, ...]], ...] = ()
    blocks: tuple[_FileBlock, ...] = ()

    @classmethod
    def read(cls, file: Path, root: Path) -> FolderConfig:
        """The config in `file`, for the folder `root` (an error names the file and what is wrong)."""
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"Cannot read {file}: {error}; fix it or remove it.") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            hint = '; a key in Japanese needs quotes: "部署" = "総務"' if _BARE_JAPANESE_KEY.search(text) else ""
            raise InputError(f"{file} is not valid TOML ({error}{hint}).") from None
        return cls._parse(data, str(file), root)

    @classmethod
    def _parse(cls, data: dict[str, Any], source: str, root: Path) -> FolderConfig:
        _known(data, _TOP_KEYS, source)
        include = _patterns(data.get("include", []), f"{source}: include")
        threshold = data.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not (math.isfinite(threshold) and 0 <= threshold <= 1)
        ):
            raise InputError(f"{source}: threshold must be a number from 0 to 1 (got {threshold!r}).")
        return cls(
            root=root,
            source=source,
            include=_spec(include),
            exclude=_spec(_patterns(data.get("exclude", []), f"{source}: exclude")),
            threshold=None if threshold is None else float(threshold),
            links=_links(data.get("links", {}), source),
            readers=_readers(data.get("readers", {}), source),
            blocks=tuple(
                _block(block, f"{source}: [[files]] #{n}") for n, block in enumerate(_tables(data, source), 1)
            ),
        )

    def included(self, path: Path, is_folder: bool = False) -> bool:
        """Whether `include` and `exclude` let the walk read `path` (a folder: walk into it)."""
        relative = self._relative(path).as_posix() + ("/" if is_folder else "")
        if self.exclude is not None and self.exclude.match_file(relative):
            return False
        return self.include is None or is_folder or self.include.match_file(relative)

    def rules(self, path: Path) -> FileRules:
        """What the config says about the file `path`: later [[files]] blocks win key by key."""
        relative = self._relative(path)
        matched = [readers for spec, readers in self.readers if spec.match_file(relative.as_posix())]
        found = FileRules(link=self._link(relative), readers=matched[-1] if matched else None)
        for block in self.blocks:
            if block.spec.match_file(relative.as_posix()):
                own = block.rules
                found = FileRules(
                    text=own.text or found.text,
                    title=own.title or found.title,
                    id=own.id or found.id,
                    metadata={**found.metadata, **own.metadata},
                    link=found.link,
                    readers=found.readers,
                )
        return found

    def _relative(self, path: Path) -> PurePosixPath:
        return PurePosixPath(Path(os.path.abspath(path)).relative_to(os.path.abspath(self.root)).as_posix())

    def _link(self, relative: PurePosixPath) -> str | None:
        for folder in relative.parents:  # the deepest folder with a link decides
            prefix = self.links.get(folder)
            if prefix is not None:
                below = relative.relative_to(folder).as_posix()
                return prefix + quote(below, safe="/")
        return None


def _spec(patterns: list[str]) -> GitIgnoreSpec | None:
    return GitIgnoreSpec.from_lines(patterns) if patterns else None


def folder_configs(
    paths: Sequence[str | os.PathLike[str]], config_file: str | os.PathLike[str] | None = None
) -> dict[Path, FolderConfig]:
    """The config of each path in `paths` (a folder or a file): `config_file` if given (relative to
    each folder, or to a file's folder), else the nearest `hsearch.toml` in the folder or above it
    (so a subfolder or a file indexed on its own follows its share's rules); paths without one are
    left out."""
    given = Path(config_file) if config_file is not None else None
    if given is not None and not given.is_file():
        raise InputError(f"No such config file: {given}")
    found: dict[Path, FolderConfig] = {}
    for path in map(Path, paths):
        folder = Path(os.path.abspath(path if path.is_dir() else path.parent))
        if given is not None:
            found[path] = FolderConfig.read(given, folder)
            continue
        nearest = next((above for above in (folder, *folder.parents) if (above / CONFIG_FILE).is_file()), None)
        if nearest is not None:
            found[path] = FolderConfig.read(nearest / CONFIG_FILE, nearest)
    return found


def threshold_of(configs: Mapping[Path, FolderConfig]) -> float | None:
    """The confidence threshold the configs set (an error when two set different ones)."""
    thresholds = {config.threshold: config.source for config in configs.values() if config.threshold is not None}
    if len(thresholds) > 1:
        named = ", ".join(f"{value:g} in {source}" for value, source in thresholds.items())
        raise InputError(f"The config files set different thresholds ({named}); an index has one.")
    return next(iter(thresholds), None)


def _known(data: Mapping[str, Any], keys: Sequence[str], where: str) -> None:
    unknown = [key for key in data if key not in keys]
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(keys)}).")


def _patterns(value: Any, where: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
        raise InputError(f"{where} must be a pattern or a list of patterns (got {value!r}).")
    for pattern in values:
        if not pattern.strip() or pattern.lstrip().startswith("#"):
            raise InputError(f"{where}: {pattern!r} is no pattern (blank, or a comment).")
        if "\\" in pattern:
            raise InputError(f"{where}: write folders with '/' ({pattern.replace(chr(92), '/')!r}, not {pattern!r}).")
        try:
            GitIgnoreSpec.from_lines([pattern])
        except ValueError:
            raise InputError(f"{where}: {pattern!r} is not a gitignore pattern.") from None
    return values


def _links(value: Any, source: str) -> dict[PurePosixPath, str]:
    if not isinstance(value, dict):
        raise InputError(f'{source}: [links] must be a table of folder = "address" lines.')
    links = {}
    for folder, prefix in value.items():
        where = f"{source}: [links] {folder!r}"
        if not isinstance(prefix, str) or not _ADDRESS.fullmatch(prefix):
            raise InputError(f"{where} must be an address starting with {', '.join(_LINK_SCHEMES)} (got {prefix!r}).")
        relative = PurePosixPath(folder.rstrip("/") or ".")
        if relative.is_absolute() or ".." in relative.parts or "\\" in folder or ":" in folder:
            raise InputError(f"{where}: name a folder inside this one with '/' ('.' for this folder itself).")
        if relative in links:
            raise InputError(f"{where}: that folder has an address already.")
        links[relative] = prefix if prefix.endswith("/") else prefix + "/"
    return links


def _readers(value: Any, source: str) -> tuple[tuple[GitIgnoreSpec, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise InputError(f'{source}: [readers] must be a table of "pattern" = ["group:NAME", …] lines.')
    rules = []
    for pattern, entries in value.items():
        where = f"{source}: [readers] {pattern!r}"
        _patterns(pattern, where)
        rules.append((GitIgnoreSpec.from_lines([pattern]), tuple(checked_entries(entries, where))))
    return tuple(rules)


def _tables(data: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    blocks = data.get("files", [])
    if not isinstance(blocks, list) or not all(isinstance(block, dict) for block in blocks):
        raise InputError(f"{source}: write file rules as [[files]] blocks.")
    return blocks


def _block(block: dict[str, Any], where: str) -> _FileBlock:
    _known(block, _FILE_KEYS, where)
    if "match" not in block:
        raise InputError(f'{where}: say which files it is for, e.g. match = "FAQ/*.csv".')
    columns: dict[str, Any] = {}
    for key in ("text", "title", "id"):
        value = block.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InputError(f"{where}: {key} must be a column name (got {value!r}).")
        columns[key] = value
    metadata = block.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InputError(f"{where}: metadata must be a table of field = value.")
    values = {}
    for name, value in metadata.items():
        if name == READERS_FIELD:
            raise InputError(f"{where}: say who may read files in [readers], not in metadata.")
        if name in (*BUILTIN_FIELDS, LINK_FIELD):
            raise InputError(f"{where}: metadata {name!r} is a built-in field; name it otherwise.")
        usable = metadata_value(value)
        if usable is None:
            raise InputError(f"{where}: metadata {name!r} must be text, a number, a date or a list of them.")
        values[name] = usable
    matched = _patterns(block["match"], f"{where}: match")
    if not matched:
        raise InputError(f'{where}: match names no files; e.g. match = "FAQ/*.csv".')
    spec = GitIgnoreSpec.from_lines(matched)
    return _FileBlock(spec, FileRules(**columns, metadata=values))
