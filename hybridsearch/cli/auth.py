"""`hsearch auth add-user`: a user of a server's auth file (`hsearch serve --auth FILE`)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import auth as auth_file
from .common import cli, say, user_errors


@cli.group()
def auth() -> None:
    """The users of an auth file: who may call `hsearch serve --auth FILE`, with which token, in which groups.

    The file is TOML, one [[users]] table each (name, groups, token_sha256); it holds each token's
    sha256, never the token. The server reads it when it starts.
    """


@auth.command("add-user")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("name")
@click.option("--group", "groups", multiple=True, metavar="G", help="A group the user is in (repeatable).")
def add_user(file: Path, name: str, groups: tuple[str, ...]) -> None:
    """Add user NAME to FILE (created, readable by you only, when missing) and print their new token.

    The token is printed once, on stdout, and not stored: give it to NAME, who sends it as
    `Authorization: Bearer <token>` (or types it into the search page)."""
    with user_errors():
        token = auth_file.add_user(file, name, groups)
    in_groups = f" in {', '.join(groups)}" if groups else ""
    say(f"Added {name}{in_groups} to {file}; their token (shown this once; restart hsearch serve to let them in):")
    click.echo(token)
