"""`hsearch index` and `hsearch remove`: write an index from folders, drop documents from it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .. import writer
from ..config import (
    ChunkConfig,
    LoaderConfig,
    TermForm,
    TokenizerConfig,
)
from ..index import HybridIndex
from .common import (
    EXIT_SKIPPED,
    ProgressBars,
    cli,
    configured,
    dense_options,
    grants_of,
    index_option,
    say,
    user_errors,
    vectors_option,
)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
@dense_options
@click.option(
    "--chunk-size", type=click.IntRange(min=20), help=f"Target chunk size in characters [default: {ChunkConfig.size}]."
)
@click.option(
    "--chunk-overlap",
    type=click.IntRange(min=0),
    help=f"Characters of whole sentences repeated between neighbouring chunks [default: {ChunkConfig.overlap}].",
)
@vectors_option
@click.option(
    "--term-form",
    type=click.Choice([t.value for t in TermForm]),
    help=f"BM25 term: UniDic base form, surface form or lemma [default: {TokenizerConfig.term_form}].",
)
@click.option(
    "--word-pairs/--no-word-pairs",
    default=None,
    help="Also index neighbouring content words as one BM25 term (日本 共産) [default: on].",
)
@click.option("--text-field", help=f"CSV/JSONL field with the text [default: {LoaderConfig.text_field}].")
@click.option("--title-field", help=f"CSV/JSONL field with the title [default: {LoaderConfig.title_field}].")
@click.option("--id-field", help=f"CSV/JSONL field with the record id [default: {LoaderConfig.id_field}].")
@click.option(
    "--max-file-mb",
    type=click.IntRange(min=1),
    help=f"Skip files larger than this; also the most text read from one [default: {LoaderConfig.max_file_mb}].",
)
@click.option(
    "--max-file-seconds",
    type=click.FloatRange(min=0, min_open=True),
    help=f"Skip a file that takes longer than this to read [default: {LoaderConfig.max_file_seconds:g}].",
)
@click.option(
    "--rebuild", is_flag=True, help="Start from scratch (needed to change the settings or model of an index)."
)
@click.option(
    "--no-cache", is_flag=True, help="Encode everything afresh, without reading or writing the embedding cache."
)
@click.option("--reweight", is_flag=True,
              help="Qdrant: compute every chunk's BM25 weights from the true average length now (they are "
                   "kept while it drifts under 10 %; a local index is always exact).")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or warnings; only the summary.")
def index(
    paths: tuple[Path, ...], index_dir: str, rebuild: bool, no_cache: bool, reweight: bool, quiet: bool,
    device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Index the documents under PATHS (folders or files): txt, md, html, csv, jsonl.

    Re-running updates the index: only added or changed files are read and encoded, and documents
    whose files are gone from PATHS are dropped; other folders indexed earlier stay. Settings not
    given are the index's own. Vectors computed before (by any index, or a run that was killed)
    come from the embedding cache (see hsearch cache). Exit status 3: written, but some input was
    skipped.
    """
    bars = ProgressBars(quiet)
    try:
        with user_errors():
            base = None if rebuild else HybridIndex.stored_config(index_dir)
            report = writer.write_index(
                index_dir, list(paths), config=configured(base, options), device=device, rebuild=rebuild,
                progress=bars, warn=bars.warn, access=grants_of(options), cache=not no_cache, reweight=reweight,
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
