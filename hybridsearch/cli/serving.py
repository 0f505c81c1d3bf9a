"""`hsearch serve` (HTTP API, search page, MCP at /mcp) and `hsearch mcp` (MCP over stdio)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from .common import (
    DEFAULT_INDEX,
    api_base_option,
    api_key_env_option,
    cli,
    grants_of,
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
    help="Require `Authorization: Bearer <token>`, the token read from this environment variable.",
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
    index_options: tuple[str, ...], host: str, port: int, token_env: str | None, cors: tuple[str, ...],
    allow_host: tuple[str, ...], max_k: int, rerank_dir: Path | None, watch: bool, **options: Any,
) -> None:  # fmt: skip
    """Serve indexes over HTTP: the search page at /, the API (/search, /documents/ID, /docs…), MCP at /mcp.

    New generations written by `hsearch index` are answered from within a second or two; with --watch
    the server writes them itself, a moment after a file in the indexed folders changes. Requests must
    be addressed to 127.0.0.1, localhost, [::1], the --host value, the address they arrived at, or a
    name --allow-host adds (421 otherwise); a page of another origin may call only with --cors.
    """
    token = None
    if token_env:
        token = os.environ.get(token_env, "")
        if len(token) < 16:
            raise click.UsageError(f"Set {token_env} to a token of 16 characters or more (it is unset or too short).")
    if host not in _LOOPBACK and token is None:
        raise click.UsageError(
            f"Listening on {host} without a token would let anyone who can reach it search your documents. Set one: "
            "export HSEARCH_TOKEN=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\" and pass "
            "--token-env HSEARCH_TOKEN."
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
            app = create_app(indexes, token, cors, Limits(k=max_k), build_server(indexes), (host, *allow_host))
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


@cli.command("mcp")
@served_option
@rerank_option
@api_base_option
@api_key_env_option
@trust_option
def mcp_command(index_options: tuple[str, ...], rerank_dir: Path | None, **options: Any) -> None:
    """Serve indexes to an MCP client over stdio: tools search, get_document, list_indexes."""
    try:
        from ..server.mcp import build_server, run_stdio
    except ImportError as error:
        raise click.ClickException(
            f"hsearch mcp needs the [mcp] extra: pip install 'hybridsearch[mcp]' ({error.name} is missing)."
        ) from None
    with user_errors():
        indexes = _served(index_options, rerank_dir, options)
    try:
        run_stdio(build_server(indexes))
    finally:
        indexes.close()
