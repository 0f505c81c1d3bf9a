"""`hsearch`: a thin click layer — parse, call the API, format. Results on stdout, the rest on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .config import (
    DEFAULT_MODEL,
    BM25Config,
    ChunkConfig,
    DenseConfig,
    Fusion,
    IndexConfig,
    LoaderConfig,
    TermForm,
    TokenizerConfig,
)
from .errors import HybridSearchError
from .index import HybridIndex
from .schema import Hit
from .textnorm import normalize_with_offsets
from .version import __version__

__all__ = ["cli"]

DEFAULT_INDEX = "indexes/default"
_SNIPPET_WIDTH = 80

index_option = click.option(
    "--index",
    "index_dir",
    envvar="HSEARCH_INDEX",
    default=DEFAULT_INDEX,
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Index folder (env: HSEARCH_INDEX).",
)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Library errors become one-line click errors (exit status 1)."""
    try:
        yield
    except HybridSearchError as error:
        raise click.ClickException(str(error)) from None


def _stderr(message: str) -> None:
    click.echo(message, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hsearch")
def cli() -> None:
    """Japanese hybrid search: BM25 over MeCab terms + dense embeddings, mixed with --alpha."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
@click.option(
    "--model",
    default=DEFAULT_MODEL,
    show_default=True,
    help="sentence-transformers model: a local folder or a name in the local HF cache.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=20),
    default=ChunkConfig.size,
    show_default=True,
    help="Target chunk size in characters.",
)
@click.option(
    "--chunk-overlap",
    type=click.IntRange(min=0),
    default=ChunkConfig.overlap,
    show_default=True,
    help="Characters of whole sentences repeated between neighbouring chunks.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DenseConfig.batch_size,
    show_default=True,
    help="Chunks per encoder batch.",
)
@click.option(
    "--term-form",
    type=click.Choice([t.value for t in TermForm]),
    default=TokenizerConfig.term_form.value,
    show_default=True,
    help="BM25 term: surface form, UniDic base form or lemma.",
)
@click.option("--text-field", default=LoaderConfig.text_field, show_default=True, help="CSV/JSONL field with the text.")
@click.option(
    "--title-field", default=LoaderConfig.title_field, show_default=True, help="CSV/JSONL field with the title."
)
@click.option(
    "--id-field", default=LoaderConfig.id_field, show_default=True, help="CSV/JSONL field with the record id."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or warnings; only the summary.")
def index(
    paths: tuple[Path, ...],
    index_dir: Path,
    model: str,
    chunk_size: int,
    chunk_overlap: int,
    batch_size: int,
    term_form: str,
    text_field: str,
    title_field: str,
    id_field: str,
    quiet: bool,
) -> None:
    """Index the documents under PATHS (folders or files): txt, md, html, csv, jsonl."""
    with _user_errors():
        config = IndexConfig(
            loader=LoaderConfig(text_field=text_field, title_field=title_field, id_field=id_field),
            chunk=ChunkConfig(size=chunk_size, overlap=chunk_overlap),
            tokenizer=TokenizerConfig(term_form=TermForm.parse(term_form)),
            bm25=BM25Config(),
            dense=DenseConfig(model=model, batch_size=batch_size),
        )
        built = HybridIndex.build(
            list(paths),
            index_dir,
            config=config,
            show_progress=not quiet,
            warn=(lambda message: None) if quiet else (lambda message: _stderr(f"warning: {message}")),
        )
    report = built.build_report
    if report is None:  # build() always sets it
        return
    skipped = len(report.skipped_files)
    _stderr(
        f"Indexed {report.documents} documents from {report.files - skipped} files into {report.chunks} chunks "
        f"in {report.seconds:.1f} s → {index_dir}"
        + (f"; skipped {skipped} file(s)" if skipped else "")
        + (f" and {report.skipped_records} record(s)" if report.skipped_records else "")
    )


@cli.command()
@click.argument("text")
@index_option
@click.option(
    "-a",
    "--alpha",
    type=float,
    default=None,
    help="Dense share in [0, 1]: 0 = BM25 only, 1 = dense only (default: the index's, 0.6).",
)
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of results.")
@click.option(
    "--fusion",
    type=click.Choice([f.value for f in Fusion]),
    default=None,
    help="Score normalisation before the alpha mix (default: the index's, minmax).",
)
@click.option("--json", "as_json", is_flag=True, help="Print every field of every hit as JSON.")
def query(text: str, index_dir: Path, alpha: float | None, k: int, fusion: str | None, as_json: bool) -> None:
    """Search the index for TEXT."""
    with _user_errors(), HybridIndex.open(index_dir) as opened:
        hits = opened.search(text, k=k, alpha=alpha, fusion=fusion)
        used_alpha = opened.config.alpha if alpha is None else alpha
        used_fusion = str(fusion or opened.config.fusion)
    if as_json:
        click.echo(
            json.dumps(
                {"query": text, "alpha": used_alpha, "fusion": used_fusion, "hits": [h.to_dict() for h in hits]},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if not hits:
        _stderr("No results.")
    for hit in hits:
        click.echo(_format_hit(hit))


@cli.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def info(index_dir: Path, as_json: bool) -> None:
    """Describe an index: model, configuration, counts."""
    with _user_errors(), HybridIndex.open(index_dir) as opened:
        details = opened.info()
    if as_json:
        click.echo(json.dumps(details, ensure_ascii=False, indent=2))
        return
    counts, model, config = details["counts"], details["model"], details["config"]
    lines: list[tuple[str, Any]] = [
        ("index", details["path"]),
        ("generation", details["generation"]),
        ("created", details["created"]),
        ("hybridsearch", details["hybridsearch_version"]),
        ("sources", ", ".join(details["sources"])),
        ("documents", counts["documents"]),
        ("chunks", counts["chunks"]),
        ("terms", counts["terms"]),
        ("skipped files", counts["skipped_files"]),
        ("model", f"{model['name']} ({model['revision'] or 'no revision'}), dim {model['dim']}"),
        ("prompts", f"query {model['query_prompt']!r}, document {model['document_prompt']!r}"),
        ("chunking", f"{config['chunk']['size']} chars, overlap {config['chunk']['overlap']}"),
        (
            "bm25",
            f"{config['bm25']['variant']}, k1={config['bm25']['k1']}, b={config['bm25']['b']}, "
            f"terms={config['tokenizer']['term_form']}",
        ),
        ("default alpha", f"{config['alpha']} ({config['fusion']})"),
    ]
    for label, value in lines:
        click.echo(f"{label + ':':15}{value}")


def _format_hit(hit: Hit) -> str:
    dense = "-" if hit.dense is None else f"{hit.dense:.3f}"
    header = f"{hit.rank:>2}. {hit.score:.3f}  {hit.source}" + (f"  「{hit.title}」" if hit.title else "")
    evidence = f"    bm25 {hit.bm25:.2f}  dense {dense}  [{hit.start}:{hit.end}]"
    return f"{header}\n{evidence}\n    {snippet(hit.text, hit.matched_terms)}"


def snippet(text: str, terms: tuple[str, ...] | list[str], width: int = _SNIPPET_WIDTH) -> str:
    """About `width` characters of `text` on one line, around the first query term it contains."""
    normalized = normalize_with_offsets(text)
    positions = [p for p in (normalized.text.find(t) for t in terms) if p >= 0]
    center = normalized.source_span(min(positions), min(positions) + 1)[0] if positions else 0
    start = max(0, min(center - width // 3, len(text) - width))
    piece = " ".join(text[start : start + width].split())
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(text) else "")
