from pathlib import Path

import numpy as np
import pytest
from conftest import FAKE_MODEL

from hybridsearch.backends.local.vectors import EXACT_SCAN_MAX, SENTENCE_STARTS, SentenceVectors, VectorStore
from hybridsearch.config import DenseConfig, IndexConfig, VectorConfig
from hybridsearch.errors import InputError
from hybridsearch.index import HybridIndex


def test_faiss_search_equals_brute_force(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[7] + 0.1 * rng.normal(size=16).astype(np.float32)
    store = VectorStore.build(vectors)
    store.save(tmp_path / "v.faiss")
    loaded = VectorStore.load(tmp_path / "v.faiss")
    scores, ids = loaded.search(query, 10)
    expected = np.argsort(-(vectors @ query))[:10]
    assert ids.tolist() == expected.tolist()
    np.testing.assert_allclose(scores, (vectors @ query)[expected], rtol=1e-5)
    assert len(loaded) == 200 and loaded.dim == 16


@pytest.mark.parametrize("kind", ["flat", "hnsw", "sq8", "hnsw-sq8"])
@pytest.mark.parametrize("keep", [0.0, 0.001, 0.01, 0.3, 0.99, 1.0])
def test_a_masked_search_equals_brute_force_over_the_allowed_rows(kind: str, keep: float, tmp_path: Path) -> None:
    """Exact where the kind is exact; on HNSW exact when the mask keeps few rows, else what a graph
    walk limited to the allowed rows finds (on this small index: the exact top 10)."""
    rng = np.random.default_rng(3)
    vectors = _unit_rows(rng, 4000, 24)
    config = VectorConfig(kind=kind)
    VectorStore.build(vectors, config=config).save(tmp_path / "v.faiss")
    store = VectorStore.load(tmp_path / "v.faiss", config)
    allowed = rng.uniform(size=4000) < keep
    stored = store.vectors(np.arange(4000))  # as the index holds them (8-bit kinds: decoded)
    for query in _unit_rows(rng, 5, 24):
        scores, rows = store.search(query, 10, allowed)
        truth = np.flatnonzero(allowed)[np.argsort(-(stored[allowed] @ query), kind="stable")[:10]]
        assert np.all(allowed[rows]) and len(rows) == min(10, int(allowed.sum()))
        assert sorted(rows.tolist()) == sorted(truth.tolist())
        np.testing.assert_allclose(scores, stored[rows] @ query, atol=1e-4)
        assert np.all(np.diff(scores) <= 1e-6)  # best first


@pytest.mark.parametrize("keep", [0.3, 0.99])
def test_hnsw_walks_its_graph_within_a_wide_filter(keep: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past EXACT_SCAN_MAX allowed rows, HNSW searches its graph with the filter as a selector: only
    allowed rows come back, as many as asked, nearly the exact ones (it is approximate, as unfiltered)."""
    import hybridsearch.backends.local.vectors as local_vectors

    monkeypatch.setattr(local_vectors, "EXACT_SCAN_MAX", 100)
    rng = np.random.default_rng(5)
    vectors = _unit_rows(rng, 3000, 16)
    store = VectorStore.build(vectors, config=VectorConfig(kind="hnsw"))
    allowed = rng.uniform(size=3000) < keep
    overlaps = []
    for query in _unit_rows(rng, 20, 16):
        _, rows = store.search(query, 20, allowed)
        truth = np.flatnonzero(allowed)[np.argsort(-(vectors[allowed] @ query))[:20]]
        assert np.all(allowed[rows]) and len(rows) == 20
        overlaps.append(len(set(rows.tolist()) & set(truth.tolist())) / 20)
    assert np.mean(overlaps) >= 0.95


def test_hnsw_scans_exactly_when_a_filter_keeps_few_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = _unit_rows(rng, EXACT_SCAN_MAX + 2000, 8)
    store = VectorStore.build(vectors, config=VectorConfig(kind="hnsw"))
    allowed = np.zeros(len(vectors), dtype=bool)
    allowed[rng.choice(len(vectors), 300, replace=False)] = True
    query = _unit_rows(rng, 1, 8)[0]
    _, rows = store.search(query, 300, allowed)  # every allowed row, in exact order
    expected = np.flatnonzero(allowed)[np.argsort(-(vectors[allowed] @ query), kind="stable")]
    assert rows.tolist() == expected.tolist()


def test_search_caps_k_and_handles_empty_store() -> None:
    store = VectorStore.build(np.eye(3, dtype=np.float32))
    assert store.search(np.array([1, 0, 0], np.float32), 10)[1].tolist()[0] == 0
    assert len(store.search(np.array([1, 0, 0], np.float32), 10)[1]) == 3
    empty = VectorStore.build(np.zeros((0, 3), np.float32))
    assert len(empty.search(np.array([1, 0, 0], np.float32), 5)[1]) == 0


@pytest.mark.parametrize("kind", ["hnsw", "sq8", "hnsw-sq8"])
def test_approximate_kinds_find_what_exact_search_finds(kind: str, tmp_path: Path) -> None:
    """Top-10 overlap with exact search (reported; asserted only loosely, it is a quality figure)."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(40, 32))
    vectors = (centres[rng.integers(0, 40, 3000)] + 0.5 * rng.normal(size=(3000, 32))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = VectorStore.build(vectors)
    config = VectorConfig(kind=kind)
    VectorStore.build(vectors, config=config).save(tmp_path / "v.faiss")
    store = VectorStore.load(tmp_path / "v.faiss", config)
    queries = vectors[rng.integers(0, 3000, 50)] + 0.2 * rng.normal(size=(50, 32)).astype(np.float32)
    overlap = np.mean(
        [len(set(store.search(q, 10)[1].tolist()) & set(exact.search(q, 10)[1].tolist())) / 10 for q in queries]
    )
    print(f"{kind}: top-10 overlap with exact search {overlap:.3f}")
    assert overlap >= 0.9
    assert store.vectors(np.arange(3)).shape == (3, 32)
    np.testing.assert_allclose(store.vectors(np.arange(3)), vectors[:3], atol=0.02)  # sq8 decodes approximately


def test_an_index_records_its_vector_kind(corpus: Path, tmp_path: Path) -> None:
    fake = DenseConfig(FAKE_MODEL)
    config = IndexConfig(dense=fake, vectors=VectorConfig(kind="hnsw"))
    index = HybridIndex.build(corpus, tmp_path / "index", config=config)
    assert index.info()["config"]["vectors"]["kind"] == "hnsw" and index.search("赤い惑星", k=3)
    assert index.info()["vectors"] == "hnsw"
    with pytest.raises(InputError, match="vectors.kind: 'hnsw' → 'auto'"):
        HybridIndex.build(corpus, tmp_path / "index", config=IndexConfig(dense=fake))


def test_auto_is_flat_for_small_indexes_and_hnsw_for_large(monkeypatch: pytest.MonkeyPatch) -> None:
    import hybridsearch.config

    vectors = np.eye(8, dtype=np.float32)
    assert VectorStore.build(vectors).kind == "flat"
    monkeypatch.setattr(hybridsearch.config, "HNSW_FROM", 8)
    assert VectorStore.build(vectors).kind == "hnsw" and VectorStore.build(vectors[:7]).kind == "flat"
    monkeypatch.setattr(hybridsearch.config, "HNSW_SQ8_FROM", 8)
    assert VectorStore.build(vectors).kind == "hnsw-sq8"
    assert VectorStore.build(vectors, config=VectorConfig(kind="sq8")).kind == "sq8"


def _unit_rows(rng: np.random.Generator, rows: int, dim: int = 8) -> np.ndarray:
    vectors = rng.normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_chunks_dense_score_is_mixed_with_its_best_sentences(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 4, size=40)  # chunks of 0 (one sentence: none stored) to 3 sentence vectors
    vectors = _unit_rows(rng, int(counts.sum()))
    SentenceVectors.build(vectors, counts).save(tmp_path)
    sentences = SentenceVectors.load(tmp_path)
    assert isinstance(sentences.vectors, np.memmap) and sentences.vectors.dtype == np.float16
    starts = np.concatenate([[0], np.cumsum(counts)])
    query, chunk_scores = _unit_rows(rng, 1)[0], rng.uniform(size=40).astype(np.float32)

    def expected(chunk: int) -> float:
        own = vectors[starts[chunk] : starts[chunk + 1]] @ query
        return chunk_scores[chunk] if not len(own) else 0.5 * chunk_scores[chunk] + 0.5 * own.max()

    every = np.arange(40)  # all chunks (an index scored exhaustively): every row converted once
    np.testing.assert_allclose(sentences.mixed(query, every, chunk_scores), [expected(c) for c in every], atol=1e-3)
    few = np.array([int(np.argmax(counts)), 7])  # a few candidates: only their rows are read
    assert 4 * counts[few].sum() < len(sentences)
    mixed = sentences.mixed(query, few, chunk_scores[few])
    np.testing.assert_allclose(mixed, [expected(c) for c in few], atol=1e-3)
    held, held_counts = sentences.of_chunks(few)
    assert held_counts.tolist() == counts[few].tolist()
    np.testing.assert_allclose(held, np.concatenate([vectors[starts[c] : starts[c + 1]] for c in few]), atol=1e-3)
    sentences.close()


def test_sentence_starts_that_do_not_match_the_vectors_are_refused(tmp_path: Path) -> None:
    SentenceVectors.build(np.eye(4, dtype=np.float32), np.array([2, 0, 2])).save(tmp_path)
    np.save(tmp_path / SENTENCE_STARTS, np.array([0, 2, 2, 5]))
    with pytest.raises(ValueError, match="does not match the 4 sentence vectors"):
        SentenceVectors.load(tmp_path)
    with pytest.raises(ValueError, match="3 sentence vectors for 4 sentences"):
        SentenceVectors.build(np.eye(3, 4, dtype=np.float32), np.array([2, 2]))
