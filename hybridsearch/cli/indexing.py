"""`hsearch index`, `hsearch remove` and `hsearch backup`: write an index from folders, drop documents
from it, copy it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .. import writer
from ..backends.local.backup import backup_index
from ..config import IndexConfig
from ..errors import InputError
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
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or warnings; only the summary.")
def index(
    paths: tuple[Path, ...], index_dir: str, rebuild: bool, no_cache: bool, reweight: bool, exclude: tuple[str, ...],
    config_file: Path | None, quiet: bool, device: str | None, **options: Any,
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
                ignore=exclude, config_file=config_file,
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
