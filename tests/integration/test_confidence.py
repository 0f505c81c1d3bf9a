"""Each hit's calibrated confidence, min_confidence, and the CLI's "no good match"."""

import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import CALIBRATED_MODEL
from serving import running

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.confidence import NO_GOOD_MATCH, Calibration, calibration, features
from hybridsearch.errors import InputError

# the weights conftest registers for the calibrated fake model, so the pipeline can be checked without the real one
FAKE = calibration(CALIBRATED_MODEL, dense=True)
assert Calibration((12.0, -20.0, 3.0, -1.0), -6.0) == FAKE


@pytest.fixture
def calibrated(corpus: Path, tmp_path: Path) -> Iterator[HybridIndex]:
    """An index of `corpus` whose (fake) model has calibrated confidence: FAKE, registered in conftest."""
    with HybridIndex.build(corpus, tmp_path / "calibrated", model=CALIBRATED_MODEL) as index:
        yield index


def by_hand(hit, best_dense: float, best_bm25: float, ceiling: float) -> float:  # type: ignore[no-untyped-def]
    cosine, behind = hit.dense, best_dense - hit.dense
    share, best_share = hit.bm25 / ceiling, best_bm25 / ceiling
    logit = 12.0 * cosine - 20.0 * behind + 3.0 * share - 1.0 * best_share - 6.0
    return 1 / (1 + math.exp(-logit))


def test_features_and_the_logistic() -> None:
    rows = features(np.array([0.9, 0.8]), 0.9, np.array([4.0, 1.0]), 4.0, 8.0)
    assert rows.tolist() == [[0.9, 0.0, 0.5, 0.5], [0.8, pytest.approx(0.1), 0.125, 0.5]]
    assert features(None, 0.0, np.array([2.0]), 2.0, 0.0).tolist() == [[0.0, 0.0, 0.0, 0.0]]
    p = FAKE.confidence(rows)
    assert 0 < p[1] < p[0] < 1
    assert calibration("no-such-model", dense=True) is None and calibration("no-such-model", dense=False) is not None


def test_hits_carry_the_calibrated_probability(calibrated: HybridIndex) -> None:
    hits = calibrated.search("赤い惑星", k=5, collapse=False)
    with calibrated.searcher() as searcher:
        prepared = searcher.prepare("赤い惑星")
        vector = searcher.encode_queries([prepared.dense_text])[0]
        candidates = searcher.candidates(prepared.terms, vector, calibrated.info()["counts"]["chunks"])
    best_dense, best_bm25 = float(candidates.dense.scores.max()), float(candidates.bm25.scores.max())
    ceiling = candidates.bm25.best
    assert ceiling >= best_bm25 > 0
    for hit in hits:
        assert hit.confidence == pytest.approx(by_hand(hit, best_dense, best_bm25, ceiling), abs=1e-9)
    kept = calibrated.search("赤い惑星", k=5, collapse=False, min_confidence=0.5)
    assert [hit.id for hit in kept] == [hit.id for hit in hits if hit.confidence >= 0.5]  # type: ignore[operator]


def test_min_confidence_needs_a_calibrated_model(built: HybridIndex) -> None:
    assert all(hit.confidence is None for hit in built.search("赤い惑星"))
    with pytest.raises(InputError, match="needs a model whose confidence is calibrated"):
        built.search("赤い惑星", min_confidence=0.5)
    assert built.search("赤い惑星", alpha=0, min_confidence=0.0)  # BM25 only: its weights serve every model
    with pytest.raises(InputError, match="between 0 and 1"):
        built.search("赤い惑星", alpha=0, min_confidence=1.5)
    refused = CliRunner().invoke(cli, ["query", "赤い惑星", "--index", built.location, "--min-confidence", "0.5"])
    assert refused.exit_code == 1 and "calibrated" in refused.output


def test_cli_no_good_match_and_show_weak(calibrated: HybridIndex) -> None:
    args = ["query", "赤い惑星", "--index", calibrated.location, "-k", "3"]
    strict = CliRunner().invoke(cli, [*args, "--min-confidence", "1"])
    assert strict.exit_code == 0 and NO_GOOD_MATCH in strict.stderr and "--show-weak" in strict.stderr
    assert strict.stdout == ""
    weak = CliRunner().invoke(cli, [*args, "--min-confidence", "1", "--show-weak"])
    assert "弱い一致" in weak.stdout and weak.stdout.count("confidence ") == 3
    shown = json.loads(CliRunner().invoke(cli, [*args, "--min-confidence", "1", "--show-weak", "--json"]).stdout)
    assert shown["no_good_match"] and all(hit["weak"] for hit in shown["hits"])
    loose = json.loads(CliRunner().invoke(cli, [*args, "--min-confidence", "0", "--json"]).stdout)
    assert not loose["no_good_match"] and len(loose["hits"]) == 3 and loose["hits"][0]["confidence"] > 0


def test_http_min_confidence(calibrated: HybridIndex) -> None:
    with running({"docs": calibrated.location}) as url:
        hits = httpx.get(f"{url}/search", params={"q": "赤い惑星", "k": 3}).json()["hits"]
        assert all(0 <= hit["confidence"] <= 1 for hit in hits)
        strict = httpx.get(f"{url}/search", params={"q": "赤い惑星", "min_confidence": 1}).json()
        assert strict["no_good_match"] and strict["min_confidence"] == 1  # every hit returned, flagged weak
        assert strict["hits"] and all(hit["weak"] and hit["confidence"] < 1 for hit in strict["hits"])
        assert httpx.get(f"{url}/search", params={"q": "赤い惑星", "min_confidence": 2}).status_code == 400
