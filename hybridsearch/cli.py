"""`hsearch`: a thin click layer — parse, call the API, format. Results on stdout, the rest on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .config import (
    DEFAULT_MODEL,
    OPENAI_PREFIX,
    ChunkConfig,
    DenseConfig,
    Fusion,
    IndexConfig,
    LoaderConfig,
    Precision,
    TermForm,
    TokenizerConfig,
    VectorKind,
)
from .errors import HybridSearchError
from .index import HybridIndex
from .openai_encoder import DEFAULT_API_BASE
from .schema import Hit
from .store import with_new_defaults
from .version import __version__

__all__ = ["cli"]

DEFAULT_INDEX = "indexes/default"
_SNIPPET_WIDTH = 80

vectors_option = click.option(
    "--vectors",
    type=click.Choice([kind.value for kind in VectorKind]),
    help="FAISS index: flat (exact), hnsw (approximate graph search), sq8 (exact over 8-bit vectors, a quarter "
    "of the memory), hnsw-sq8 (both), auto (flat below 50,000 chunks, hnsw below 500,000, hnsw-sq8 beyond) "
    "[default: the index's, else auto].",
)

device_option = click.option("--device", help="Torch device for a local model: cpu, cuda, mps… [default: cpu].")

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


#: Exit status of `hsearch index` when the index was written but some input had to be skipped.
EXIT_SKIPPED = 3


def dense_options(command: Any) -> Any:
    """The model options of `index` and `eval`. Each defaults to None: the index's own setting, else
    the DenseConfig default."""
    options = [
        click.option(
            "--model",
            help="sentence-transformers model (a local folder or a name in the local HF cache) or openai:NAME "
            f"[default: the index's, else {DEFAULT_MODEL}].",
        ),
        click.option(
            "--dim",
            type=click.IntRange(min=1),
            help="Keep the first N vector components, re-normalised (Matryoshka models) [default: all].",
        ),
        click.option("--query-prompt", help="Text put before every query [default: the model's, else its family's]."),
        click.option(
            "--document-prompt", help="Text put before every chunk [default: the model's, else its family's]."
        ),
        click.option(
            "--trust-remote-code",
            is_flag=True,
            default=None,
            help="Let the model folder run its own Python code (off unless given; recorded in the manifest).",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            help=f"Chunks per encoder batch or API request [default: {DenseConfig.batch_size}].",
        ),
        click.option(
            "--precision",
            type=click.Choice([precision.value for precision in Precision]),
            help="Weights of a local model: bf16 (about 3x faster on CPUs with AMX/AVX512-BF16), fp32, or auto "
            "(bf16 where the CPU has those instructions) [default: the index's, else auto].",
        ),
        device_option,
        click.option("--api-base", help=f"openai:NAME only: the endpoint's base URL [default: {DEFAULT_API_BASE}]."),
        click.option(
            "--api-key-env", help=f"openai:NAME only: variable with the API key [default: {DenseConfig.api_key_env}]."
        ),
        click.option(
            "--send-input-type",
            is_flag=True,
            default=None,
            help="openai:NAME only: send input_type query/document, for servers that add the prompts themselves.",
        ),
        click.option(
            "--sentences/--no-sentences",
            default=None,
            help="Also encode each sentence of a chunk; its dense score is then the mean of its own cosine and its "
            "best sentence's (better ranking; 2-2.5x the encoding time) [default: on].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


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
    help=f"Skip files larger than this [default: {LoaderConfig.max_file_mb}].",
)
@click.option(
    "--rebuild", is_flag=True, help="Start from scratch (needed to change the settings or model of an index)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or warnings; only the summary.")
def index(
    paths: tuple[Path, ...], index_dir: Path, rebuild: bool, quiet: bool, device: str | None, **options: Any
) -> None:
    """Index the documents under PATHS (folders or files): txt, md, html, csv, jsonl.

    Re-running updates the index: only added or changed files are read and encoded, and documents
    whose files are gone from PATHS are dropped; other folders indexed earlier stay. Settings not
    given are the index's own. Exit status 3: written, but some input was skipped.
    """
    with _user_errors():
        base = None if rebuild else HybridIndex.stored_config(index_dir)
        built = HybridIndex.build(
            list(paths),
            index_dir,
            config=_config(base, options),
            device=device,
            rebuild=rebuild,
            show_progress=not quiet,
            warn=(lambda message: None) if quiet else (lambda message: _stderr(f"warning: {message}")),
        )
    report = built.report
    if report is not None:
        _stderr(f"{index_dir}: {report.summary()}")
        if report.skipped_files or report.skipped_records:
            sys.exit(EXIT_SKIPPED)


def _config(base: IndexConfig | None, options: dict[str, Any]) -> IndexConfig | None:
    """`base` (or the defaults) with the options the user gave; None when none was given."""
    given = {key: value for key, value in options.items() if value is not None}
    if not given and base is not None:
        return None
    config = base or IndexConfig()
    parts = {
        "loader": {"text_field", "title_field", "id_field", "max_file_mb"},
        "chunk": {"chunk_size": "size", "chunk_overlap": "overlap"},
        "tokenizer": {"term_form", "word_pairs"},
        "vectors": {"vectors": "kind"},
        "dense": {
            "model",
            "batch_size",
            "dim",
            "query_prompt",
            "document_prompt",
            "trust_remote_code",
            "precision",
            "api_base",
            "api_key_env",
            "send_input_type",
            "sentences",
        },
    }
    for part, keys in parts.items():
        renames = keys if isinstance(keys, dict) else {key: key for key in keys}
        changes = {renames[key]: value for key, value in given.items() if key in renames}
        if changes:
            config = replace(config, **{part: replace(getattr(config, part), **changes)})
    return config


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
def remove(paths: tuple[Path, ...], index_dir: Path) -> None:
    """Remove the documents of PATHS (files, or every file under a folder) from the index."""
    with _user_errors():
        updated = HybridIndex.remove(list(paths), index_dir)
    if updated.report is not None:
        _stderr(f"{index_dir}: {updated.report.summary()}")


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
@device_option
def query(
    text: str, index_dir: Path, alpha: float | None, k: int, fusion: str | None, as_json: bool, device: str | None
) -> None:
    """Search the index for TEXT."""
    with _user_errors(), HybridIndex.open(index_dir, device=device) as opened:
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
@click.option(
    "--check", is_flag=True, help="Also verify every file's checksum and that docstore, BM25 and FAISS agree."
)
def info(index_dir: Path, as_json: bool, check: bool) -> None:
    """Describe an index: model, configuration, counts."""
    with _user_errors(), HybridIndex.open(index_dir) as opened:
        details = opened.info()
        problems = opened.check() if check else []
    if problems:
        raise click.ClickException(f"Index {index_dir} failed its check: {'; '.join(problems)}.")
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
        ("model", _describe_model(model, config["dense"])),
        (
            "prompts",
            f"query {model['query_prompt']!r}, document {model['document_prompt']!r}"
            + (" (input_type sent)" if config["dense"].get("send_input_type") else ""),
        ),
        ("chunking", f"{config['chunk']['size']} chars, overlap {config['chunk']['overlap']}"),
        (
            "bm25",
            f"{config['bm25']['variant']}, k1={config['bm25']['k1']}, b={config['bm25']['b']}, "
            f"terms={config['tokenizer']['term_form']}"
            + (" + word pairs" if config["tokenizer"].get("word_pairs") else ""),
        ),
        (
            "vectors",
            f"{details['vectors']} (FAISS; setting: {config['vectors']['kind']})"
            + (f" + {counts['sentences']} sentence vectors" if config["dense"].get("sentences") else ""),
        ),
        ("default alpha", f"{config['alpha']} ({config['fusion']})"),
    ]
    for label, value in lines:
        click.echo(f"{label + ':':15}{value}")
    if check:
        click.echo(f"{'check:':15}ok (checksums, docstore, BM25 and FAISS agree)")


def _describe_model(model: dict[str, Any], dense: dict[str, Any]) -> str:
    parts = [f"{model['name']} ({model['revision'] or 'no revision'})", f"dim {model['dim']}"]
    if dense.get("dim"):
        parts[-1] += " (Matryoshka cut)"
    if model.get("trust_remote_code"):
        parts.append("trusts its remote code")
    if str(model["name"]).startswith(OPENAI_PREFIX):
        parts.append(f"at {dense.get('api_base') or DEFAULT_API_BASE}")
    return ", ".join(parts)


@cli.command("eval")
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path))
@click.option("--alpha", "alpha_spec", default="0:1:0.1", show_default=True,
              help="Alphas to try: start:stop:step, a comma list, or one number.")  # fmt: skip
@click.option("--fusion", type=click.Choice([f.value for f in Fusion]), default=Fusion.MINMAX.value, show_default=True)
@dense_options
@vectors_option
@click.option("--index-root", type=click.Path(file_okay=False, path_type=Path), default=Path("indexes"),
              show_default=True, help="Where evaluation indexes are kept (one per corpus and settings).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw metric-vs-alpha curves to this PNG."
)
@click.option("--tune", is_flag=True, help="Store the best alpha (by nDCG@10) as the evaluation index's default.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def evaluate_command(
    dataset: Path, alpha_spec: str, fusion: str, index_root: Path, as_json: bool, plot: Path | None, tune: bool,
    quiet: bool, device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Measure retrieval quality on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv).

    Indexes the corpus once (reused while the corpus and settings are the same), runs every judged
    query, and prints nDCG@10, MRR@10, Recall@10/100 and MAP@100 for BM25 only (alpha 0), dense
    only (alpha 1) and each hybrid alpha.
    """
    from .evaluate import METRICS, best_alpha, eval_index_dir, evaluate, load_dataset, parse_alphas, plot_sweep

    with _user_errors():
        alphas = sorted({0.0, 1.0, *parse_alphas(alpha_spec)})
        data = load_dataset(dataset)
        config = _config(None, options) or IndexConfig()
        config = replace(config, loader=LoaderConfig(id_field="_id"))
        index_dir = eval_index_dir(data, config, index_root)
        if HybridIndex.stored_config(index_dir) is None:
            HybridIndex.build(data.corpus, index_dir, config=config, device=device, show_progress=not quiet)
        with HybridIndex.open(index_dir, device=device) as opened:
            if not quiet:
                _stderr(f"Evaluating {len(data.queries)} queries on {index_dir} …")
            results = evaluate(opened, data, alphas, fusion)
        best = best_alpha(results)
        if plot is not None:
            plot_sweep(results, plot, f"{dataset.resolve().parent.name}/{dataset.resolve().name} ({fusion})")
        if tune:
            with_new_defaults(index_dir, best, fusion)
    if as_json:
        rows = [{"alpha": alpha, **metrics} for alpha, metrics in results.items()]
        payload = {"dataset": str(dataset), "index": str(index_dir), "fusion": fusion,
                   "queries": len(data.queries), "best_alpha": best, "results": rows}  # fmt: skip
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(f"{'method':<8} {'alpha':>5}  " + "  ".join(f"{m:>10}" for m in METRICS))
        for alpha, metrics in results.items():
            method = "bm25" if alpha == 0 else "dense" if alpha == 1 else "hybrid"
            click.echo(f"{method:<8} {alpha:>5.2f}  " + "  ".join(f"{metrics[m]:>10.4f}" for m in METRICS))
        click.echo(f"best alpha by nDCG@10: {best:g} ({results[best]['ndcg@10']:.4f})")
    if plot is not None:
        _stderr(f"Plot written to {plot}")
    if tune:
        _stderr(f"Default alpha of {index_dir} is now {best:g} ({fusion})")


def _format_hit(hit: Hit) -> str:
    dense = "-" if hit.dense is None else f"{hit.dense:.3f}"
    header = f"{hit.rank:>2}. {hit.score:.3f}  {hit.source}" + (f"  「{hit.title}」" if hit.title else "")
    evidence = f"    bm25 {hit.bm25:.2f}  dense {dense}  [{hit.start}:{hit.end}]"
    return f"{header}\n{evidence}\n    {snippet(hit)}"


def snippet(hit: Hit, width: int = _SNIPPET_WIDTH) -> str:
    """About `width` characters of a hit on one line, around its first matched word; matched words
    are styled (click shows the colour on a terminal and drops it elsewhere)."""
    text, spans = hit.text, hit.chunk_highlights
    start = max(0, min((spans[0][0] if spans else 0) - width // 3, len(text) - width))
    end = min(len(text), start + width)
    pieces, position = [], start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, position), min(span_end, end)
        if span_start < span_end:
            pieces += [text[position:span_start], click.style(text[span_start:span_end], fg="red", bold=True)]
            position = span_end
    pieces.append(text[position:end])
    line = " ".join("".join(pieces).split())
    return ("…" if start > 0 else "") + line + ("…" if end < len(text) else "")
