from pathlib import Path

import numpy as np

from hybridsearch.vectors import VectorStore


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


def test_search_caps_k_and_handles_empty_store() -> None:
    store = VectorStore.build(np.eye(3, dtype=np.float32))
    assert store.search(np.array([1, 0, 0], np.float32), 10)[1].tolist()[0] == 0
    assert len(store.search(np.array([1, 0, 0], np.float32), 10)[1]) == 3
    empty = VectorStore.build(np.zeros((0, 3), np.float32))
    assert len(empty.search(np.array([1, 0, 0], np.float32), 5)[1]) == 0
