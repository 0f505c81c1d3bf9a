"""Who may read what: a search, a `get` or a field listing made as a `Principal` sees only the
documents that principal may read, and nothing in its answer names another.

A document's readers are decided when it is indexed and stored in its metadata field `readers`:
`everyone`, `user:NAME` and `group:NAME` entries. They come from, most specific first:

1. the document's own `readers` field (front matter `readers: [group:somu, user:tanaka]`, a CSV
   or JSONL column `readers` with `group:somu, user:tanaka`);
2. the `[readers]` rules of its folder's `hsearch.toml` (`"人事/**" = ["group:jinji"]`; the last
   pattern that matches decides);
3. its file's POSIX owner, group and mode, with `--acl posix` (`loaders.permissions`);
4. the index's default: everyone, or no one with `--private`.

A document without a `readers` field (no rule applied, or written before readers existed) is open
to everyone. A request without a principal is a request by no one in particular: it sees the
documents open to everyone and nothing else. An entry that is not one of the three forms is left
out with a warning, and a document left with no entry is readable by no one (a typo never opens a
document to everyone).

The principal's filter is one more condition on the request's filter (`restricted`), so it acts
where `where` acts: before each side picks its candidates, on both backends. BM25's statistics
(IDF, average length) stay those of the whole index, as they do for `where`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .filters import Condition, Filter

__all__ = [
    "EVERYONE",
    "NOBODY",
    "READERS_FIELD",
    "Principal",
    "can_read",
    "checked_entries",
    "parse_readers",
    "restricted",
]

#: The metadata field that holds a document's readers.
READERS_FIELD = "readers"
#: The entry for a document anyone may read.
EVERYONE = "everyone"
#: What a document no one may read holds (no principal ever has it).
NOBODY = "nobody"

_NAME = re.compile(r"[^\s,、:][^\s,、]*")
_ENTRY = re.compile(rf"(?:user|group):{_NAME.pattern}|{EVERYONE}")
_SEPARATORS = re.compile(r"[\s,、]+")


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user name and the groups the user is in.

    index.search("給与規程", principal=Principal("tanaka", groups=["somu"]))
    """

    user: str
    groups: Sequence[str] = field(default=())

    def __post_init__(self) -> None:
        groups = (self.groups,) if isinstance(self.groups, str) else tuple(self.groups)
        for kind, name in [("user", self.user), *(("group", group) for group in groups)]:
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise InputError(f"A {kind} name is text without spaces, commas or a leading ':' (got {name!r}).")
        object.__setattr__(self, "groups", tuple(dict.fromkeys(groups)))

    @property
    def entries(self) -> tuple[str, ...]:
        """The `readers` entries that open a document to this principal."""
        return (EVERYONE, f"user:{self.user}", *(f"group:{group}" for group in self.groups))


def parse_readers(value: Any, where: str, warn: Callable[[str], None]) -> list[str]:
    """A `readers` value (a list of entries, or text with entries separated by commas or spaces) as
    the list stored: entries that are not `everyone`, `user:NAME` or `group:NAME` are left out with
    a warning naming `where`; a value left with none is `[NOBODY]`."""
    items: Iterable[Any] = value if isinstance(value, list) else _SEPARATORS.split(str(value).strip())
    found, wrong = [], []
    for item in items:
        text = str(item).strip()
        if _ENTRY.fullmatch(text):
            found.append(text)
        elif text:
            wrong.append(text)
    if wrong:
        warn(f"{where}: readers {', '.join(map(repr, wrong[:3]))} are not everyone, user:NAME or group:NAME; "
             "left out")  # fmt: skip
    return list(dict.fromkeys(found)) or [NOBODY]


def checked_entries(value: Any, where: str) -> list[str]:
    """A list of `readers` entries an operator wrote (hsearch.toml), or an `InputError` naming `where`."""
    if not isinstance(value, list) or not all(isinstance(item, str) and _ENTRY.fullmatch(item) for item in value):
        raise InputError(f'{where} must be a list of "everyone", "user:NAME" or "group:NAME" (got {value!r}).')
    return list(dict.fromkeys(value)) or [NOBODY]


def restricted(where: Filter | None, principal: Principal | None) -> Filter:
    """`where` with the condition that the document is readable by `principal` (None: by everyone)."""
    condition = Condition(READERS_FIELD, "readable", _entries(principal))
    return Filter((*(where.conditions if where else ()), condition))


def can_read(metadata: Mapping[str, Any], principal: Principal | None) -> bool:
    """Whether a document with this metadata is readable by `principal` (None: by everyone)."""
    readers = metadata.get(READERS_FIELD)
    if readers is None:
        return True
    entries = _entries(principal)
    return any(entry in entries for entry in (readers if isinstance(readers, list) else [readers]))


def _entries(principal: Principal | None) -> tuple[str, ...]:
    """The `readers` entries that open a document to `principal` (None: no one in particular)."""
    return principal.entries if principal is not None else (EVERYONE,)
