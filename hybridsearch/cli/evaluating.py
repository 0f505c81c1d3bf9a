"""`hsearch eval`: index a BEIR dataset and score its queries over a range of alphas."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import click

from .. import writer
from ..config import (
    DEFAULT_API_BASE,
    OPENAI_PREFIX,
    Fusion,
    IndexConfig,
    LoaderConfig,
)
from ..encoders import resolve_model_name
from ..errors import HybridSearchError
from ..index import HybridIndex
from .common import (
    ProgressBars,
    cli,
    config_options,
    configured,
    device_option,
    grants_of,
    say,
    user_errors,
)


@cli.command("eval")
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path))
@click.option("--alpha", "alpha_spec", default="0:1:0.1", show_default=True,
              help="Alphas to try: start:stop:step, a comma list, or one number.")  # fmt: skip
@click.option(
    "--fusion", type=click.Choice([f.value for f in Fusion]), default=Fusion.COVERAGE.value, show_default=True
)
@config_options("dense", "vectors")
@device_option
@click.option("--index-root", default="indexes", show_default=True,
              help="Where evaluation indexes are kept, one per corpus and settings: a folder, or a Qdrant "
                   "location without the name (qdrant+local://indexes/qdrant, qdrant://HOST:PORT).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw metric-vs-alpha curves to this PNG."
)
@click.option("--tune", is_flag=True, help="Store the best alpha (by nDCG@10) as the evaluation index's default.")
@click.option("--per-query", type=click.File("w", encoding="utf-8", lazy=False),
              help="Write a JSON line per query: its relevant passages' ranks (BM25, dense, default).")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def evaluate_command(
    dataset: Path, alpha_spec: str, fusion: str, index_root: str, as_json: bool, plot: Path | None, tune: bool,
    per_query: TextIO | None, quiet: bool, device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Measure retrieval quality on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv).

    Indexes the corpus once (reused while the corpus and settings are the same), runs every judged
    query, and prints nDCG@10, MRR@10, Recall@10/100 and MAP@100 for BM25 only (alpha 0), dense
    only (alpha 1), each hybrid alpha, the index's default (its alpha and fusion), the best fixed
    alpha and the oracle that picks each query's best alpha (what no fixed alpha can reach).
    """
    from ..evaluate import METRICS, best_alpha, eval_index_dir, evaluate, load_dataset, parse_alphas, plot_sweep

    with user_errors():
        alphas = sorted({0.0, 1.0, *parse_alphas(alpha_spec)})
        data = load_dataset(dataset)
        config = configured(None, options) or IndexConfig()
        config = replace(config, loader=LoaderConfig(id_field="_id"))
        index_dir = eval_index_dir(data, config, index_root)
        if not _usable(index_dir, config):
            bars = ProgressBars(quiet)
            try:
                writer.write_index(
                    index_dir, [data.corpus], config=config, device=device, rebuild=True, progress=bars,
                    access=grants_of(options),
                )  # fmt: skip
            finally:
                bars.close()
        grants = grants_of(options)  # the evaluation index's model is the one named in this command
        endpoint = grants.api_base or (DEFAULT_API_BASE if config.dense.model.startswith(OPENAI_PREFIX) else None)
        with HybridIndex.open(
            index_dir, model=config.dense.model, device=device, access=replace(grants, api_base=endpoint)
        ) as opened:
            if not quiet:
                say(f"Evaluating {len(data.queries)} queries on {index_dir} …")
            default = {"fusion": str(opened.config.fusion), "alpha": opened.config.alpha}
            write = (
                None if per_query is None else lambda row: per_query.write(json.dumps(row, ensure_ascii=False) + "\n")
            )
            evaluation = evaluate(opened, data, alphas, fusion, per_query=write)
        results = evaluation.results
        best = best_alpha(results)
        if plot is not None:
            plot_sweep(results, plot, f"{dataset.resolve().parent.name}/{dataset.resolve().name} ({fusion})")
        if tune:
            writer.set_defaults(index_dir, best, fusion)
    if as_json:
        rows = [{"alpha": alpha, **metrics} for alpha, metrics in results.items()]
        payload = {"dataset": str(dataset), "index": str(index_dir), "fusion": fusion,
                   "queries": len(data.queries), "best_alpha": best, "results": rows,
                   "default": default | evaluation.default,
                   "oracle": evaluation.oracle}  # fmt: skip
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(f"{'method':<8} {'alpha':>5}  " + "  ".join(f"{m:>10}" for m in METRICS))
        for alpha, metrics in results.items():
            method = "bm25" if alpha == 0 else "dense" if alpha == 1 else "hybrid"
            click.echo(f"{method:<8} {alpha:>5.2f}  " + "  ".join(f"{metrics[m]:>10.4f}" for m in METRICS))
        for method, metrics in (("default", evaluation.default), ("oracle", evaluation.oracle)):
            click.echo(f"{method:<8} {'':>5}  " + "  ".join(f"{metrics[m]:>10.4f}" for m in METRICS))
        click.echo(f"best alpha by nDCG@10: {best:g} ({results[best]['ndcg@10']:.4f}); "
                   f"default ({default['fusion']}, alpha {default['alpha']:g}): {evaluation.default['ndcg@10']:.4f}; "
                   f"oracle (each query's best alpha): {evaluation.oracle['ndcg@10']:.4f}")  # fmt: skip
    if plot is not None:
        say(f"Plot written to {plot}")
    if per_query is not None:
        say(f"Per-query ranks written to {per_query.name}")
    if tune:
        say(f"Default alpha of {index_dir} is now {best:g} ({fusion})")


def _usable(index_dir: str | Path, config: IndexConfig) -> bool:
    """True when an evaluation index is there, readable by this version and of the model asked for
    (else it is rebuilt: it is a cache)."""
    try:
        stored = HybridIndex.stored_config(index_dir)
    except HybridSearchError:
        return False
    return stored is not None and stored.dense.model == resolve_model_name(config.dense.model)
