"""`hsearch serve` (HTTP API, search page, MCP at /mcp) and `hsearch mcp` (MCP over stdio)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click

from ..auth import Users
from ..server.guards import Caller, bearer_users, trusted_headers
from .common import (
    DEFAULT_INDEX,
    api_base_option,
    api_key_env_option,
    cli,
    grants_of,
    principal_of,
    principal_options,
    rerank_option,
    say,
    trust_option,
    user_errors,
)

served_option = click.option(
    "--index",
    "index_options",
    multiple=True,
    envvar="HSEARCH_INDEX",
    default=(DEFAULT_INDEX,),
    show_default=True,
    metavar="DIR | NAME=DIR",
    help="An index to answer from, named by its folder or NAME (repeat for several; env: HSEARCH_INDEX).",
)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _served(index_options: tuple[str, ...], rerank_dir: Path | None, options: dict[str, Any]) -> Any:
    from ..rerank import load_reranker
    from ..server.indexes import ServedIndexes, parse_index_options

    access = grants_of(options)
    reranker = None if rerank_dir is None else load_reranker(rerank_dir, trust_remote_code=access.trust_remote_code)
    return ServedIndexes(parse_index_options(index_options), access, reranker=reranker)


@cli.command()
@served_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8800, show_default=True, help="Port to listen on.")
@click.option(
    "--token-env",
    metavar="VAR",
    help="Require `Authorization: Bearer <token>`, the token read from this environment variable (one token for "
    "every caller, who then reads only the documents open to everyone).",
)
@click.option(
    "--auth",
    "auth_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Callers are the users of this TOML file (hsearch auth add-user): each sends their own token and reads "
    "what they may read.",
)
@click.option(
    "--trust-user-header",
    metavar="NAME",
    help="Callers are the user this request header names, set by a reverse proxy that authenticates them "
    "(anyone who reaches the port without the proxy can claim to be anyone).",
)
@click.option(
    "--trust-groups-header",
    metavar="NAME",
    help="With --trust-user-header: the header with the user's groups, comma-separated.",
)
@click.option("--cors", multiple=True, metavar="ORIGIN", help="Let pages from this origin call the API (repeatable).")
@click.option(
    "--allow-host",
    multiple=True,
    metavar="NAME[:PORT]",
    help="Also answer requests addressed to this name, e.g. a LAN name or a proxy's (repeatable; '*': any name, "
    "which lets any web page read the index through DNS rebinding).",
)
@click.option(
    "--max-k", type=click.IntRange(min=1), default=100, show_default=True, help="The most hits one request may ask."
)
@rerank_option
@click.option("--watch", is_flag=True,
              help="Keep each index current with the folders it was built from, as hsearch watch does (local "
                   "indexes whose folders are here).")  # fmt: skip
@api_base_option
@api_key_env_option
@trust_option
def serve(
    index_options: tuple[str, ...], host: str, port: int, token_env: str | None, auth_file: Path | None,
    trust_user_header: str | None, trust_groups_header: str | None, cors: tuple[str, ...],
    allow_host: tuple[str, ...], max_k: int, rerank_dir: Path | None, watch: bool, **options: Any,
) -> None:  # fmt: skip
    """Serve indexes over HTTP: the search page at /, the API (/search, /documents/ID, /docs…), MCP at /mcp.

    New generations written by `hsearch index` are answered from within a second or two; with --watch
    the server writes them itself, a moment after a file in the indexed folders changes. Requests must
    be addressed to 127.0.0.1, localhost, [::1], the --host value, the address they arrived at, or a
    name --allow-host adds (421 otherwise); a page of another origin may call only with --cors.

    Who calls decides what they find, where documents say who may read them: with --auth, each
    caller is a user of FILE; with --trust-user-header, the user a proxy names; otherwise no one in
    particular, who finds only the documents open to everyone.
    """
    token = None
    if token_env:
        token = os.environ.get(token_env, "")
        if len(token) < 16:
            raise click.UsageError(f"Set {token_env} to a token of 16 characters or more (it is unset or too short).")
    caller = _caller(auth_file, token, trust_user_header, trust_groups_header)
    if host not in _LOOPBACK and token is None and auth_file is None:
        raise click.UsageError(
            f"Listening on {host} without a token would let anyone who can reach it search your documents"
            + (" as anyone they name in a header" if trust_user_header else "")
            + ". Set one: export HSEARCH_TOKEN=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\" "
            "and pass --token-env HSEARCH_TOKEN, or give each user a token with --auth FILE."
        )
    try:
        import uvicorn

        from ..server.http import Limits, create_app, lenient_http
        from ..server.mcp import build_server
    except ImportError as error:
        raise click.ClickException(
            f"hsearch serve needs the [serve] and [mcp] extras: pip install 'hybridsearch[serve,mcp]' "
            f"({error.name} is missing)."
        ) from None
    with user_errors():
        indexes = _served(index_options, rerank_dir, options)
    watchers = None
    try:
        with user_errors():
            app = create_app(indexes, token, cors, Limits(k=max_k), build_server(indexes), (host, *allow_host), caller)
            if watch:
                from ..watch import watch_served

                watchers = watch_served(
                    indexes.indexes, log=say, warn=lambda message: say(f"watch: warning: {message}")
                )
        say(f"Serving {', '.join(indexes.names)} at http://{host}:{port}/ (API: /docs, MCP: /mcp)")
        uvicorn.run(app, host=host, port=port, log_level="warning", http=lenient_http())
    finally:
        if watchers is not None:
            watchers.close()
        indexes.close()


def _caller(
    auth_file: Path | None, token: str | None, user_header: str | None, groups_header: str | None
) -> Caller | None:
    """Who `serve`'s callers are: the users of an auth file, a proxy's header, or None."""
    if auth_file is not None and (token is not None or user_header):
        raise click.UsageError("--auth checks each caller's own token; give it without --token-env and headers.")
    if groups_header and not user_header:
        raise click.UsageError("--trust-groups-header needs --trust-user-header (the user in those groups).")
    for header in filter(None, (user_header, groups_header)):
        if not _HEADER_NAME.fullmatch(header):
            raise click.UsageError(f"{header!r} is not an HTTP header name (letters, digits and - _ . ! …).")
    if auth_file is not None:
        with user_errors():
            return bearer_users(Users.load(auth_file))
    return trusted_headers(user_header, groups_header) if user_header else None


@cli.command("mcp")
@served_option
@principal_options
@rerank_option
@api_base_option
@api_key_env_option
@trust_option
def mcp_command(
    index_options: tuple[str, ...], user: str | None, groups: tuple[str, ...], rerank_dir: Path | None, **options: Any
) -> None:
    """Serve indexes to an MCP client over stdio: tools search, get_document, list_indexes.

    The client reads as --user (in each --group): the documents that user may read; without it, the
    documents open to everyone."""
    principal = principal_of(user, groups)
    try:
        from ..server.mcp import build_server, run_stdio
    except ImportError as error:
        raise click.ClickException(
            f"hsearch mcp needs the [mcp] extra: pip install 'hybridsearch[mcp]' ({error.name} is missing)."
        ) from None
    with user_errors():
        indexes = _served(index_options, rerank_dir, options)
    try:
        run_stdio(build_server(indexes, principal))
    finally:
        indexes.close()
