import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hybridsearch.config import Fusion
from hybridsearch.errors import InputError
from hybridsearch.fusion import RRF_K, Side, fuse, linear_rule, register_fusion

SCORES = st.lists(st.floats(-5, 50, allow_nan=False), min_size=1, max_size=30)


def sides(bm25: list[float], dense: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both sides over the same ids 0..n-1, each sorted best first."""
    n = min(len(bm25), len(dense))
    b, d = np.array(bm25[:n]), np.array(dense[:n])
    b_ids, d_ids = np.argsort(-b, kind="stable"), np.argsort(-d, kind="stable")
    return b_ids, b[b_ids], d_ids, d[d_ids]


@given(SCORES, SCORES)
def test_alpha_one_is_dense_order_and_zero_is_bm25_order(bm25: list[float], dense: list[float]) -> None:
    b_ids, b_scores, d_ids, d_scores = sides(bm25, dense)
    dense_only = fuse(b_ids, b_scores, d_ids, d_scores, alpha=1.0, fusion="minmax", k=len(b_ids))
    bm25_only = fuse(b_ids, b_scores, d_ids, d_scores, alpha=0.0, fusion="minmax", k=len(b_ids))
    assert np.all(np.diff(dense_only.dense) <= 0)
    assert np.all(np.diff(bm25_only.bm25) <= 0)


@given(SCORES, SCORES, st.floats(0, 1))
def test_minmax_scores_are_in_unit_interval(bm25: list[float], dense: list[float], alpha: float) -> None:
    fused = fuse(*sides(bm25, dense), alpha=alpha, fusion="minmax", k=100)
    for values in (fused.bm25_norm, fused.dense_norm, fused.score):
        assert np.all((values >= -1e-12) & (values <= 1 + 1e-12))
    np.testing.assert_allclose(fused.score, alpha * fused.dense_norm + (1 - alpha) * fused.bm25_norm)


def test_missing_side_gets_that_sides_minimum() -> None:
    fused = fuse(np.array([1, 2]), np.array([9.0, 3.0]), np.array([2, 5]), np.array([0.8, 0.4]), 0.5, "minmax", k=3)
    by_id = dict(zip(fused.ids.tolist(), zip(fused.bm25, fused.bm25_norm, fused.dense, fused.dense_norm)))
    assert by_id[1] == (9.0, 1.0, 0.4, 0.0)  # not among dense candidates
    assert by_id[5] == (3.0, 0.0, 0.4, 0.0)  # not among BM25 candidates
    assert by_id[2] == (3.0, 0.0, 0.8, 1.0)
    assert fused.ids.tolist() == [2, 1, 5]  # 1 and 2 tie at 0.5: the higher dense score goes first


def test_rrf_uses_reciprocal_ranks_and_zero_when_missing() -> None:
    fused = fuse(np.array([1, 2]), np.array([9.0, 3.0]), np.array([2]), np.array([0.8]), alpha=0.5, fusion="rrf", k=2)
    assert fused.ids.tolist() == [2, 1]
    assert fused.score[0] == pytest.approx(0.5 / (RRF_K + 1) + 0.5 / (RRF_K + 2))
    assert fused.dense_norm[1] == 0.0


def test_zscore_and_constant_sides() -> None:
    fused = fuse(np.array([0, 1]), np.array([2.0, 2.0]), np.array([0, 1]), np.array([0.9, 0.1]), 0.5, "zscore", k=2)
    assert fused.bm25_norm.tolist() == [0.0, 0.0]
    assert fused.dense_norm.tolist() == pytest.approx([1.0, -1.0])


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "0.5"])
def test_alpha_is_validated(alpha: object) -> None:
    with pytest.raises(InputError, match="alpha must be between 0 and 1"):
        fuse(np.array([0]), np.array([1.0]), np.array([0]), np.array([1.0]), alpha, "minmax")  # type: ignore[arg-type]


def test_unknown_fusion_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Unknown fusion 'max'; choose one of: coverage, minmax, zscore, rrf"):
        fuse(np.array([0]), np.array([1.0]), np.array([0]), np.array([1.0]), alpha=0.5, fusion="max")


@pytest.mark.parametrize("fusion", list(Fusion))
def test_every_fusion_option_is_a_registered_rule(fusion: Fusion) -> None:
    lists = np.array([0, 1]), np.array([2.0, 1.0]), np.array([1, 0]), np.array([0.9, 0.8])
    by_member, by_name = (fuse(*lists, 0.4, choice, 2, 3.0) for choice in (fusion, fusion.value))
    np.testing.assert_array_equal(by_member.score, by_name.score)
    assert by_member.ids.tolist() == by_name.ids.tolist() and np.all(np.isfinite(by_member.score))


def test_a_registered_rule_is_used_by_name() -> None:
    def raw_sum(bm25: Side, dense: Side, alpha: float, ceiling: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return bm25.raw, dense.raw, bm25.raw + dense.raw + ceiling

    register_fusion("test-raw-sum", raw_sum)
    lists = np.array([1, 2]), np.array([9.0, 3.0]), np.array([2, 1]), np.array([8.0, 0.5])
    fused = fuse(*lists, 0.5, "test-raw-sum", 2, 1.0)
    assert fused.ids.tolist() == [2, 1]
    assert fused.score.tolist() == [12.0, 10.5]


@given(SCORES, SCORES, st.floats(0, 1))
def test_linear_rule_mixes_each_sides_scale_with_alpha(bm25: list[float], dense: list[float], alpha: float) -> None:
    register_fusion("test-raw", linear_rule(lambda side: side.raw))
    fused = fuse(*sides(bm25, dense), alpha=alpha, fusion="test-raw", k=100)
    np.testing.assert_array_equal(fused.bm25_norm, fused.bm25)
    np.testing.assert_array_equal(fused.score, alpha * fused.dense + (1 - alpha) * fused.bm25)


POSITIVE = st.lists(st.floats(0, 50, allow_nan=False), min_size=1, max_size=30)
COSINES = st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30)


@given(POSITIVE, COSINES, st.floats(0, 1), st.floats(0.001, 100))
def test_coverage_fusion_by_hand(bm25: list[float], dense: list[float], alpha: float, extra: float) -> None:
    b_ids, b_scores, d_ids, d_scores = sides(bm25, dense)
    ceiling = float(b_scores.max()) + extra  # the most any chunk could score is at least the best's
    fused = fuse(b_ids, b_scores, d_ids, d_scores, alpha, "coverage", k=len(b_ids), bm25_ceiling=ceiling)
    share = fused.bm25 / ceiling
    np.testing.assert_allclose(fused.bm25_norm, share)
    np.testing.assert_allclose(fused.dense_norm, 1 - (d_scores.max() - fused.dense) / 0.1)
    weight = (1 - alpha) * np.sqrt(b_scores.max() / ceiling)
    np.testing.assert_allclose(fused.score, (1 - weight) * fused.dense_norm + weight * share, atol=1e-12)
    assert np.all(np.diff(fused.score) <= 1e-12)


@given(POSITIVE, COSINES)
def test_coverage_fusion_keeps_each_sides_order_at_the_ends(bm25: list[float], dense: list[float]) -> None:
    b_ids, b_scores, d_ids, d_scores = sides(bm25, dense)
    ceiling = float(b_scores.max()) + 1
    dense_only = fuse(b_ids, b_scores, d_ids, d_scores, 1.0, "coverage", k=len(b_ids), bm25_ceiling=ceiling)
    bm25_only = fuse(b_ids, b_scores, d_ids[:0], d_scores[:0], 0.0, "coverage", k=len(b_ids), bm25_ceiling=ceiling)
    assert np.all(np.diff(dense_only.dense) <= 0)
    assert np.all(np.diff(bm25_only.bm25) <= 0)


def test_coverage_fusion_leans_on_meaning_when_the_best_match_covers_little() -> None:
    ids = np.array([0, 1])
    # chunk 0 matches BM25 better, chunk 1 is closer in meaning
    bm25, dense = np.array([2.0, 1.0]), np.array([0.80, 0.85])
    covered = fuse(ids, bm25, ids[::-1], dense[::-1], 0.4, "coverage", k=2, bm25_ceiling=2.0)
    partial = fuse(ids, bm25, ids[::-1], dense[::-1], 0.4, "coverage", k=2, bm25_ceiling=20.0)
    assert covered.ids.tolist() == [0, 1]  # the whole query matched: its words decide
    assert partial.ids.tolist() == [1, 0]  # a tenth of it: meaning decides
    no_words = fuse(ids[:0], bm25[:0], ids[::-1], dense[::-1], 0.4, "coverage", k=2, bm25_ceiling=5.0)
    assert no_words.ids.tolist() == [1, 0] and np.all(no_words.bm25_norm == 0)
