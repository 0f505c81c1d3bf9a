import json
import math
from pathlib import Path

import pytest
from beir_files import write_beir
from conftest import FAKE_MODEL
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridsearch import HybridIndex, IndexConfig
from hybridsearch.config import LoaderConfig
from hybridsearch.errors import InputError
from hybridsearch.evaluate import evaluate, load_dataset, parse_alphas, score_ranking


def test_metrics_by_hand() -> None:
    metrics = score_ranking(["a", "x", "b", "y"], {"b": 1, "a": 1, "z": 1})
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4)))
    assert metrics["mrr@10"] == 1.0
    assert metrics["recall@10"] == pytest.approx(2 / 3)
    assert metrics["map@100"] == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert score_ranking(["x"] * 10 + ["a"], {"a": 1}) == {
        "ndcg@10": 0.0,
        "mrr@10": 0.0,
        "recall@10": 0.0,
        "recall@100": 1.0,
        "map@100": pytest.approx(1 / 11),
    }


@given(
    ranked=st.lists(st.sampled_from([f"d{i}" for i in range(150)]), max_size=120, unique=True),
    grades=st.dictionaries(st.sampled_from([f"d{i}" for i in range(160)]), st.integers(1, 3), min_size=1, max_size=15),
)
@settings(max_examples=300, deadline=None)
def test_metrics_agree_with_trec_eval(ranked: list[str], grades: dict[str, int]) -> None:
    """Every metric equals trec_eval's (through pytrec_eval) on random rankings and graded judgements."""
    import pytrec_eval

    # trec_eval orders a run by score, so the ranking becomes descending scores; MRR@10 is
    # trec_eval's reciprocal rank of the run cut at 10
    run = {doc: float(len(ranked) - i) for i, doc in enumerate(ranked)}
    measures = {"ndcg_cut.10", "recall.10,100", "map_cut.100", "recip_rank"}
    full = pytrec_eval.RelevanceEvaluator({"q": grades}, measures).evaluate({"q": run})["q"]
    cut = pytrec_eval.RelevanceEvaluator({"q": grades}, {"recip_rank"}).evaluate({"q": dict(list(run.items())[:10])})
    ours = score_ranking(ranked, grades)
    assert ours["ndcg@10"] == pytest.approx(full["ndcg_cut_10"], abs=1e-9)
    assert ours["recall@10"] == pytest.approx(full["recall_10"], abs=1e-9)
    assert ours["recall@100"] == pytest.approx(full["recall_100"], abs=1e-9)
    assert ours["map@100"] == pytest.approx(full["map_cut_100"], abs=1e-9)
    assert ours["mrr@10"] == pytest.approx(cut.get("q", {}).get("recip_rank", 0.0), abs=1e-9)


def test_evaluate_ranks_records_by_their_best_chunk(tmp_path: Path) -> None:
    dataset = load_dataset(write_beir(tmp_path / "beir"))
    assert list(dataset.queries) == ["q1", "q2"]  # q9 has no judgement
    config = IndexConfig(loader=LoaderConfig(id_field="_id"))
    index = HybridIndex.build(dataset.corpus, tmp_path / "idx", model=FAKE_MODEL, config=config)
    rows: list[dict] = []
    evaluation = evaluate(index, dataset, [0.0, 0.5, 1.0], per_query=rows.append)
    results = evaluation.results
    assert results[0.0]["ndcg@10"] == 1.0 and results[0.5]["mrr@10"] == 1.0
    assert set(results) == {0.0, 0.5, 1.0}
    assert evaluation.oracle["ndcg@10"] >= max(metrics["ndcg@10"] for metrics in results.values())
    assert [row["id"] for row in rows] == ["q1", "q2"]
    assert rows[0]["relevant"] == ["d1"] and rows[0]["ranks"]["bm25"] == {"d1": 1}
    assert set(rows[0]["ranks"]) == {"bm25", "dense", "default"} and rows[0]["best_alpha"] == 0.0


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="queries.jsonl is missing"):
        (tmp_path / "corpus.jsonl").write_text("")
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    ("spec", "alphas"),
    [("0:1:0.25", [0.0, 0.25, 0.5, 0.75, 1.0]), ("0.6", [0.6]), ("1,0,0.5", [0.0, 0.5, 1.0]), ("0:1:0.1", None)],
)
def test_alpha_specs(spec: str, alphas: list[float] | None) -> None:
    parsed = parse_alphas(spec)
    assert parsed == alphas if alphas else len(parsed) == 11 and parsed[3] == 0.3


@pytest.mark.parametrize("spec", ["0:1:0", "a", "0:2:1", "-0.1"])
def test_bad_alpha_specs(spec: str) -> None:
    with pytest.raises(InputError):
        parse_alphas(spec)


def test_eval_command_table_json_plot_and_tune(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hybridsearch.cli import cli

    beir = write_beir(tmp_path / "beir")
    args = ["eval", str(beir), "--model", FAKE_MODEL, "--index-root", str(tmp_path / "idx"), "--alpha", "0:1:0.5", "-q"]
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["method", "alpha", "ndcg@10", "mrr@10", "recall@10", "recall@100", "map@100"]
    assert [line.split()[:2] for line in lines[1:4]] == [["bm25", "0.00"], ["hybrid", "0.50"], ["dense", "1.00"]]
    assert [line.split()[0] for line in lines[4:6]] == ["default", "oracle"]
    assert lines[6].startswith("best alpha by nDCG@10: ") and "oracle (each query's best alpha)" in lines[6]

    plot = tmp_path / "sweep.png"
    tuned = CliRunner().invoke(cli, [*args, "--json", "--plot", str(plot), "--tune", "--fusion", "rrf"])
    assert tuned.exit_code == 0, tuned.output
    payload = json.loads(tuned.stdout)
    assert payload["queries"] == 2 and [r["alpha"] for r in payload["results"]] == [0.0, 0.5, 1.0]
    assert payload["default"]["alpha"] == 0.4 and "ndcg@10" in payload["oracle"]
    assert plot.read_bytes().startswith(b"\x89PNG")
    index_dir = Path(payload["index"])
    assert [p.name for p in (tmp_path / "idx").iterdir()] == [index_dir.name]  # one index, reused
    info = HybridIndex.open(index_dir).info()
    assert info["config"]["alpha"] == payload["best_alpha"] and info["config"]["fusion"] == "rrf"
    assert HybridIndex.open(index_dir).check() == []

    per_query = tmp_path / "per-query.jsonl"
    written = CliRunner().invoke(cli, [*args, "--per-query", str(per_query)])
    assert written.exit_code == 0, written.output
    rows = [json.loads(line) for line in per_query.read_text(encoding="utf-8").splitlines()]
    assert [row["query"] for row in rows] == ["赤い惑星", "明けの明星"] and rows[0]["ranks"]["default"] == {"d1": 1}
    unwritable = CliRunner().invoke(cli, [*args, "--per-query", str(tmp_path / "missing" / "x.jsonl")])
    assert unwritable.exit_code == 2 and "Traceback" not in unwritable.output
