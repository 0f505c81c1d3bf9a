"""The optional reranker: a tiny random CrossEncoder built here, loaded by sentence-transformers itself."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tiny_models import build_cross_encoder

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.errors import HybridSearchError, InputError
from hybridsearch.rerank import load_reranker

QUERY = "赤い惑星"


@pytest.fixture(scope="module")
def reranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import DOCS  # every character the index holds, so the tiny vocabulary covers it

    return build_cross_encoder(tmp_path_factory.mktemp("reranker"), QUERY + "".join(DOCS.values()))


def test_reranking_orders_the_fused_top_by_the_cross_encoders_scores(built: HybridIndex, reranker_dir: Path) -> None:
    from sentence_transformers import CrossEncoder

    fused = built.search(QUERY, k=4, collapse=False)
    hits = built.search(QUERY, k=4, collapse=False, rerank=reranker_dir, rerank_depth=4)
    assert {hit.id for hit in hits} == {hit.id for hit in fused}  # the same candidates, re-scored
    model = CrossEncoder(str(reranker_dir), device="cpu", local_files_only=True)
    expected = model.predict([(QUERY, f"{hit.title}\n{hit.text}" if hit.title else hit.text) for hit in fused])
    by_id = {hit.id: float(score) for hit, score in zip(fused, expected)}
    assert [hit.rerank_score for hit in hits] == pytest.approx([by_id[hit.id] for hit in hits], abs=1e-5)
    assert [hit.rerank_score for hit in hits] == sorted((hit.rerank_score for hit in hits), reverse=True)
    assert [hit.rank for hit in hits] == [1, 2, 3, 4]
    assert [hit.score for hit in hits] == [next(f.score for f in fused if f.id == hit.id) for hit in hits]


def test_the_fused_order_is_kept_when_reranking_is_off(built: HybridIndex) -> None:
    hits = built.search(QUERY, k=5)
    assert all(hit.rerank_score is None for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_depth_below_k_reranks_k(built: HybridIndex, reranker_dir: Path) -> None:
    hits = built.search(QUERY, k=6, rerank=load_reranker(reranker_dir), rerank_depth=2)
    assert len(hits) == 6 and all(hit.rerank_score is not None for hit in hits)


def test_a_server_with_a_reranker(built: HybridIndex, reranker_dir: Path) -> None:
    import httpx
    from serving import running

    with running({"docs": built.location}, reranker=load_reranker(reranker_dir)) as url:
        hits = httpx.get(f"{url}/search", params={"q": QUERY, "k": 3}).json()["hits"]
    scores = [hit["rerank_score"] for hit in hits]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    refused = CliRunner().invoke(cli, ["serve", "--index", built.location, "--rerank", str(built.location) + "-none"])
    assert refused.exit_code == 1 and "is not a folder" in refused.output


def test_cli_rerank_and_its_errors(built: HybridIndex, reranker_dir: Path, tmp_path: Path) -> None:
    args = ["query", QUERY, "--index", built.location, "-k", "3"]
    shown = CliRunner().invoke(cli, [*args, "--rerank", str(reranker_dir)])
    assert shown.exit_code == 0, shown.output
    assert "rerank " in shown.stdout
    payload = json.loads(CliRunner().invoke(cli, [*args, "--rerank", str(reranker_dir), "--json"]).stdout)
    scores = [hit["rerank_score"] for hit in payload["hits"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True) and np.all(np.isfinite(scores))
    missing = CliRunner().invoke(cli, [*args, "--rerank", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "is not a folder" in missing.output and "Traceback" not in missing.output
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(cli, [*args, "--rerank", str(tmp_path / "empty")])
    assert empty.exit_code == 1 and "Cannot load reranker" in empty.output and "Traceback" not in empty.output
    with pytest.raises(InputError):
        load_reranker(tmp_path / "nothing")
    with pytest.raises(HybridSearchError):
        load_reranker(tmp_path / "empty")
