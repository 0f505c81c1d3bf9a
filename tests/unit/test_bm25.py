import math
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from hybridsearch import bm25
from hybridsearch.bm25 import BM25Index, Vocabulary, top_k
from hybridsearch.config import BM25Config

TERMS = st.sampled_from(["火星", "惑星", "赤い", "海", "太陽", "月", "x"])
CORPUS = st.lists(st.lists(TERMS, max_size=12), min_size=1, max_size=25)
QUERY = st.lists(st.sampled_from(["火星", "惑星", "赤い", "海", "太陽", "月", "x", "未知"]), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(TERMS, min_size=1, max_size=12), min_size=1, max_size=25),
    QUERY,
    st.floats(0.5, 2.0),
    st.floats(0.0, 1.0),
)
def test_okapi_equals_rank_bm25(corpus: list[list[str]], query: list[str], k1: float, b: float) -> None:
    # non-empty chunks only: rank_bm25 computes 0/0 = NaN for an empty one when b = 1
    expected = BM25Okapi(corpus, k1=k1, b=b).get_scores(query)
    ours = BM25Index.build(corpus, BM25Config(k1=k1, b=b, variant="okapi")).scores(query)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)


def naive_lucene(corpus: list[list[str]], query: list[str], k1: float = 0.9, b: float = 0.4) -> list[float]:
    n = len(corpus)
    avg = sum(map(len, corpus)) / n or 1.0
    scores = []
    for doc in corpus:
        total = 0.0
        for term in query:
            df = sum(term in d for d in corpus)
            tf = doc.count(term)
            if df and tf:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                total += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avg))
        scores.append(total)
    return scores


@settings(max_examples=150, deadline=None)
@given(CORPUS, QUERY)
def test_lucene_default_equals_naive_formula(corpus: list[list[str]], query: list[str]) -> None:
    np.testing.assert_allclose(BM25Index.build(corpus).scores(query), naive_lucene(corpus, query), atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(CORPUS, QUERY)
def test_best_possible_bounds_every_score_and_is_reached_by_a_whole_match(
    corpus: list[list[str]], query: list[str]
) -> None:
    index = BM25Index.build(corpus)
    best = index.best_possible(query)
    per_term = [max(naive_lucene(corpus, [term])) for term in query]
    assert best == pytest.approx(sum(per_term), abs=1e-9)
    assert index.scores(query).max(initial=0.0) <= best + 1e-9


def test_empty_chunks_score_zero() -> None:
    scores = BM25Index.build([[], ["火星"]], BM25Config(b=1.0)).scores(["火星"])
    assert scores[0] == 0.0 and scores[1] > 0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    corpus = [["火星", "赤い", "惑星"], ["地球", "青い", "惑星"], []]
    index = BM25Index.build(corpus)
    index.save(tmp_path)
    with closing(BM25Index.load(tmp_path)) as loaded:
        assert loaded.vocab.terms == index.vocab.terms
        np.testing.assert_array_equal(loaded.scores(["惑星", "赤い"]), index.scores(["惑星", "赤い"]))
        assert loaded.matched_terms(["赤い", "惑星", "海", "赤い"], [0, 1, 2]) == [["赤い", "惑星"], ["惑星"], []]


def test_loaded_vocabulary_finds_terms_by_hash_without_reading_the_term_list(tmp_path: Path) -> None:
    terms = [f"語{i}" for i in range(500)] + ["火星 衛星", "𩸽"]
    Vocabulary(terms).save(tmp_path)
    with closing(Vocabulary.load(tmp_path)) as loaded:
        (tmp_path / "vocab.json").write_text("[]")  # lookups never read the term list…
        assert [loaded.id(term) for term in terms] == list(range(len(terms))) and len(loaded) == len(terms)
        assert loaded.id("海") is None and loaded.id("") is None
        assert loaded.terms == []  # …which is read when something asks for it


def test_terms_that_share_a_hash_are_told_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bm25, "term_hash", lambda term: len(term))  # 火星 and 金星 collide
    Vocabulary(["火星", "金星", "惑星です"]).save(tmp_path)
    with closing(Vocabulary.load(tmp_path)) as loaded:
        assert [loaded.id(t) for t in ("金星", "火星", "惑星です", "水星")] == [1, 0, 2, None]


def test_load_checks_shapes_and_problems_checks_values(tmp_path: Path) -> None:
    BM25Index.build([["a", "b"], ["a"]]).save(tmp_path)
    assert _problems(tmp_path) == []
    np.save(tmp_path / "doc_len.npy", np.array([5.0, 1.0]))
    np.save(tmp_path / "weights_data.npy", np.array([9.0, 9.0, 9.0]))
    assert _problems(tmp_path) == [
        "BM25 chunk lengths disagree with the term counts",
        "BM25 term weights disagree with the term counts",
    ]
    np.save(tmp_path / "weights_data.npy", np.array([9.0]))
    with pytest.raises(ValueError, match="weights do not match"):
        _problems(tmp_path)


def test_top_k_orders_by_score_then_index() -> None:
    scores = np.array([0.5, 2.0, 0.5, 3.0, 0.0])
    assert top_k(scores, 3).tolist() == [3, 1, 0]
    assert top_k(scores, 10).tolist() == [3, 1, 0, 2, 4]
    assert top_k(scores, 0).tolist() == []


def _problems(folder: Path) -> list[str]:
    with closing(BM25Index.load(folder)) as loaded:
        return loaded.problems()


def test_top_k_breaks_ties_at_the_cut_by_lower_index() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = rng.integers(0, 3, size=int(rng.integers(1, 300))).astype(np.float64)
        k = int(rng.integers(1, len(scores) + 1))
        assert top_k(scores, k).tolist() == sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    many_zeros = np.zeros(200_000)
    many_zeros[[5, 150_000]] = 1.0
    assert top_k(many_zeros, 5).tolist() == [5, 150_000, 0, 1, 2]
    assert top_k(np.zeros(70_000), 66_000).tolist() == list(range(66_000))  # ties spanning blocks
