"""What every `hsearch` command shares: the click group, the options of several commands, the
conversion of library errors, progress bars, and printing file names safely."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..access import Principal
from ..config import (
    ModelAccess,
)
from ..errors import HybridSearchError
from ..version import __version__
from ..writer import ProgressEvent
from .options import config_option, config_options, configured

__all__ = [
    "DEFAULT_INDEX",
    "EXIT_SKIPPED",
    "ProgressBars",
    "api_base_option",
    "api_key_env_option",
    "cli",
    "config_options",
    "configured",
    "device_option",
    "grants_of",
    "index_option",
    "principal_of",
    "principal_options",
    "printable",
    "rerank_option",
    "say",
    "trust_option",
    "user_errors",
]

DEFAULT_INDEX = "indexes/default"

device_option = click.option("--device", help="Torch device for a local model: cpu, cuda, mps… [default: cpu].")

trust_option = config_option("dense", "trust_remote_code")
api_base_option = config_option("dense", "api_base")
api_key_env_option = config_option("dense", "api_key_env")
rerank_option = click.option(
    "--rerank", "rerank_dir", type=click.Path(file_okay=False, path_type=Path), metavar="MODEL_DIR",
    help="Re-score the best candidates with this local CrossEncoder folder (off by default).",
)  # fmt: skip


def principal_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--user NAME` and `--group G`: whom a command reads the index as (`principal_of`)."""
    command = click.option(
        "--group", "groups", multiple=True, metavar="G",
        help="A group the --user is in (repeatable).",
    )(command)  # fmt: skip
    return click.option(
        "--user", metavar="NAME",
        help="Read the index as this user: only documents they may read (without it: only documents open to "
        "everyone, where readers are set).",
    )(command)  # fmt: skip


def principal_of(user: str | None, groups: tuple[str, ...]) -> Principal | None:
    """The principal `--user`/`--group` name (None: none); a group without a user is a usage error."""
    if user is None:
        if groups:
            raise click.UsageError("--group needs --user (the user who is in those groups).")
        return None
    with user_errors():
        return Principal(user, groups=groups)


def grants_of(options: dict[str, Any]) -> ModelAccess:
    """What the caller grants a model in this command (an index cannot grant these itself)."""
    return ModelAccess(options.get("api_base"), options.get("api_key_env"), bool(options.get("trust_remote_code")))


index_option = click.option(
    "--index",
    "index_dir",
    envvar="HSEARCH_INDEX",
    default=DEFAULT_INDEX,
    show_default=True,
    help="Index folder (env: HSEARCH_INDEX).",
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Library errors become one-line click errors (exit status 1)."""
    try:
        yield
    except HybridSearchError as error:
        raise click.ClickException(str(error)) from None


def say(message: str) -> None:
    click.echo(printable(message), err=True)


#: Characters a file name may hold that would act on a terminal instead of showing: control
#: characters (escape sequences, newlines, carriage returns) and bidirectional overrides.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with terminal-active characters shown as escapes (\\x1b, \\n, \\u202e…)."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class ProgressBars:
    """Renders a write's `ProgressEvent`s as tqdm bars on stderr (one per stage) and its warnings on
    lines of their own: `write_index(..., progress=bars, warn=bars.warn)`, then `bars.close()`."""

    _LABELS = {"reading files": "Reading", "tokenizing": "Tokenizing", "encoding chunks": "Encoding",
               "encoding sentences": "Encoding"}  # fmt: skip

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.stage: str | None = None
        self.bar: Any = None

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        if event.stage != self.stage:
            self.close()
            self.stage = event.stage
            if event.stage == "loading model":
                say(f"Loading model {event.detail} …")
                return
            if event.stage == "searchable by words":
                say(f"Searchable by words now; encoding the vectors of {event.total} chunk(s) …")
                return
            if event.total == 0:
                return
            from tqdm import tqdm

            label = self._LABELS.get(event.stage, event.stage.capitalize())
            self.bar = tqdm(total=event.total, desc=label, unit=f" {event.unit}", file=sys.stderr, dynamic_ncols=True)
        if self.bar is not None:
            self.bar.update(event.done - self.bar.n)

    def warn(self, message: str) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        with tqdm.external_write_mode(file=sys.stderr):
            say(f"warning: {message}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hsearch")
def cli() -> None:
    """Japanese hybrid search: BM25 over MeCab terms + dense embeddings, mixed with --alpha."""


#: Exit status of `hsearch index` when the index was written but some input had to be skipped.
EXIT_SKIPPED = 3
