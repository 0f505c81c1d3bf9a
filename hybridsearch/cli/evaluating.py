"""`hsearch eval`: index a BEIR dataset and score its queries over a range of alphas; or score a
questions file on an existing index, and calibrate its confidence threshold on them."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click
from click.core import ParameterSource

from .. import writer
from ..access import Principal
from ..config import (
    DEFAULT_API_BASE,
    OPENAI_PREFIX,
    Fusion,
    IndexConfig,
    LoaderConfig,
)
from ..encoders import resolve_model_name
from ..errors import HybridSearchError, InputError
from ..index import HybridIndex
from ..writer import ProgressEvent
from .common import (
    DEFAULT_INDEX,
    ProgressBars,
    cli,
    config_options,
    configured,
    device_option,
    grants_of,
    principal_of,
    principal_options,
    say,
    user_errors,
)

if TYPE_CHECKING:
    from ..own_queries import QuestionsReport, ThresholdChoice

#: The options of a BEIR evaluation only (a questions file is searched as the index is).
_BEIR_ONLY = ("alpha_spec", "fusion", "index_root", "plot", "tune")
#: The model options a questions file takes: what the caller grants the index's own model.
_GRANTS = ("api_base", "api_key_env", "trust_remote_code")
#: The options only a questions file takes, with their flags.
_QUESTIONS_ONLY = {"calibrate": "--calibrate", "searched_index": "--index", "user": "--user", "groups": "--group"}


@cli.command("eval")
@click.argument("dataset", metavar="DATASET|QUESTIONS", type=click.Path(path_type=Path))
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
@click.option("--index", "searched_index", envvar="HSEARCH_INDEX", default=DEFAULT_INDEX, show_default=True,
              help="The index a QUESTIONS file is searched in (env: HSEARCH_INDEX).")  # fmt: skip
@click.option("--calibrate", is_flag=True,
              help="With QUESTIONS: fit the index's confidence threshold on them and store it.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw metric-vs-alpha curves to this PNG."
)
@click.option("--tune", is_flag=True, help="Store the best alpha (by nDCG@10) as the evaluation index's default.")
@click.option("--per-query", type=click.File("w", encoding="utf-8", lazy=False),
              help="Write a JSON line per query: its relevant passages' ranks (BM25, dense, default; "
                   "with QUESTIONS: the first hit, its confidence, each expected entry's rank).")  # fmt: skip
@principal_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def evaluate_command(
    dataset: Path, alpha_spec: str, fusion: str, index_root: str, searched_index: str,
    calibrate: bool, as_json: bool, plot: Path | None, tune: bool, per_query: TextIO | None, user: str | None,
    groups: tuple[str, ...], quiet: bool, device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Measure retrieval quality on a BEIR folder (DATASET: corpus.jsonl, queries.jsonl,
    qrels/test.tsv), or on your own questions (QUESTIONS: a .jsonl or .tsv file) in an existing index.

    DATASET: indexes the corpus once (reused while the corpus and settings are the same), runs every
    judged query, and prints nDCG@10, MRR@10, Recall@10/100 and MAP@100 for BM25 only (alpha 0),
    dense only (alpha 1), each hybrid alpha, the index's default (its alpha and fusion), the best
    fixed alpha and the oracle that picks each query's best alpha (what no fixed alpha can reach).

    QUESTIONS: searches --index for each question as `hsearch query` does (its own alpha, fusion and
    threshold; one hit per document) and prints nDCG@10, Recall@10 and MRR@10 against the expected
    documents, how confident the right and the wrong first hits are, and what the threshold does
    with them; --calibrate stores the lowest threshold at which at most 5 % of the wrong first hits
    pass (with at least 20 questions, 10 of them with a wrong first hit).
    """
    ctx = click.get_current_context()
    given = {name for name in ctx.params if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}
    if dataset.is_file():
        with user_errors():
            flags = {param.name: max(param.opts, key=len) for param in ctx.command.params}
            beir_only = [flags[name] for name in sorted(given)
                         if name in _BEIR_ONLY or (name in options and name not in _GRANTS)]  # fmt: skip
            if beir_only:
                raise InputError(
                    f"{', '.join(beir_only)}: only for a BEIR folder; a questions file is searched in --index "
                    "as that index searches (its own model, alpha, fusion and threshold)."
                )
        principal = principal_of(user, groups)
        _evaluate_questions(dataset, searched_index, calibrate, as_json, per_query, quiet, device, options, principal)
        return
    with user_errors():
        if not dataset.exists():
            raise InputError(
                f"No such file or folder: {dataset}; give a questions file (.jsonl, .tsv) or a BEIR dataset folder."
            )
        questions_only = [flag for name, flag in _QUESTIONS_ONLY.items() if name in given]
        if questions_only:
            raise InputError(
                f"{questions_only[0]}: only with a questions file (hsearch eval "
                "QUESTIONS.jsonl --index DIR); a BEIR folder is indexed under --index-root, and --tune stores "
                "its best alpha."
            )
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


def _evaluate_questions(
    path: Path, index_dir: str, calibrate: bool, as_json: bool, per_query: TextIO | None, quiet: bool,
    device: str | None, options: dict[str, Any], principal: Principal | None,
) -> None:  # fmt: skip
    """`hsearch eval QUESTIONS --index DIR [--calibrate] [--user NAME]`."""
    from ..own_queries import choose_threshold, evaluate_questions, load_questions, store_threshold

    bars = ProgressBars(quiet)
    with user_errors():
        questions = load_questions(path)
        with HybridIndex.open(index_dir, device=device, access=grants_of(options)) as opened:
            done = 0

            def advance(count: int) -> None:
                nonlocal done
                done += count
                bars(ProgressEvent("searching", done, len(questions), "questions"))

            try:
                report = evaluate_questions(
                    opened,
                    questions,
                    need_confidence=calibrate,
                    warn=_warn,
                    progress=advance,
                    source=str(path),
                    principal=principal,
                )
            finally:
                bars.close()
        choice = None
        if calibrate:
            choice = choose_threshold(report.confidences(True), report.confidences(False))
            if choice.threshold is not None:
                store_threshold(index_dir, choice.threshold)
    if per_query is not None:
        for outcome in report.outcomes:
            per_query.write(json.dumps(outcome.to_dict(), ensure_ascii=False) + "\n")
    if as_json:
        click.echo(json.dumps(_questions_payload(path, report, choice), ensure_ascii=False, indent=2))
    else:
        for line in _questions_text(report, choice):
            click.echo(line)
    if per_query is not None:
        say(f"Per-question results written to {per_query.name}")


def _warn(message: str) -> None:
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stderr):
        say(f"warning: {message}")


def _questions_payload(path: Path, report: QuestionsReport, choice: ThresholdChoice | None) -> dict[str, Any]:
    from ..own_queries import histogram, quantiles

    scored = report.scored
    payload: dict[str, Any] = {
        "questions_file": str(path), "index": report.location, "questions": len(report.outcomes),
        "scored": len(scored), "unanswerable": sum(1 for o in scored if not o.answerable),
        "left_out": len(report.outcomes) - len(scored),
        "unknown_expected": sum(len(o.unknown) for o in report.outcomes),
        "alpha": report.alpha, "fusion": report.fusion, "min_confidence": report.threshold,
        "metrics": report.metrics,
        "first_hits": {"right": len(report.first_hits(True)), "wrong": len(report.first_hits(False)),
                       "none": sum(1 for o in scored if o.right is None)},
        "confidence": None if report.threshold is None else {
            side: {"quantiles": quantiles(report.confidences(right)), "histogram": histogram(report.confidences(right))}
            for side, right in (("right", True), ("wrong", False))
        },
        "no_good_match": {"right": sum(1 for o in report.first_hits(True) if o.no_good_match),
                          "wrong": sum(1 for o in report.first_hits(False) if o.no_good_match),
                          "none": sum(1 for o in scored if o.right is None)},
    }  # fmt: skip
    if choice is not None:
        payload["calibration"] = {
            "threshold": choice.threshold, "stored": choice.threshold is not None, "previous": report.threshold,
            "reason": choice.reason, "right": choice.right, "wrong": choice.wrong,
            "right_kept": choice.right_kept, "wrong_passed": choice.wrong_passed,
        }  # fmt: skip
    return payload


def _questions_text(report: QuestionsReport, choice: ThresholdChoice | None) -> list[str]:
    from ..own_queries import histogram, quantiles

    scored, outcomes = report.scored, report.outcomes
    threshold = "no calibrated confidence" if report.threshold is None else f"threshold {report.threshold:g}"
    lines = [f"{report.location}: {len(outcomes)} question(s), searched with alpha {report.alpha:g}, "
             f"{report.fusion}, {threshold}"]  # fmt: skip
    unknown = sum(len(o.unknown) for o in outcomes)
    if unknown:
        left = len(outcomes) - len(scored)
        lines.append(f"{unknown} expected entr{'y names' if unknown == 1 else 'ies name'} no document (see the "
                     f"warnings); {left} question(s) left out, none of theirs naming one")  # fmt: skip
    rows = f"mean of {sum(1 for o in outcomes if o.metrics is not None)} question(s)"
    means = "  ".join(f"{report.metrics[m]:>9.4f}" for m in ("ndcg@10", "recall@10", "mrr@10"))
    lines += ["", f"{'':<22}" + "  ".join(f"{m:>9}" for m in ("nDCG@10", "Recall@10", "MRR@10")), f"{rows:<22}{means}"]
    right, wrong = report.first_hits(True), report.first_hits(False)
    unanswerable = sum(1 for o in wrong if not o.answerable)
    none = sum(1 for o in scored if o.right is None)
    lines += ["", f"first hits: {len(right)} right, {len(wrong)} wrong"
              + (f" ({unanswerable} of them for questions no document answers)" if unanswerable else "")
              + (f"; {none} question(s) without hits" if none else "")]  # fmt: skip
    if report.threshold is None:
        return [*lines, "the index's model has no calibrated confidence: no hit is weak, nothing to calibrate"]
    ups, downs = report.confidences(True), report.confidences(False)
    marked = min(int(report.threshold * 10), 9)
    lines += ["", f"{'first-hit confidence':<22}{'right':>7}{'wrong':>7}"]
    for i, (up, down) in enumerate(zip(histogram(ups), histogram(downs))):
        marker = f"  <- threshold {report.threshold:g}" if i == marked else ""
        lines.append(f"{f'{i / 10:.1f}-{(i + 1) / 10:.1f}':<22}{up:>7}{down:>7}{marker}")
    medians = [quantiles(values) for values in (ups, downs)]
    lines.append(f"{'median':<22}" + "".join(f"{m['median']:>7.2f}" if m else f"{'-':>7}" for m in medians))
    hidden = sum(1 for o in right if o.no_good_match)
    caught = sum(1 for o in wrong if o.no_good_match)
    lines += ["", f"no good match at {report.threshold:g}: {hidden} of {len(right)} right first hit(s) (hidden), "
                  f"{caught} of {len(wrong)} wrong one(s) (caught)"
                  + (f", {none} question(s) without hits" if none else "")]  # fmt: skip
    if choice is not None and choice.threshold is None:
        lines += ["", f"not calibrated, the threshold stays {report.threshold:g}: {choice.reason}"]
    elif choice is not None:
        lines += ["", f"calibrated: threshold {choice.threshold:g} (was {report.threshold:g}), stored in "
                      f"{report.location}: {choice.reason}"]  # fmt: skip
    return lines
