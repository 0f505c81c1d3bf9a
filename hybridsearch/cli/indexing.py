"""`hsearch index`, `hsearch remove` and `hsearch backup`: write an index from folders, drop documents
from it, copy it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from .. import writer
from ..backends.local.backup import backup_index
from ..backends.local.filled import FILL_LOG
from ..config import IndexConfig
from ..errors import InputError
from ..filling import fill_index
from ..index import HybridIndex
from ..location import IndexLocation
from .common import (
    EXIT_SKIPPED,
    ProgressBars,
    cli,
    config_options,
    configured,
    device_option,
    grants_of,
    index_option,
    say,
    user_errors,
)
from .options import config_option

#: The model grants `hsearch fill` takes (what the caller grants the index's own model), as options.
_GRANTS = {"api_base": "--api-base", "api_key_env": "--api-key-env", "trust_remote_code": "--trust-remote-code"}


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
@config_options("dense", "chunk", "vectors", "tokenizer", "loader")
@device_option
@click.option(
    "--rebuild", is_flag=True, help="Start from scratch (needed to change the settings or model of an index)."
)
@click.option(
    "--no-cache", is_flag=True, help="Encode everything afresh, without reading or writing the embedding cache."
)
@click.option("--reweight", is_flag=True,
              help="Qdrant: compute every chunk's BM25 weights from the true average length now (they are "
                   "kept while it drifts under 10 %; a local index is always exact).")  # fmt: skip
@click.option("--exclude", "exclude", multiple=True, metavar="PATTERN",
              help="Leave out files and folders matching this gitignore pattern, relative to each folder given "
                   "(repeatable; also .hsearchignore files; lock files, Thumbs.db and the like always).")  # fmt: skip
@click.option("--config", "config_file", type=click.Path(path_type=Path), metavar="FILE",
              help="Read the folders with this config file instead of each folder's own hsearch.toml (include, "
                   "exclude, CSV columns, metadata defaults, links, threshold; see the README).")  # fmt: skip
@click.option("--no-wait", is_flag=True,
              help="Return once the index is searchable by its words; a background hsearch fill adds the vectors "
                   "(see hsearch info; its output goes to fill.log in the index folder).")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or warnings; only the summary.")
def index(
    paths: tuple[Path, ...], index_dir: str, rebuild: bool, no_cache: bool, reweight: bool, exclude: tuple[str, ...],
    config_file: Path | None, no_wait: bool, quiet: bool, device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Index the documents under PATHS (folders or files): txt, md, html, csv, jsonl, pdf, docx, xlsx,
    xlsm, pptx, and doc, xls, ppt when LibreOffice is installed.

    Re-running updates the index: only added or changed files are read and encoded, and documents
    whose files are gone from PATHS are dropped; other folders indexed earlier stay. Settings not
    given are the index's own; --rebuild starts from the defaults but keeps the index's query
    defaults and synonyms file. A folder's hsearch.toml (or --config) says which files to read, which
    CSV/JSONL columns hold the text, metadata defaults, links to the originals and the confidence
    threshold. Vectors computed before (by any index, or a run that was killed)
    come from the embedding cache (see hsearch cache). Files the ignore rules leave out and files of
    types no loader reads are counted in the summary. Exit status 3: written, but a file that should
    have been read (or a record of one) could not be.

    A large write to a local index comes in two phases: first the documents, chunks and BM25 (the index
    answers by its words within seconds), then the vectors in batches, each committed (search meanwhile:
    a chunk without its vector competes on its words alone). It returns when the vectors are in, unless
    --no-wait: then a background hsearch fill adds them (see hsearch fill).
    """
    bars = ProgressBars(quiet)
    try:
        with user_errors():
            stored = HybridIndex.stored_config(index_dir)
            base = IndexConfig().searched_as(stored) if rebuild and stored else stored
            report = writer.write_index(
                index_dir, list(paths), config=configured(base, options) or (base if rebuild else None), device=device,
                rebuild=rebuild,
                progress=bars, warn=bars.warn, access=grants_of(options), cache=not no_cache, reweight=reweight,
                ignore=exclude, config_file=config_file, wait=not no_wait,
            )  # fmt: skip
    finally:
        bars.close()
    say(f"{index_dir}: {report.summary()}")
    if report.unfilled:
        grants = [arg for name, flag in _GRANTS.items() if options.get(name) for arg in _flag(flag, options[name])]
        more = [*grants, *(["--device", device] if device else []), *(["--no-cache"] if no_cache else [])]
        pid = _fill_in_background(index_dir, more)
        say(f"Filling in the vectors in the background (pid {pid}): see how far with hsearch info --index "
            f"{index_dir}; stop with kill {pid}; resume with hsearch fill --index {index_dir}; output in {FILL_LOG} "
            "there.")  # fmt: skip
    if report.skipped_files or report.skipped_records:
        sys.exit(EXIT_SKIPPED)


@cli.command()
@index_option
@config_option("dense", "api_base")
@config_option("dense", "api_key_env")
@config_option("dense", "trust_remote_code")
@device_option
@click.option("--no-cache", is_flag=True, help="Encode afresh, without reading or writing the embedding cache.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar; only the summary.")
def fill(index_dir: str, device: str | None, no_cache: bool, quiet: bool, **options: Any) -> None:
    """Give every chunk of the index its vectors, a batch per commit: what hsearch index --no-wait leaves
    to the background, and the way to resume a fill that was stopped (kill, SIGTERM and SIGKILL are safe:
    the index answers throughout, and the vectors encoded are in the embedding cache). One process fills
    an index at a time; another waits for it. Local indexes only (one in Qdrant is written in one phase).
    """
    bars = ProgressBars(quiet)
    try:
        with user_errors():
            report = fill_index(index_dir, device=device, access=grants_of(options), cache=not no_cache,
                                progress=bars, warn=bars.warn)  # fmt: skip
    finally:
        bars.close()
    done = f"{report.filled} chunk(s) given their vectors in {report.batches} commit(s)" if report.filled else "nothing"
    say(f"{index_dir}: {done}; every chunk has its vectors ({report.seconds:.1f} s)")


def _flag(flag: str, value: Any) -> list[str]:
    return [flag] if value is True else [flag, str(value)]


def _fill_in_background(index_dir: str, options: list[str]) -> int:
    """Start `hsearch fill --index INDEX` as a process of its own (it outlives this one); its pid."""
    command = [*_hsearch(), "fill", "--index", index_dir, "-q", *options]
    with open(Path(index_dir) / FILL_LOG, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    return process.pid


def _hsearch() -> list[str]:
    """How to run this hsearch again: its script (`hsearch`, a test's wrapper), or the package."""
    script = sys.argv[0]
    if script.endswith("__main__.py") or not os.path.isfile(script):
        return [sys.executable, "-m", "hybridsearch"]
    return [sys.executable, script]


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
def remove(paths: tuple[Path, ...], index_dir: str) -> None:
    """Remove the documents of PATHS (files, or every file under a folder) from the index."""
    with user_errors():
        report = writer.write_index(index_dir, remove=list(paths))
    say(f"{index_dir}: {report.summary()}")


@cli.command()
@click.argument("index_dir", metavar="INDEX")
@click.argument("destination", type=click.Path(path_type=Path))
def backup(index_dir: str, destination: Path) -> None:
    """Copy the index INDEX into DESTINATION, a new folder, consistently (under the writer lock, so no
    run of hsearch index changes it meanwhile) and verified file by file against its checksums.

    Files are hard-linked where the file system allows (the index never changes a file in place), so
    a backup on the same disk is instant and small; copy DESTINATION to another disk to survive its
    loss. The backup is an index: query it with --index DESTINATION, or copy it back to restore.
    """
    with user_errors():
        location = IndexLocation.parse(index_dir)
        if not location.is_local:
            raise InputError(
                f"{index_dir} is in Qdrant: back it up with Qdrant's snapshots "
                "(https://qdrant.tech/documentation/concepts/snapshots/)."
            )
        report = backup_index(location.folder, destination)
    size = f"{report.bytes / 2**20:.1f} MB"
    how = "hard-linked" if report.linked == report.files else f"{report.linked} hard-linked, the rest copied"
    say(f"{destination}: a copy of {index_dir} ({report.generation}, {report.files} files, {size}, {how}); verified")
