import json
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from conftest import FAKE_MODEL, LOADED, FakeEncoder

from hybridsearch import HybridIndex, IndexConfig
from hybridsearch.backends.local import LocalBackend
from hybridsearch.backends.local.generations import POINTER
from hybridsearch.chunking import model_input, sentence_inputs, sentence_spans
from hybridsearch.config import DenseConfig
from hybridsearch.errors import EmptyQueryError, IndexFormatError, IndexNotFoundError, InputError, ModelMismatchError


def test_build_then_search_finds_mars(built: HybridIndex) -> None:
    hits = built.search("赤い惑星は?", k=3, alpha=0.6)
    assert hits[0].title == "火星" and hits[0].path.endswith("mars.md")
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].matched_terms == ("赤い", "惑星", "赤い 惑星")
    top = hits[0]
    assert top.score == pytest.approx(0.6 * top.dense_norm + 0.4 * top.bm25_norm)
    source = Path(top.path).read_text(encoding="utf-8")
    assert source[top.start : top.end] == top.text


def test_report_and_manifest(built: HybridIndex) -> None:
    report = built.report
    assert report is not None
    assert (report.files, report.added, report.documents, report.skipped_files) == (7, 7, 8, [])
    assert report.encoded == report.chunks and report.reused == 0
    info = built.info()
    assert info["counts"]["chunks"] == report.chunks
    assert info["model"]["name"] == FAKE_MODEL and info["format_version"] == 3
    assert info["config"]["alpha"] == 0.4 and info["config"]["fusion"] == "coverage"


def test_records_keep_their_ids(built: HybridIndex) -> None:
    hits = built.search("経費精算の締め日", k=1, alpha=0.0)
    assert hits[0].source.endswith("faq.csv#f2") and hits[0].record == "f2" and hits[0].title == "経費"


def test_titles_are_indexed_with_every_chunk(built: HybridIndex) -> None:
    hit = built.search("休暇", k=1, alpha=0.0)[0]  # the title of record f1; its text says 有給休暇
    assert hit.record == "f1"
    hit = built.search("ご飯", k=1, alpha=0.0)[0]  # only in the JSONL title, never in the text
    assert hit.record == "rice" and "ご飯" not in hit.text and hit.matched_terms == ("御飯",)  # its lemma


def test_reopened_index_gives_identical_results(built: HybridIndex) -> None:
    again = HybridIndex.open(built.location)
    for query in ("赤い惑星", "味噌汁の作り方", "米"):
        assert again.search(query, k=5) == built.search(query, k=5)


def test_alpha_zero_never_loads_the_model(corpus: Path, tmp_path: Path) -> None:
    HybridIndex.build(corpus, tmp_path / "idx", model="fake:alpha-zero").close()  # a model only this test uses
    reopened = HybridIndex.open(tmp_path / "idx")
    hits = reopened.search("カレー", alpha=0)
    assert hits[0].path.endswith("curry.txt") and hits[0].dense is None
    assert LOADED.count("fake:alpha-zero") == 1  # the build's
    reopened.search("カレー", alpha=0.5)
    assert LOADED.count("fake:alpha-zero") == 2


def test_alpha_one_ranks_by_dense_similarity(built: HybridIndex) -> None:
    hits = built.search("火星は太陽から4番目の惑星", k=9, alpha=1)
    dense = [h.dense for h in hits]
    assert dense == sorted(dense, reverse=True)


@pytest.mark.parametrize(("sentences", "from_sentences"), [(True, True), (True, False), (False, False)])
def test_dense_score_is_the_chunks_cosine_mixed_with_its_best_sentences(
    corpus: Path, tmp_path: Path, sentences: bool, from_sentences: bool
) -> None:
    (corpus / "planets/mars.md").write_text(
        "# 火星\n\n火星は太陽から4番目の惑星で、赤い惑星と呼ばれる。地表の酸化鉄、つまり鉄さびが赤い色のもとだ。\n",
        encoding="utf-8",
    )
    config = IndexConfig(dense=DenseConfig(FAKE_MODEL, sentences=sentences, chunk_from_sentences=from_sentences))
    index = HybridIndex.build(corpus, tmp_path / "idx", config=config)
    encoder, query = FakeEncoder(), "赤い色のもとは酸化鉄"
    hit = index.search(query, k=1, alpha=1)[0]
    assert hit.title == "火星" and ("sentences" in index.info()["counts"]) == sentences
    vector = encoder.encode_queries([query])[0]
    sentence_vectors = encoder.encode_documents(sentence_inputs(hit.title, hit.text))
    if from_sentences:  # the chunk's vector is its sentences' mean, weighted by their lengths
        lengths = np.array([end - start for start, end in sentence_spans(hit.title, hit.text)], np.float32)
        chunk = (sentence_vectors * lengths[:, None]).sum(axis=0)
        chunk /= np.linalg.norm(chunk)
    else:
        chunk = encoder.encode_documents([model_input(hit.title, hit.text)])[0]
    cosine = float(chunk @ vector)
    best = max(sentence_vectors @ vector)
    assert len(sentence_inputs(hit.title, hit.text)) == 2 and abs(best - cosine) > 0.05  # the mix shows
    assert hit.dense == pytest.approx(0.5 * cosine + 0.5 * best if sentences else cosine, abs=1e-3)  # float16
    assert index.info()["counts"].get("sentences") == (2 if sentences else None)


@pytest.mark.parametrize("from_sentences", [True, False])
def test_chunks_are_encoded_a_run_at_a_time(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_sentences: bool
) -> None:
    import hybridsearch.writer

    (corpus / "long.txt").write_text("火星は太陽から4番目の惑星で、赤い惑星と呼ばれる。" * 7, encoding="utf-8")
    config = IndexConfig(dense=DenseConfig(FAKE_MODEL, chunk_from_sentences=from_sentences))
    HybridIndex.build(corpus, tmp_path / "whole", config=config, cache=False)
    monkeypatch.setattr(hybridsearch.embedding, "ENCODE_RUN", 2)  # calls that mix chunks and sentences
    HybridIndex.build(corpus, tmp_path / "blocks", config=config, cache=False)
    with (
        closing(LocalBackend.open(tmp_path / "whole")) as whole,
        closing(LocalBackend.open(tmp_path / "blocks")) as blocks,
    ):
        assert whole.sentences is not None and blocks.sentences is not None and len(whole.sentences) == 7
        np.testing.assert_array_equal(whole.sentences.vectors, blocks.sentences.vectors)
        np.testing.assert_array_equal(whole.sentences.starts, blocks.sentences.starts)
        rows = np.arange(whole.num_chunks)
        np.testing.assert_array_equal(whole.vectors.vectors(rows), blocks.vectors.vectors(rows))


def test_rebuild_swaps_generations_and_keeps_two(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    for _ in range(3):
        HybridIndex.build(corpus, index_dir, model=FAKE_MODEL, rebuild=True)
    assert (index_dir / POINTER).read_text().splitlines()[0] == "gen-000003"
    assert sorted(p.name for p in index_dir.iterdir() if p.is_dir()) == ["gen-000002", "gen-000003"]


def test_failed_build_leaves_previous_index_intact(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    HybridIndex.build(corpus, index_dir, model=FAKE_MODEL)

    class Broken(FakeEncoder):
        def encode_documents(self, texts, batch_size=32, progress=None):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # without the cache, which holds every vector of the first build
        HybridIndex.build(corpus, index_dir, encoder=Broken(), rebuild=True, cache=False)
    assert HybridIndex.open(index_dir).search("火星", k=1)[0].title == "火星"
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".building")]


@pytest.mark.parametrize(
    ("query", "k", "alpha", "error", "message"),
    [
        ("", 10, None, EmptyQueryError, "empty"),
        ("  ", 10, None, EmptyQueryError, "empty"),
        ("火星", 0, None, InputError, "k must be a positive"),
        ("火星", 10, 1.2, InputError, "alpha must be between 0 and 1"),
    ],
)
def test_bad_search_arguments(
    built: HybridIndex, query: str, k: int, alpha: float | None, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        built.search(query, k=k, alpha=alpha)


def test_only_particles_still_searches(built: HybridIndex) -> None:
    assert built.search("は?", k=1)


def test_open_errors(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="No index at"):
        HybridIndex.open(tmp_path / "missing")
    with pytest.raises(IndexFormatError, match="not a hybridsearch index"):
        HybridIndex.open(corpus)


def test_building_into_a_foreign_folder_is_refused(corpus: Path) -> None:
    with pytest.raises(InputError, match="not a hybridsearch index; refusing"):
        HybridIndex.build(corpus, corpus / "planets", model=FAKE_MODEL)
    assert (corpus / "planets" / "mars.md").exists()


def test_no_documents_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match=r"No documents with text found .* \(1 file\(s\) skipped\)"):
        HybridIndex.build(tmp_path / "docs", tmp_path / "index", model=FAKE_MODEL)
    assert not (tmp_path / "index").exists()


def _generation(index: HybridIndex) -> Path:
    return Path(index.location) / index.version


def test_newer_format_version_is_refused(built: HybridIndex) -> None:
    manifest_path = _generation(built) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="format version 99, but this hybridsearch .* reads versions 2, 3"):
        HybridIndex.open(Path(built.location))


@pytest.mark.parametrize(
    "damage", ["truncate-faiss", "delete-docstore", "delete-sentence-starts", "garbage-manifest", "bad-pointer"]
)
def test_damaged_index_gives_a_clear_error(built: HybridIndex, damage: str) -> None:
    generation = _generation(built)
    if damage == "truncate-faiss":
        data = (generation / "vectors.faiss").read_bytes()
        (generation / "vectors.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "delete-docstore":
        (generation / "docs.sqlite").unlink()
    elif damage == "delete-sentence-starts":
        (generation / "sentence-starts.npy").unlink()
    elif damage == "garbage-manifest":
        (generation / "manifest.json").write_text("{not json")
    else:
        (Path(built.location) / POINTER).write_text("gen-000042\n")
    with pytest.raises(IndexFormatError, match="rebuild it with: hsearch index PATH --index"):
        HybridIndex.open(Path(built.location))


def test_model_mismatch(built: HybridIndex) -> None:
    with pytest.raises(ModelMismatchError, match="dim: index 64 vs given 32"):
        HybridIndex.open(built.location, encoder=FakeEncoder(dim=32))
    with pytest.raises(ModelMismatchError, match=f"name: index '{FAKE_MODEL}' vs given 'other'"):
        HybridIndex.open(built.location, encoder=FakeEncoder(name="other"))


def test_highlights_point_at_the_original_text(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    text = "ＭＡＲＳ探査では、東京から行きました。火星へ行く計画もある。"
    (docs / "a.txt").write_text(text, encoding="utf-8")
    index = HybridIndex.build(docs, tmp_path / "idx", model=FAKE_MODEL)
    hit = index.search("marsへ行く", k=1, alpha=0)[0]
    assert hit.matched_terms == ("mars", "行く")
    assert [text[s:e] for s, e in hit.highlights] == ["ＭＡＲＳ", "行き", "行く"]  # full width kept, 行き ~ 行く
    assert hit.to_dict()["highlights"] == [list(span) for span in hit.highlights]
    assert [hit.text[s:e] for s, e in hit.chunk_highlights] == ["ＭＡＲＳ", "行き", "行く"]


def test_manifest_without_newer_keys_describes_an_index_built_without_them() -> None:
    stored = IndexConfig().to_dict()
    assert IndexConfig.from_dict(stored) == IndexConfig()
    del stored["tokenizer"]["word_pairs"]  # written before word pairs existed
    del stored["dense"]["sentences"]  # …and before sentence vectors
    del stored["dense"]["chunk_from_sentences"]  # …and before chunk vectors came from them
    old = IndexConfig.from_dict(stored)
    assert old.tokenizer.word_pairs is False and old.dense.sentences is False
    assert old.dense.chunk_from_sentences is False
