"""`hsearch index` and `hsearch remove`: write an index from folders, drop documents from it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .. import writer
from ..index import HybridIndex
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
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or warnings; only the summary.")
def index(
    paths: tuple[Path, ...], index_dir: str, rebuild: bool, no_cache: bool, reweight: bool, exclude: tuple[str, ...],
    quiet: bool, device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Index the documents under PATHS (folders or files): txt, md, html, csv, jsonl.

    Re-running updates the index: only added or changed files are read and encoded, and documents
    whose files are gone from PATHS are dropped; other folders indexed earlier stay. Settings not
    given are the index's own. Vectors computed before (by any index, or a run that was killed)
    come from the embedding cache (see hsearch cache). Files the ignore rules leave out and files of
    types no loader reads are counted in the summary. Exit status 3: written, but a file that should
    have been read (or a record of one) could not be.
    """
    bars = ProgressBars(quiet)
    try:
        with user_errors():
            base = None if rebuild else HybridIndex.stored_config(index_dir)
            report = writer.write_index(
                index_dir, list(paths), config=configured(base, options), device=device, rebuild=rebuild,
                progress=bars, warn=bars.warn, access=grants_of(options), cache=not no_cache, reweight=reweight,
                ignore=exclude,
            )  # fmt: skip
    finally:
        bars.close()
    say(f"{index_dir}: {report.summary()}")
    if report.skipped_files or report.skipped_records:
        sys.exit(EXIT_SKIPPED)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
def remove(paths: tuple[Path, ...], index_dir: str) -> None:
    """Remove the documents of PATHS (files, or every file under a folder) from the index."""
    with user_errors():
        report = writer.write_index(index_dir, remove=list(paths))
    say(f"{index_dir}: {report.summary()}")
