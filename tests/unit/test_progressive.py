"""Progressive indexing (DESIGN.md §11): words first, then the vectors in batches, each a generation."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import CALIBRATED_MODEL, DOCS, FAKE_MODEL, PADDED_MODEL, TESTS, write_files

from hybridsearch import HybridIndex, IndexConfig, SearchRequest, embedding, filling, writer
from hybridsearch.backends.local import LocalBackend
from hybridsearch.backends.local.generations import VECTOR_MASK
from hybridsearch.cli import cli
from hybridsearch.config import DenseConfig

QUERIES = ["赤い惑星", "味噌汁の作り方", "休暇の申請", "海", "ご飯を炊く"]


class Stop(Exception):
    pass


@pytest.fixture
def many(tmp_path: Path) -> Path:
    """DOCS and 40 more short documents: enough chunks for several batches."""
    extra = {f"more/n{i:02d}.txt": f"第{i}号の記録。惑星{i}は青い海と赤い砂を持つ。住民は{i}人。" for i in range(40)}
    return write_files(tmp_path / "docs", DOCS | extra)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "PROGRESSIVE_FROM", 1)
    monkeypatch.setattr(embedding, "ENCODE_RUN", 5)  # a batch is whole runs
    monkeypatch.setattr(filling, "COMMIT_SHARE", float("inf"))  # every batch keeps its size


def _write(docs: Path, index: Path, model: str = FAKE_MODEL, **options: object) -> writer.IndexReport:
    config = IndexConfig(dense=DenseConfig(model=model))
    return writer.write_index(index, [docs], config=config, cache=False, **options)  # type: ignore[arg-type]


def _results(index: Path, **options: object) -> list[list[tuple[str, float, float | None, float | None]]]:
    with HybridIndex.open(index) as opened:
        return [
            [(h.id, h.score, h.dense, h.confidence) for h in opened.search(q, k=10, **options)]  # type: ignore[arg-type]
            for q in QUERIES
        ]


def _fill_until(index: Path, texts: int) -> None:
    """Fill, stopping (as a kill between batches would) once `texts` texts were encoded."""

    def progress(event: writer.ProgressEvent) -> None:
        if event.stage == "encoding" and event.done >= texts:
            raise Stop

    with pytest.raises(Stop):
        filling.fill_index(index, cache=False, progress=progress)


def _same_vectors(index: Path, other: Path) -> None:
    one, two = LocalBackend.open(index), LocalBackend.open(other)
    try:
        rows = np.arange(two.num_chunks)
        assert np.array_equal(one.vectors.vectors(rows), two.vectors.vectors(rows))
        assert one.sentences is not None and two.sentences is not None
        assert np.array_equal(one.sentences.starts, two.sentences.starts)
        assert np.array_equal(one.sentences.vectors, two.sentences.vectors)
        assert one.manifest["counts"] == two.manifest["counts"]  # the sentences counted too
    finally:
        one.close()
        two.close()


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize("model", [FAKE_MODEL, PADDED_MODEL])
def test_words_first_then_complete_equals_one_phase(
    many: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    """Bit for bit, also with a model whose vectors depend on the texts encoded with them."""
    report = _write(many, tmp_path / "words", model, wait=False)
    words = LocalBackend.open(tmp_path / "words")
    try:
        assert report.unfilled == words.num_chunks and words.num_vectors == 0
        assert words.manifest["format_version"] == 4 and words.info()["with_vectors"]["chunks"] == 0
    finally:
        words.close()
    filled = filling.fill_index(tmp_path / "words", cache=False)
    assert filled.filled == report.unfilled and filled.batches == -(-report.unfilled // 5)
    monkeypatch.setattr(writer, "PROGRESSIVE_FROM", 10**9)
    one = _write(many, tmp_path / "one", model)
    assert one.unfilled == 0
    for options in ({}, {"alpha": 0.0}, {"alpha": 0.5, "fusion": "rrf"}, {"alpha": 1.0}):
        assert _results(tmp_path / "words", **options) == _results(tmp_path / "one", **options)
    progressive, single = LocalBackend.open(tmp_path / "words"), LocalBackend.open(tmp_path / "one")
    try:
        assert progressive.manifest["format_version"] == single.manifest["format_version"] == 3
        assert not (progressive.path / VECTOR_MASK).exists() and progressive.check() == []
    finally:
        progressive.close()
        single.close()
    _same_vectors(tmp_path / "words", tmp_path / "one")


@pytest.mark.usefixtures("small_batches")
def test_a_resumed_fill_still_equals_one_phase(many: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fill stopped mid-batch resumes at a run's start: the runs, and so the vectors, stay a one-phase write's."""
    _write(many, tmp_path / "words", PADDED_MODEL, wait=False)
    _fill_until(tmp_path / "words", 12)
    filling.fill_index(tmp_path / "words", cache=False)
    monkeypatch.setattr(writer, "PROGRESSIVE_FROM", 10**9)
    _write(many, tmp_path / "one", PADDED_MODEL)
    _same_vectors(tmp_path / "words", tmp_path / "one")


@pytest.mark.usefixtures("small_batches")
def test_waiting_write_fills_in_batches_and_reports_every_phase(many: Path, tmp_path: Path) -> None:
    events: list[writer.ProgressEvent] = []
    report = _write(many, tmp_path / "index", progress=events.append)
    stages = [event.stage for event in events]
    assert stages.index("tokenizing") < stages.index("searchable by words") < stages.index("encoding")
    encoding = [event for event in events if event.stage == "encoding"]
    assert encoding[-1].done == encoding[-1].total and all(event.total == encoding[0].total for event in encoding)
    assert report.unfilled == 0 and report.vectors == encoding[-1].total
    backend = LocalBackend.open(tmp_path / "index")
    try:
        assert backend.num_vectors == backend.num_chunks and int(backend.path.name[4:]) > 2  # several commits
    finally:
        backend.close()


@pytest.mark.usefixtures("small_batches")
def test_a_chunk_without_its_vector_competes_on_its_words_alone(many: Path, tmp_path: Path) -> None:
    """It is no dense candidate; its fused score (and dense_norm) is its bm25_norm whatever the fusion and
    alpha, its `dense` None, its confidence that of a BM25-only search. A words-only index ranks by BM25."""
    index = tmp_path / "index"
    _write(many, index, model=CALIBRATED_MODEL, wait=False)
    with HybridIndex.open(index) as opened:
        for query in QUERIES:
            alone = opened.search(query, k=10, alpha=0.0)
            for options in ({}, {"alpha": 0.9, "fusion": "minmax"}, {"alpha": 0.5, "fusion": "rrf"}):
                hits = opened.search(query, k=10, **options)  # type: ignore[arg-type]
                assert [hit.id for hit in hits] == [hit.id for hit in alone]
                assert all(hit.dense is None and hit.score == hit.bm25_norm for hit in hits)
            assert [hit.confidence for hit in opened.search(query, k=10)] == [hit.confidence for hit in alone]
    _fill_until(index, 12)
    with HybridIndex.open(index) as opened, opened.searcher() as searcher:
        backend = searcher.backend
        assert 0 < backend.num_vectors < backend.num_chunks
        seen = {True: 0, False: 0}
        for query in QUERIES:
            vector = searcher.encode_queries([opened.prepare(query).dense_text])[0]
            dense = backend.dense(vector, backend.num_chunks, None)
            assert len(dense.keys) == backend.num_vectors and backend.has_vectors(dense.keys).all()
            alone = {hit.id: hit for hit in opened.search(query, k=50, alpha=0.0)}
            for hit in opened.search(query, k=20, alpha=0.5):
                has = bool(backend.has_vectors([backend.docstore.chunk_rows([hit.id])[hit.id]])[0])
                seen[has] += 1
                if not has:
                    assert hit.dense is None and hit.dense_norm is None and hit.score == hit.bm25_norm
                    assert hit.confidence == pytest.approx(alone[hit.id].confidence)
                else:
                    assert hit.dense is not None
        assert seen[True] and seen[False]
        response = opened.respond(SearchRequest(QUERIES[0], k=20))
        assert 0 < response.with_vectors < 1 and response.to_dict()["with_vectors"] == round(response.with_vectors, 4)
    shown = CliRunner().invoke(cli, ["query", QUERIES[0], "--index", str(index), "-k", "20", "--show-weak"])
    assert "of the index has its vectors so far" in shown.stderr and "dense words only" in shown.output


@pytest.mark.usefixtures("small_batches")
def test_a_search_during_filling_reads_one_generation(many: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    _write(many, index, wait=False)
    _fill_until(index, 12)
    before = LocalBackend.open(index)
    try:
        vector = np.ones(before.model.dim, np.float32) / np.sqrt(before.model.dim)
        ready, first = before.num_vectors, before.dense(vector, 100, None)
        filling.fill_index(index, cache=False)  # the other generations come and go meanwhile
        again = before.dense(vector, 100, None)
        assert before.num_vectors == ready < before.num_chunks and before.has_vectors(again.keys).all()
        assert np.array_equal(first.keys, again.keys) and np.array_equal(first.scores, again.scores)
        newer = before.newer()
        assert newer is not None and newer.num_vectors == newer.num_chunks
        newer.close()
    finally:
        before.close()


@pytest.mark.usefixtures("small_batches")
def test_a_stopped_fill_resumes_and_a_write_between_batches_keeps_both(many: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    _write(many, index, wait=False)
    _fill_until(index, 12)
    (many / "more" / "n00.txt").unlink()
    (many / "late.txt").write_text("遅れて来た文書。土星の環は氷でできている。", encoding="utf-8")
    report = _write(many, index, wait=False)  # an update while the vectors are half in
    assert report.added == 1 and report.removed == 1 and report.unfilled > 0
    filling.fill_index(index, cache=False)
    with HybridIndex.open(index) as opened:
        assert opened.search("土星の環", k=1)[0].path.endswith("late.txt")
        assert opened.check() == []
        assert opened.info()["with_vectors"]["share"] == 1.0


def test_fill_cli_and_info_say_how_much_has_vectors(many: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    env = os.environ | {"HSEARCH_FAKE_FILL_BATCH": "5"}
    hsearch = [sys.executable, str(TESTS / "fake_hsearch.py")]
    run = subprocess.run([*hsearch, "index", str(many), "--index", str(index), "--model", FAKE_MODEL, "--no-wait"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "still without vectors" in run.stderr and "Filling in the vectors in the background (pid" in run.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        info = json.loads(subprocess.run([*hsearch, "info", "--index", str(index), "--json"], capture_output=True,
                                         text=True, env=env, timeout=60).stdout)  # fmt: skip
        if info["with_vectors"]["share"] == 1.0 and info["with_vectors"]["filler"] is None:
            break
        time.sleep(0.5)
    assert info["with_vectors"]["share"] == 1.0, info["with_vectors"]
    assert "every chunk has its vectors" in (index / "fill.log").read_text(encoding="utf-8")
    result = CliRunner().invoke(cli, ["fill", "--index", str(index)])
    assert result.exit_code == 0 and "nothing; every chunk has its vectors" in result.stderr
    result = CliRunner().invoke(cli, ["info", "--index", str(index)])
    assert "with vectors:  all" in result.output


def test_sigkill_between_batches_leaves_an_index_that_answers_and_resumes(many: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    env = os.environ | {"HSEARCH_FAKE_FILL_BATCH": "5", "HSEARCH_FAKE_DELAY": "0.05"}
    hsearch = [sys.executable, str(TESTS / "fake_hsearch.py")]
    process = subprocess.Popen([*hsearch, "index", str(many), "--index", str(index), "--model", FAKE_MODEL, "-q"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    deadline, ready = time.monotonic() + 60, 0
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                backend = LocalBackend.open(index)
            except Exception:  # noqa: BLE001 - not written yet
                time.sleep(0.05)
                continue
            ready, total = backend.num_vectors, backend.num_chunks
            backend.close()
            if 0 < ready < total:
                break
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert ready > 0, "no batch was committed before the kill"
    with HybridIndex.open(index) as opened:
        assert opened.info()["with_vectors"]["share"] < 1.0
        assert opened.search("赤い惑星", k=1)[0].path.endswith("mars.md")
        assert opened.check() == []
    run = subprocess.run([*hsearch, "fill", "--index", str(index)], capture_output=True, text=True, env=env,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    with HybridIndex.open(index) as opened:
        assert opened.info()["with_vectors"]["share"] == 1.0 and opened.check() == []
