"""`hsearch watch`: keep an index current with folders, from file-system events."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from ..config import IndexConfig
from .common import (
    api_base_option,
    api_key_env_option,
    cli,
    configured,
    device_option,
    grants_of,
    index_option,
    say,
    trust_option,
    user_errors,
)
from .options import config_option


@cli.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="DIR...")
@index_option
@click.option("--poll", type=click.FloatRange(min=0, min_open=True), is_flag=False, flag_value=2.0, default=None,
              metavar="[SECONDS]",
              help="Poll the folders every SECONDS (2 if not given) instead of listening for the OS's events "
                   "(network shares are polled anyway).")  # fmt: skip
@click.option("--debounce", type=click.FloatRange(min=0), default=0.4, show_default=True, metavar="SECONDS",
              help="Seconds of quiet after a change before the index is updated.")  # fmt: skip
@click.option("--exclude", "exclude", multiple=True, metavar="PATTERN",
              help="Leave out files and folders matching this gitignore pattern, as hsearch index does.")  # fmt: skip
@click.option("--config", "config_file", type=click.Path(path_type=Path), metavar="FILE",
              help="Read the folders with this config file instead of each folder's own hsearch.toml.")  # fmt: skip
@config_option("dense", "model")
@device_option
@api_base_option
@api_key_env_option
@trust_option
@click.option("-q", "--quiet", is_flag=True, help="No warnings about skipped files; only the update lines.")
def watch(
    folders: tuple[Path, ...], index_dir: str, poll: float | None, debounce: float, exclude: tuple[str, ...],
    config_file: Path | None, device: str | None, quiet: bool, **options: Any,
) -> None:  # fmt: skip
    """Keep the index current with the folders DIR...: catch up with what changed since it last ran,
    then update it a moment after each change (a burst of saves is one update), with the model loaded
    once, so an edit is searchable within a second or so.

    The index is made if it does not exist (--model, else the default model). Ignore rules,
    .hsearchignore and hsearch.toml apply as for hsearch index; a change to an ignored file, or
    inside an index folder, does nothing. While another hsearch index writes the index, the update
    waits for it. Ctrl-C or SIGTERM stops it (exit 0); an update it interrupts leaves the index as
    it was, and the next start catches up.
    """
    from ..watch import Watcher

    def warn(message: str) -> None:
        if not quiet:
            say(f"watch: warning: {message}")

    with user_errors():
        watcher = Watcher(
            index_dir, list(folders), model=options.get("model"), config=configured(IndexConfig(), options),
            access=grants_of(options), device=device, poll=poll, debounce=debounce, ignore=exclude,
            config_file=config_file, log=say, warn=warn,
        )  # fmt: skip
        previous = {}
        if threading.current_thread() is threading.main_thread():  # (CliRunner in a test's thread: no signals)
            previous = {sig: signal.signal(sig, watcher.signalled) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            watcher.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    say("watch: stopped")
