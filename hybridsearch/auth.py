"""Who a server's caller is: the users of an auth file (`hsearch serve --auth FILE`).

    [[users]]
    name = "tanaka"
    groups = ["somu"]
    token_sha256 = "…64 hex digits: the sha256 of the user's token…"

The file is data (TOML, never code) and holds no token, only each token's sha256: a caller's token
is hashed and compared with every user's hash in constant time (`hmac.compare_digest`), so the
answer takes as long for a wrong token as for any user's. `add_user` (`hsearch auth add-user`)
makes a token, appends its hash, and returns the token, which is then shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from .access import Principal
from .errors import InputError

__all__ = ["Users", "add_user", "token_sha256"]

_HASH = re.compile(r"[0-9a-fA-F]{64}")
_KEYS = ("name", "groups", "token_sha256")


def token_sha256(token: str | bytes) -> str:
    """The hex sha256 of a token (its UTF-8 bytes), as an auth file stores it."""
    return hashlib.sha256(token.encode() if isinstance(token, str) else token).hexdigest()


@dataclass(frozen=True)
class _User:
    principal: Principal
    digest: bytes  # the token's sha256


class Users:
    """The users of an auth file, each with a token's hash and a principal (`Users.load`)."""

    def __init__(self, users: Sequence[_User]) -> None:
        self._users = tuple(users)

    @classmethod
    def load(cls, path: str | Path) -> Users:
        """The users of the auth file at `path`; an `InputError` naming it when it is not one or lists no one."""
        users = _read(Path(path))
        if not users:
            raise InputError(f"The auth file {path} lists no users; add one: hsearch auth add-user {path} NAME.")
        return cls(users)

    def principal(self, token: str | bytes) -> Principal | None:
        """The principal whose token this is, or None: every user's hash is compared (in constant time),
        whichever matches."""
        digest = bytes.fromhex(token_sha256(token))
        found = None
        for user in self._users:
            if hmac.compare_digest(digest, user.digest):
                found = user.principal
        return found


def add_user(path: str | Path, name: str, groups: Sequence[str] = ()) -> str:
    """Append a user `name` in `groups` to the auth file at `path` (created, readable by its owner only,
    when missing) with a new token's hash, and return the token (it is not stored). A name the file
    already has is an `InputError`."""
    path = Path(path)
    principal = _principal(name, list(groups), f"{path}: the new user")
    existing = _read(path) if path.exists() else []
    if any(user.principal.user == name for user in existing):
        raise InputError(f"{path} already has a user named {name!r}; choose another name or edit the file.")
    token = secrets.token_urlsafe(32)
    entry = (
        f"\n[[users]]\nname = {_toml(principal.user)}\n"
        f"groups = [{', '.join(map(_toml, principal.groups))}]\ntoken_sha256 = {_toml(token_sha256(token))}\n"
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as file:
            file.write(entry)  # after a blank line: the file may not end with a line break
    except OSError as error:
        raise InputError(f"Cannot write the auth file {path}: {error.strerror or error}.") from None
    return token


def _read(path: Path) -> list[_User]:
    """The users of the auth file at `path`, each checked; an `InputError` naming the file otherwise."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"No auth file at {path}; make one: hsearch auth add-user {path} NAME.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"Cannot read the auth file {path}: {error}.") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"The auth file {path} is not valid TOML: {error}.") from None
    unknown = sorted(set(data) - {"users"})
    if unknown:
        raise InputError(f"{path}: unknown key {', '.join(map(repr, unknown))}; an auth file holds [[users]] only.")
    entries = data.get("users", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise InputError(f"{path}: users must be [[users]] tables (name, groups, token_sha256).")
    users = [_user(entry, f"{path}: users[{number}]") for number, entry in enumerate(entries)]
    name = _repeated(user.principal.user for user in users)
    if name is not None:
        raise InputError(f"{path}: two users are named {name!r}; give each user one entry.")
    if _repeated(user.digest for user in users) is not None:
        raise InputError(f"{path}: two users have the same token_sha256; each needs their own token.")
    return users


def _user(entry: dict[str, Any], where: str) -> _User:
    unknown = sorted(set(entry) - set(_KEYS))
    if unknown:
        raise InputError(f"{where} has unknown key {', '.join(map(repr, unknown))}; a user has {', '.join(_KEYS)}.")
    missing = [key for key in ("name", "token_sha256") if key not in entry]
    if missing:
        raise InputError(f"{where} has no {' and no '.join(missing)}.")
    digest = entry["token_sha256"]
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise InputError(f"{where}: token_sha256 must be 64 hex digits, a token's sha256 (hsearch auth add-user).")
    groups = entry.get("groups", [])
    if not isinstance(groups, list):
        raise InputError(f"{where}: groups must be a list of names (got {groups!r}).")
    return _User(_principal(entry["name"], groups, where), bytes.fromhex(digest))


def _principal(name: Any, groups: list[Any], where: str) -> Principal:
    """The principal of a user entry; an `InputError` naming `where` for a name that is not one (a
    control character included: the file stays one that TOML reads back)."""
    unprintable = next((text for text in (name, *groups) if isinstance(text, str) and not text.isprintable()), None)
    if unprintable is not None:
        raise InputError(f"{where}: {unprintable!r} has a control character; names are printable text.")
    try:
        return Principal(name, groups=groups)
    except InputError as error:
        raise InputError(f"{where}: {error}") from None


def _repeated(values: Iterable[Hashable]) -> Hashable | None:
    """The first value that comes a second time, or None."""
    seen: set[Hashable] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, for printable text)."""
    return json.dumps(text, ensure_ascii=False)
