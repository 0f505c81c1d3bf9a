"""The embedding cache: reuse across rebuilds, chunk sizes and killed runs; never across models;
bounded; safe with two writers; a damaged file costs a warning, not the index."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TESTS, FakeEncoder

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.config import ChunkConfig, DenseConfig, IndexConfig
from hybridsearch.encoders.cache import CachedEncoder, EmbeddingCache, model_identity


class CountingEncoder(FakeEncoder):
    """A FakeEncoder that counts the document texts it really encodes."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.texts = 0

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32, progress=None) -> np.ndarray:  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return super().encode_documents(texts, batch_size, progress)


def _build(corpus: Path, index: Path, encoder: FakeEncoder, **kwargs: object) -> HybridIndex:
    return HybridIndex.build(corpus, index, encoder=encoder, **kwargs)  # type: ignore[arg-type]


def _vectors(index: HybridIndex) -> dict[str, bytes]:
    hits = index.search("惑星", k=20, alpha=1.0)
    return {hit.id: np.float32(hit.dense).tobytes() for hit in hits}


def test_rebuild_takes_every_vector_from_the_cache(corpus: Path, tmp_path: Path) -> None:
    first = CountingEncoder()
    built = _build(corpus, tmp_path / "a", first)
    assert built.report.cached == 0 and first.texts > 0
    again = CountingEncoder()
    rebuilt = _build(corpus, tmp_path / "a", again, rebuild=True)
    assert again.texts == 0  # chunks and sentences all came from the cache
    assert rebuilt.report.encoded == built.report.encoded
    assert rebuilt.report.cached == rebuilt.report.vectors == built.report.vectors >= built.report.encoded
    assert f"(all {rebuilt.report.vectors} vectors from the embedding cache)" in rebuilt.report.summary()
    assert _vectors(rebuilt) == _vectors(built)  # the same scores, to the bit


def test_another_chunk_size_reuses_the_sentences(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "short.txt").write_text("火星は赤い惑星だ。", encoding="utf-8")
    articles = [f"第{n}条　この規程の{n}番目の条文として、社員が守るべき事項を定める。" for n in range(1, 41)]
    (corpus / "rules.txt").write_text("".join(articles), encoding="utf-8")
    from_sentences = DenseConfig(chunk_from_sentences=True)
    first = _build(corpus, tmp_path / "a", CountingEncoder(), config=IndexConfig(dense=from_sentences))
    small = CountingEncoder()
    smaller = IndexConfig(chunk=ChunkConfig(size=120, overlap=0), dense=from_sentences)
    other = _build(corpus, tmp_path / "b", small, config=smaller)
    assert other.report.encoded > first.report.encoded  # cut into more, smaller chunks
    # chunk vectors come from their sentences, and a sentence reads the same in a chunk of any size
    assert other.report.cached >= 0.9 * other.report.vectors
    passes = CountingEncoder()
    chunk_pass = _build(corpus, tmp_path / "c", passes, config=IndexConfig(chunk=ChunkConfig(size=120, overlap=0)))
    # by default (a pass per chunk) the sentences come from the cache and only the chunks are encoded
    assert 0 < passes.texts == chunk_pass.report.vectors - chunk_pass.report.cached <= chunk_pass.report.encoded
    assert small.texts == other.report.vectors - other.report.cached


def test_no_cache_encodes_everything_and_writes_nothing(
    corpus: Path, tmp_path: Path, own_embedding_cache: Path
) -> None:
    encoder = CountingEncoder()
    built = _build(corpus, tmp_path / "a", encoder, cache=False)
    assert built.report.cached == 0 and encoder.texts > 0
    assert not own_embedding_cache.exists()


def test_models_never_share_vectors(corpus: Path, tmp_path: Path) -> None:
    _build(corpus, tmp_path / "a", CountingEncoder())
    for other in (CountingEncoder(name="fake:other"), CountingEncoder(dim=32)):
        built = _build(corpus, tmp_path / f"b{other.spec.dim}{other.spec.name}".replace(":", "_"), other)
        assert built.report.cached == 0 and other.texts > 0


def test_a_model_folder_is_known_by_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"1")
    spec = FakeEncoder(name=str(folder)).spec
    spec = type(spec)(**{**spec.__dict__, "revision": ""})
    before = model_identity(spec)
    (folder / "weights.bin").write_bytes(b"22")  # retrained in place
    assert before is not None and model_identity(spec) != before
    remote = type(spec)(**{**spec.__dict__, "name": "openai:text-embedding-3-small"})
    assert model_identity(remote) is None  # nothing pins an endpoint's model down: never cached


def test_the_cache_stays_within_its_bound(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite", max_bytes=10_000)
    for n in range(40):
        cache.put("m", "model", [(bytes([n]) * 32, b"x" * 1000)])
    info = cache.info()
    assert info.bytes <= 10_000 and info.entries >= 5
    assert cache.get([bytes([39]) * 32])  # the newest stay, the least recently used went
    assert not cache.get([bytes([0]) * 32])
    cache.close()


def test_counters_that_no_rows_back_do_not_stall_pruning(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = EmbeddingCache(path, max_bytes=10_000)
    cache.put("m", "model", [(b"k" * 32, b"x" * 1000)])
    cache.db.execute("UPDATE models SET bytes = 1000000000")  # a hand-edited or damaged file
    cache.close()
    done: list[bool] = []

    def write() -> None:
        other = EmbeddingCache(path, max_bytes=10_000)
        other.put("m", "model", [(b"j" * 32, b"y" * 1000)])
        other.close()
        done.append(True)

    writer = threading.Thread(target=write, daemon=True)  # a regression fails the test instead of hanging it
    writer.start()
    writer.join(timeout=30)
    assert done, "pruning never ended"


def _write_many(path: str, worker: int) -> None:
    cache = EmbeddingCache(Path(path))
    for n in range(50):
        cache.put(f"model-{worker}", "m", [(f"{worker}-{n}-{i}".encode(), b"v" * 64) for i in range(20)])
    cache.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    EmbeddingCache(Path(path)).close()  # the schema exists before the race
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, w)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    cache = EmbeddingCache(Path(path))
    assert cache.info().entries == 3 * 50 * 20
    cache.close()


def test_a_damaged_cache_file_is_one_warning(corpus: Path, tmp_path: Path, own_embedding_cache: Path) -> None:
    own_embedding_cache.write_bytes(b"this is not a database" * 100)
    warnings: list[str] = []
    built = HybridIndex.build(corpus, tmp_path / "a", encoder=FakeEncoder(), warn=warnings.append)
    assert built.report.encoded > 0 and built.search("火星")[0].source.endswith("mars.md")
    assert len(warnings) == 1 and "embedding cache" in warnings[0] and "without it" in warnings[0]


@pytest.mark.parametrize("damage", ["x'00'", "zeroblob(256) || x'0000c07f' || substr(data, 261)"])
def test_damaged_entries_are_encoded_again(
    corpus: Path, tmp_path: Path, own_embedding_cache: Path, damage: str
) -> None:
    built = _build(corpus, tmp_path / "a", CountingEncoder())
    with sqlite3.connect(own_embedding_cache) as db:  # every entry the wrong size, or with a NaN in it
        db.execute(f"UPDATE vectors SET data = {damage}")
    encoder = CountingEncoder()
    rebuilt = _build(corpus, tmp_path / "a", encoder, rebuild=True)
    assert rebuilt.report.cached == 0 and encoder.texts > 0
    assert _vectors(rebuilt) == _vectors(built)


def test_cache_info_and_clear(corpus: Path, tmp_path: Path, own_embedding_cache: Path) -> None:
    _build(corpus, tmp_path / "a", FakeEncoder())
    _build(corpus, tmp_path / "b", FakeEncoder(name="fake:other"))
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["cache", "info", "--json"]).output)
    assert shown["path"] == str(own_embedding_cache)
    assert {m["model"] for m in shown["models"]} == {"fake:bigrams", "fake:other"}
    text = runner.invoke(cli, ["cache", "info"]).output
    assert "fake:bigrams:" in text and "MB of 2048 MB" in text
    cleared = runner.invoke(cli, ["cache", "clear", "--model", "fake:other"])
    assert cleared.exit_code == 0 and "dropped" in cleared.output
    shown = json.loads(runner.invoke(cli, ["cache", "info", "--json"]).output)
    assert [m["model"] for m in shown["models"]] == ["fake:bigrams"]
    unknown = runner.invoke(cli, ["cache", "clear", "--model", "fake:other"])  # nothing of it is left
    assert unknown.exit_code == 1 and "holds no vectors of 'fake:other'" in unknown.output
    assert runner.invoke(cli, ["cache", "clear"]).exit_code == 0
    assert json.loads(runner.invoke(cli, ["cache", "info", "--json"]).output)["entries"] == 0


def test_looking_at_the_cache_does_not_create_it(own_embedding_cache: Path) -> None:
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["cache", "info", "--json"]).output)
    assert shown["entries"] == 0 and shown["path"] == str(own_embedding_cache)
    cleared = runner.invoke(cli, ["cache", "clear"])
    assert cleared.exit_code == 0 and "dropped 0 cached vector(s)" in cleared.output
    unknown = runner.invoke(cli, ["cache", "clear", "--model", "fake:bigrams"])
    assert unknown.exit_code == 1 and "holds no vectors of 'fake:bigrams'" in unknown.output
    assert not own_embedding_cache.exists()


def test_cache_commands_say_when_it_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSEARCH_EMBEDDING_CACHE", "off")
    result = CliRunner().invoke(cli, ["cache", "info"])
    assert result.exit_code == 1 and "off" in result.output and "Traceback" not in result.output
    monkeypatch.setenv("HSEARCH_EMBEDDING_CACHE_MB", "lots")
    monkeypatch.delenv("HSEARCH_EMBEDDING_CACHE")
    result = CliRunner().invoke(cli, ["cache", "info"])
    assert result.exit_code == 1 and "HSEARCH_EMBEDDING_CACHE_MB" in result.output


_SLOW_RUN = """
import sys, time
sys.path.insert(0, {tests!r})
from conftest import FakeEncoder
from hybridsearch import HybridIndex

class Slow(FakeEncoder):
    def encode_documents(self, texts, batch_size=32, progress=None):
        time.sleep(0.4)
        return super().encode_documents(texts, batch_size, progress)

HybridIndex.build({corpus!r}, {index!r}, encoder=Slow())
"""


def test_a_killed_run_resumes_without_encoding_twice(tmp_path: Path, own_embedding_cache: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for n in range(40):
        lines = "".join(f"第{n}章の{i}番目の文では、惑星{n * 100 + i}について述べる。" for i in range(30))
        (corpus / f"{n:02}.txt").write_text(lines, encoding="utf-8")
    script = _SLOW_RUN.format(tests=str(TESTS), corpus=str(corpus), index=str(tmp_path / "index"))
    run = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while _entries(own_embedding_cache) < 512 and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        run.send_signal(signal.SIGKILL)
    finally:
        run.wait()
    kept = _entries(own_embedding_cache)
    assert kept >= 512 and not (tmp_path / "index" / "CURRENT").exists()
    encoder = CountingEncoder()
    built = _build(corpus, tmp_path / "index", encoder)
    assert built.report.cached > 0 and built.info()["counts"]["chunks"] == built.report.encoded
    assert encoder.texts == _entries(own_embedding_cache) - kept  # what the killed run kept is not encoded again


def _entries(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def test_cached_encoder_passes_queries_through(tmp_path: Path) -> None:
    inner = CountingEncoder()
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    wrapped = CachedEncoder(inner, cache, model_identity(inner.spec) or "", lambda message: None)
    np.testing.assert_array_equal(wrapped.encode_queries(["火星"]), inner.encode_queries(["火星"]))
    assert cache.info().entries == 0
    cache.close()
