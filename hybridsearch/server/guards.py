"""The ASGI guards in front of `hsearch serve`'s app, outermost first:

    same_site      the Host header must name this server (421: DNS rebinding), and an Origin header,
                   when sent, must be this server's own or one --cors allows (403)
    limit_body     request bodies over the limit (413)
    identify       who the caller is, on every path but /health, the page and the docs, and on every
                   request but a CORS preflight: a shared token (`bearer_token`), a user's token of
                   an auth file, or a trusted proxy's headers (each a `Caller`; 401 for a wrong
                   token); the principal found goes with the request (`principal_of`)

Each refuses an HTTP request with a one-line `{"detail": ...}` and a websocket in its handshake
(the same status and body where the server can send one, else closed); each lets the lifespan
scope through and no other kind of scope.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..access import Principal
from ..auth import Users
from ..errors import InputError

__all__ = [
    "AllowedHosts", "Caller", "Refused", "bearer_token", "bearer_users", "identify", "limit_body", "principal_of",
    "same_site", "trusted_headers",
]  # fmt: skip

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_AUTHORITY = re.compile(r"(\[[0-9a-f:.]+\]|[^\s:/@\[\]]+)(?::(\d{1,5}))?")


@dataclass(frozen=True)
class AllowedHosts:
    """The names a request may address this server by (its Host header). A page whose own name an
    attacker points at 127.0.0.1 (DNS rebinding) reaches a loopback server, but under that name.

    Always allowed: localhost, 127.0.0.1, [::1] and the address the client connected to, at the
    port it connected to. `names` adds more: (NAME, None) on any port, (NAME, PORT) on that one;
    `anything` allows every name (only behind a proxy that checks the Host itself)."""

    names: frozenset[tuple[str, int | None]] = frozenset()
    anything: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowedHosts:
        """`NAME`, `NAME:PORT` or `*` (what `--allow-host` takes); `InputError` for anything else."""
        entries = list(entries)
        names = set()
        for entry in entries:
            parsed = None if entry == "*" else _address_only(entry) or _authority(entry)
            if parsed is not None:
                names.add(parsed)
            elif entry != "*":
                raise InputError(f"--allow-host takes a host name, NAME:PORT or '*' (got {entry!r}).")
        return cls(frozenset(names), "*" in entries)

    def allow(self, authority: str, scope: Scope) -> bool:
        """Whether `authority` (`name[:port]`) names this server for a request arriving as `scope`
        (`anything` aside)."""
        parsed = _authority(authority)
        if parsed is None:
            return False
        name, port = parsed
        port = port or _DEFAULT_PORTS.get(scope.get("scheme", "http"), 80)
        if (name, None) in self.names or (name, port) in self.names:
            return True
        server = scope.get("server") or (None, None)
        local = LOOPBACK | ({_address(server[0])} if server[0] else set())
        return name in local and server[1] in (None, port)


def same_site(app: App, hosts: AllowedHosts, cors: Sequence[str]) -> App:
    """Refuse a request addressed to a name `hosts` does not allow (421), and one sent from a page
    of another origin (403) unless `cors` lists it: its Origin must be http(s)://<the Host asked
    for, or another allowed name>."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        host = headers.get(b"host", b"").decode("latin-1")
        origin = headers.get(b"origin", b"").decode("latin-1")
        if not (hosts.anything or hosts.allow(host, scope)):
            await refuse(scope, send, 421, _stranger(host))
        elif origin and not _same_origin(origin, host, hosts, cors, scope):
            await refuse(scope, send, 403, f"Requests from pages at {origin[:200]!r} are refused here; a server "
                                           f"started with --cors {origin[:200]} lets them through.")  # fmt: skip
        else:
            await app(scope, receive, send)

    return checked


def _stranger(host: str) -> str:
    if not host:
        return "The request has no Host header; send the name this server is reached by."
    return (
        f"This server does not answer requests addressed to {host[:200]!r} (its guard against DNS rebinding); "
        f"if that name is this server's, start it with --allow-host {host[:200]}."
    )


def _same_origin(origin: str, host: str, hosts: AllowedHosts, cors: Sequence[str], scope: Scope) -> bool:
    if origin in cors or "*" in cors:
        return True
    scheme, found, authority = origin.partition("://")
    if not found or scheme.lower() not in ("http", "https"):
        return False
    return authority.lower() == host.lower() or hosts.allow(authority, scope)


def _authority(text: str) -> tuple[str, int | None] | None:
    """`name[:port]` as (the name as `_address` writes it, the port or None); None when it is not one."""
    match = _AUTHORITY.fullmatch(text.strip().lower())
    if match is None or (match[2] is not None and int(match[2]) > 65535):
        return None
    return _address(match[1]), None if match[2] is None else int(match[2])


def _address_only(text: str) -> tuple[str, None] | None:
    """A bare IPv6 address (`::1`, which `_authority` would read as a name and a port) as (`[::1]`, None)."""
    try:
        ipaddress.IPv6Address(text.strip())
    except ValueError:
        return None
    return _address(text), None


def _address(host: str) -> str:
    """An IP address as a Host header writes it (IPv6 in brackets, IPv4-mapped as IPv4); a name lower-cased."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host.lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return f"[{ip}]"
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip)


_OPEN_PATHS = frozenset({"/health", "/", "/docs", "/openapi.json", "/favicon.ico"})  # the page, the docs, health
_OPEN_PREFIXES = ("/static/", "/docs-assets/")


class Refused(Exception):
    """A caller let in by no one: the status and the one line to answer with."""

    def __init__(self, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


#: Who a request's caller is, from its headers (as the scope has them: lower-case names, in order):
#: a principal, None (no one in particular: documents open to everyone), or `Refused`.
Caller = Callable[[Sequence[tuple[bytes, bytes]]], Principal | None]

_PRINCIPAL = "hybridsearch.principal"
_NO_TOKEN = Refused(
    401, "A valid bearer token is needed: Authorization: Bearer <token>.", [(b"www-authenticate", b"Bearer")]
)


def bearer_token(token: str) -> Caller:
    """One token shared by every caller (`--token-env`): it lets them in as no one in particular."""
    expected = f"Bearer {token}".encode()

    def caller(headers: Sequence[tuple[bytes, bytes]]) -> Principal | None:
        if not hmac.compare_digest(dict(headers).get(b"authorization", b""), expected):
            raise _NO_TOKEN
        return None

    return caller


def bearer_users(users: Users) -> Caller:
    """Each caller sends their own token of the auth file (`--auth`): they are its user."""

    def caller(headers: Sequence[tuple[bytes, bytes]]) -> Principal | None:
        scheme, _, token = dict(headers).get(b"authorization", b"").partition(b" ")
        principal = users.principal(token) if scheme.lower() == b"bearer" else None
        if principal is None:
            raise _NO_TOKEN
        return principal

    return caller


def trusted_headers(user_header: str, groups_header: str | None = None) -> Caller:
    """A reverse proxy that authenticates says who the caller is (`--trust-user-header`): the user in
    one header, their groups comma-separated in another; a request without the user header is by no
    one in particular, one with either header twice is refused (a proxy that adds its header to the
    client's). Whoever reaches the server without the proxy can claim to be anyone."""
    user_key, groups_key = user_header.lower().encode(), (groups_header or "").lower().encode()
    named = [user_header, *([groups_header] if groups_header else [])]
    unnamed = (
        f"The {user_header} and {groups_header or 'groups'} headers do not name a user and their groups "
        "(UTF-8 names without spaces, the groups separated by commas)."
    )

    def caller(headers: Sequence[tuple[bytes, bytes]]) -> Principal | None:
        users = [value for name, value in headers if name == user_key]
        groups_given = [value for name, value in headers if groups_key and name == groups_key]
        if len(users) > 1 or len(groups_given) > 1:
            raise Refused(400, f"The {' or '.join(named)} header came twice; a proxy sends each at most once.")
        if not users:
            return None
        user, groups = users[0], b",".join(groups_given)
        try:
            names = groups.decode().split(",")
            return Principal(user.decode(), groups=[name.strip() for name in names if name.strip()])
        except (UnicodeDecodeError, InputError):
            raise Refused(400, unnamed) from None

    return caller


def identify(app: App, callers: Sequence[Caller]) -> App:
    """Every request but /health, the page and the docs goes through each of `callers` in turn (HTTP
    and websockets alike; only the lifespan scope passes without): any may refuse it, and the last
    principal found goes with it (`principal_of`)."""
    if not callers:
        return app

    async def identified(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (scope["type"] == "http" and _is_open(scope)):
            await app(scope, receive, send)
            return
        headers = list(scope.get("headers", ()))
        principal = None
        try:
            for caller in callers:
                principal = caller(headers) or principal
        except Refused as refusal:
            await refuse(scope, send, refusal.status, refusal.detail, refusal.headers)
            return
        scope[_PRINCIPAL] = principal
        await app(scope, receive, send)

    return identified


def principal_of(scope: Mapping[str, Any]) -> Principal | None:
    """Who `identify` found the caller of this request to be (None: no one in particular)."""
    found = scope.get(_PRINCIPAL)
    return found if isinstance(found, Principal) else None


def _is_open(scope: Scope) -> bool:
    """The page, the docs and health; and a browser's CORS preflight, which carries no token by the
    standard and which the CORS layer answers (--cors) or the app refuses (405), with no data."""
    path = scope["path"]
    preflight = scope["method"] == "OPTIONS" and b"access-control-request-method" in dict(scope["headers"])
    return preflight or path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES)


def limit_body(app: App, limit: int) -> App:
    """Refuse request bodies over `limit` bytes (413), whether or not they say their length: the body
    is read here first (it is small) and handed on whole."""

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await refuse(scope, send, 413, f"The request body is over this server's limit of {limit} bytes.")
            return
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            if size > limit:
                await refuse(scope, send, 413, f"The request body is over this server's limit of {limit} bytes.")
                return
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(parts), False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # then whatever follows (a disconnect)
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)

    return limited


async def refuse(
    scope: Scope, send: Send, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer `status` with `{"detail": detail}`: an HTTP reply, or a websocket's handshake (closed
    where the server cannot send a reply there); nothing for any other scope."""
    kind = scope["type"]
    if kind == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    if kind not in ("http", "websocket"):
        return
    prefix = "websocket." if kind == "websocket" else ""
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    await send({"type": f"{prefix}http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})  # fmt: skip
    await send({"type": f"{prefix}http.response.body", "body": body})
