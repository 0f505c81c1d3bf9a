"""The Qdrant backend against the local one: the same corpus gives the same hits and scores.

Runs on qdrant-client's local mode (`qdrant+local://`); with HSEARCH_QDRANT_URL set (e.g.
http://127.0.0.1:6333) the same tests also run against that server."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL, ROOT, TESTS

from hybridsearch import HybridIndex
from hybridsearch.backends import open_writer, qdrant
from hybridsearch.backends.qdrant import lock, writer
from hybridsearch.cli import cli
from hybridsearch.errors import IndexLockedError, InputError
from hybridsearch.loaders import iter_documents
from hybridsearch.schema import Hit
from hybridsearch.writer import set_defaults

pytest.importorskip(
    "qdrant_client", reason="the Qdrant backend needs qdrant-client (pip install 'hybridsearch[qdrant]')"
)

CORPORA = ROOT / "corpora"
SERVER = os.environ.get("HSEARCH_QDRANT_URL", "")
WHERE = [None, {"type": "md"}, {"path": {"glob": "planets/*"}}, {"type": ["txt", "html"]}]


def _engines() -> list:
    skip_server = pytest.mark.skipif(not SERVER, reason="set HSEARCH_QDRANT_URL to also test against a Qdrant server")
    return ["local", pytest.param("server", marks=skip_server)]


@pytest.fixture(params=_engines())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A Qdrant location for a fresh index: a local-mode folder, or a collection on the server."""
    if request.param == "local":
        return f"qdrant+local://{tmp_path / 'qdrant'}/corpus"
    scheme, _, host = SERVER.partition("://")
    return f"{'qdrants' if scheme == 'https' else 'qdrant'}://{host.rstrip('/')}/hs-test-{tmp_path.name}"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(CORPORA, tmp_path / "corpora")
    return tmp_path / "corpora"


def _queries(folder: Path) -> list[str]:
    """120 queries from the corpus itself: words from three places in each document, and a few questions."""
    texts = [document.text for document in iter_documents([folder])]
    found = [text[i : i + 8] for text in texts for i in (0, len(text) // 3, 2 * len(text) // 3)]
    found += [
        "火星",
        "赤い惑星は?",
        "申請",
        "台風の進路",
        "カレー",
        "新幹線の予約",
        "桜",
        "温泉の効能",
        "睡眠",
        "qwerty",
    ]
    return list(dict.fromkeys(found))[:120]


def _same(ours: list[Hit], theirs: list[Hit], tolerance: float = 1e-4) -> None:
    """The same hits with the same scores, up to the order of hits whose scores tie (and which of
    them makes the cut)."""
    assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], abs=tolerance)
    by_id = {hit.id: hit for hit in theirs}
    ours_ids = {hit.id for hit in ours}
    for hit in ours:
        twin = by_id.get(hit.id)
        if twin is None:  # a hit of the same score took its place
            assert any(abs(h.score - hit.score) <= tolerance and h.id not in ours_ids for h in theirs), hit.id
            continue
        assert twin.score == pytest.approx(hit.score, abs=tolerance)
        assert (twin.text, twin.location, twin.metadata) == (hit.text, hit.location, hit.metadata)
        assert twin.bm25 == pytest.approx(hit.bm25, rel=1e-5, abs=1e-6) and twin.dense == pytest.approx(
            hit.dense, abs=1e-5
        )


def _compare(local: HybridIndex, remote: HybridIndex, queries: list[str]) -> None:
    for query in queries:
        for alpha in (0.0, 0.6, 1.0):
            for where in WHERE:
                _same(
                    local.search(query, k=10, alpha=alpha, where=where),
                    remote.search(query, k=10, alpha=alpha, where=where),
                )


@pytest.fixture
def pair(folder: Path, tmp_path: Path, engine: str) -> Iterator[tuple[HybridIndex, HybridIndex, Path]]:
    with (
        HybridIndex.build([folder], tmp_path / "local", model=FAKE_MODEL) as local,
        HybridIndex.build([folder], engine, model=FAKE_MODEL) as remote,
    ):
        yield local, remote, folder


def test_the_same_corpus_gives_the_same_hits(pair: tuple[HybridIndex, HybridIndex, Path]) -> None:
    local, remote, folder = pair
    assert remote.info()["counts"]["chunks"] == local.info()["counts"]["chunks"]
    _compare(local, remote, _queries(folder))
    hit = remote.search("赤い惑星は?", k=1)[0]
    assert remote.get(hit.id).text == hit.text and remote.get(hit.document_id).text.startswith("# 火星")
    assert remote.check() == []


def test_updates_and_removals_keep_them_equal(
    folder: Path, tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "REWEIGHT_DRIFT", 0.0)  # re-weight on every change of the average: exact
    queries = _queries(folder)
    HybridIndex.build([folder], engine, model=FAKE_MODEL).close()
    (folder / "planets" / "mars.md").write_text(
        "# 火星\n\n火星には二つの衛星、フォボスとダイモスがある。", encoding="utf-8"
    )
    (folder / "everyday" / "new.txt").write_text("新しく加えた文書。梅雨の晴れ間に布団を干す。", encoding="utf-8")
    (folder / "everyday" / "cats.txt").unlink()
    with HybridIndex.build([folder], tmp_path / "local", model=FAKE_MODEL) as local:
        remote = HybridIndex.build([folder], engine)  # an update: only the changed files are read
        with remote:
            assert remote.info()["generation"] == "gen-000002"
            _compare(local, remote, queries + ["フォボス", "布団を干す"])
    runner = CliRunner()
    removed = runner.invoke(cli, ["remove", str(folder / "guides"), "--index", engine])
    assert removed.exit_code == 0 and "3 removed" in removed.stderr
    shown = runner.invoke(cli, ["query", "火星の衛星フォボス", "--index", engine, "-k", "1"])
    assert shown.exit_code == 0 and "mars.md" in shown.stdout
    assert "guides/" not in runner.invoke(cli, ["query", "地震 Wi-Fi リサイクル", "--index", engine, "-k", "20"]).stdout


def test_a_small_drift_keeps_the_stored_weights_until_a_reweight(folder: Path, tmp_path: Path, engine: str) -> None:
    HybridIndex.build([folder], engine, model=FAKE_MODEL).close()
    with HybridIndex.open(engine) as index:
        before = index.info()["lengths"]["average"]
    (folder / "everyday" / "new.txt").write_text("短い文書。", encoding="utf-8")
    with HybridIndex.build([folder], engine) as index:
        lengths = index.info()["lengths"]
        assert lengths["average"] == before != lengths["total"] / lengths["chunks"]  # drifted under 10 %
    shown = CliRunner().invoke(cli, ["index", str(folder), "--index", engine, "--reweight", "-q"])
    assert shown.exit_code == 0, shown.output
    with HybridIndex.open(engine) as index, HybridIndex.build([folder], tmp_path / "local", model=FAKE_MODEL) as local:
        lengths = index.info()["lengths"]
        assert lengths["average"] == lengths["total"] / lengths["chunks"] and index.check() == []
        for query in ["火星の衛星", "短い文書", "新幹線の予約"]:
            _same(local.search(query, k=5, alpha=0), index.search(query, k=5, alpha=0), tolerance=1e-6)


def _die_at_upsert(monkeypatch: pytest.MonkeyPatch, stops: Callable[[list], bool]) -> None:
    """Make a writer die (KeyboardInterrupt) at its first upsert of points into the index or its terms
    for which `stops(points)` holds (the writer lock's own upserts go through)."""
    from qdrant_client import QdrantClient

    upsert = QdrantClient.upsert

    def dies(client: QdrantClient, collection_name: str, points: list, **options: Any) -> Any:
        if not collection_name.endswith("--writer") and stops(points):
            raise KeyboardInterrupt
        return upsert(client, collection_name, points, **options)

    monkeypatch.setattr(QdrantClient, "upsert", dies)


def test_a_write_that_dies_before_its_commit_leaves_nothing_visible(
    folder: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    HybridIndex.build([folder], engine, model=FAKE_MODEL).close()
    (folder / "everyday" / "cats.txt").write_text("書きかけの更新。途中で止まった。", encoding="utf-8")
    (folder / "everyday" / "zz_gone.txt").write_text("途中で消えた文書。", encoding="utf-8")

    def stops(points: list) -> bool:  # after its points are written, before point 0 says so
        return any((point.payload or {}).get("kind") == "index" for point in points)

    _die_at_upsert(monkeypatch, stops)
    with pytest.raises(KeyboardInterrupt):
        HybridIndex.build([folder], engine)
    monkeypatch.undo()
    with HybridIndex.open(engine) as index:
        assert index.version == "gen-000001" and index.check() == []
        assert "猫" in index.search("猫との暮らし", k=1, alpha=0)[0].text  # the old text, still whole
    (folder / "everyday" / "zz_gone.txt").unlink()
    with HybridIndex.build([folder], engine) as index:
        assert index.version == "gen-000002" and index.check() == []
        found = [hit.text for hit in index.search("途中で消えた 書きかけ", k=50, alpha=0, collapse=False)]
        assert sum("書きかけの更新" in text for text in found) == 1
        assert not any("途中で消えた" in text for text in found)  # what the crashed write wrote is gone


def test_weights_rewritten_by_a_write_that_died_are_restored(
    folder: Path, tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    HybridIndex.build([folder], engine, model=FAKE_MODEL).close()
    extra = folder / "extra"
    extra.mkdir()
    for i in range(40):  # short documents: the average length drifts past the threshold
        (extra / f"s{i}.txt").write_text(f"短い{i}。", encoding="utf-8")

    # after the kept chunks were re-weighted (which upserts nothing), before anything was added
    _die_at_upsert(monkeypatch, lambda points: True)
    with pytest.raises(KeyboardInterrupt):
        HybridIndex.build([folder], engine)
    monkeypatch.undo()
    with HybridIndex.open(engine) as index:
        assert index.check() != []  # the live generation's weights are not its own: --check says so
    shutil.rmtree(extra)
    set_defaults(engine, 0.5, "coverage")  # the next write, with nothing to add, restores them
    with HybridIndex.build([folder], tmp_path / "local", model=FAKE_MODEL) as local, HybridIndex.open(engine) as index:
        assert index.check() == []
        for query in ["火星の衛星", "台風の進路", "新幹線の予約"]:
            _same(local.search(query, k=5, alpha=0), index.search(query, k=5, alpha=0))


def test_rebuild_moves_the_alias(folder: Path, engine: str) -> None:
    HybridIndex.build([folder], engine, model=FAKE_MODEL).close()
    with HybridIndex.open(engine) as reader:  # opened before the rebuild: it goes on reading what it opened
        before = reader.search("火星", k=1)[0].id
        with HybridIndex.build([folder / "planets"], engine, model=FAKE_MODEL, rebuild=True) as index:
            assert index.search("火星", k=1)[0].id == before and index.info()["generation"] == "gen-000002"
            kinds = {Path(hit.path).parent.name for hit in index.search("惑星 台風 カレー", k=30, alpha=0)}
            assert kinds == {"planets"}
        assert "typhoon.txt" in reader.search("台風の進路", k=1, alpha=0)[0].path
        assert reader.refresh() and reader.version == "gen-000002"
    with HybridIndex.build([folder], engine, model=FAKE_MODEL, rebuild=True) as index:
        assert index.info()["generation"] == "gen-000003" and len(index.info()["retired"]) == 1


def test_eval_keeps_its_index_in_qdrant(tmp_path: Path, engine: str) -> None:
    from beir_files import write_beir

    beir = write_beir(tmp_path / "beir")
    args = ["eval", str(beir), "--model", FAKE_MODEL, "--alpha", "0,0.6,1", "--json", "-q"]
    results = []
    root = engine.rpartition("/")[0]  # the location without its index name
    for where in (str(tmp_path / "folders"), root, root):  # the second run in Qdrant reuses its index
        shown = CliRunner().invoke(cli, [*args, "--index-root", where])
        assert shown.exit_code == 0, shown.output
        results.append(json.loads(shown.stdout))
    assert results[1]["index"].startswith(root + "/eval-") and results[1]["index"] == results[2]["index"]
    assert [r["results"] for r in results[1:]] == [results[0]["results"]] * 2
    with HybridIndex.open(results[1]["index"]) as index:
        assert index.version == "gen-000001"  # built once


def test_served_over_http_with_live_updates(folder: Path, engine: str) -> None:
    import httpx
    from serving import running, wait_for_new_generation

    HybridIndex.build([folder], engine, model=FAKE_MODEL).close()
    with running({"docs": engine}) as url:
        hits = httpx.get(f"{url}/search", params={"q": "赤い惑星は?", "k": 3}).json()["hits"]
        assert hits[0]["path"].endswith("mars.md") and hits[0]["location"] == {}
        kept = httpx.get(f"{url}/search", params={"q": "惑星", "path": "planets/*", "k": 20}).json()["hits"]
        assert kept and all("/planets/" in hit["path"] for hit in kept)
        (folder / "pluto.txt").write_text("冥王星の軌道は大きく傾いている。", encoding="utf-8")
        HybridIndex.build([folder], engine).close()
        wait_for_new_generation(url, "docs", "gen-000001")
        hit = httpx.get(f"{url}/search", params={"q": "冥王星の軌道", "alpha": 0}).json()["hits"][0]
        assert hit["path"].endswith("pluto.txt")


def _collections(engine: str) -> set[str]:
    index = qdrant.QdrantBackend.open(engine)
    try:
        return {found.name for found in index.client.get_collections().collections}
    finally:
        index.close()


def test_one_writer_at_a_time(folder: Path, engine: str) -> None:
    HybridIndex.build([folder / "planets"], engine, model=FAKE_MODEL).close()
    with open_writer(engine):
        with pytest.raises(IndexLockedError, match=f"is being written by pid {os.getpid()} on .*; wait for it"):
            open_writer(engine).__enter__()
        shown = CliRunner().invoke(cli, ["index", str(folder), "--index", engine])
        assert shown.exit_code == 1 and "is being written by pid" in shown.stderr
        assert "Traceback" not in shown.output
    with HybridIndex.build([folder], engine) as index:  # released: the next writer goes ahead
        assert index.version == "gen-000002"
    assert not any(name.endswith("--writer") for name in _collections(engine))


_KILLED_WRITER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from hybridsearch.backends import open_writer
writer = open_writer({engine!r}).__enter__()
print("holding", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_lock_of_a_killed_writer_is_taken_over(folder: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    HybridIndex.build([folder / "planets"], engine, model=FAKE_MODEL).close()
    script = textwrap.dedent(_KILLED_WRITER.format(tests=str(TESTS), engine=engine))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL and "holding" in run.stdout
    assert any(name.endswith("--writer") for name in _collections(engine))  # left behind
    if SERVER:  # its heartbeats stopped: stale once a waiting writer has seen its beat stand still
        monkeypatch.setattr(lock, "STALE", 1.0)
    with HybridIndex.build([folder], engine) as index:
        assert index.version == "gen-000002" and index.check() == []


def test_a_writer_that_lost_its_lock_leaves_the_new_holders_work_alone(folder: Path, engine: str) -> None:
    HybridIndex.build([folder / "planets"], engine, model=FAKE_MODEL).close()
    stalled = open_writer(engine).__enter__()
    try:
        held = stalled.lock
        assert held is not None and stalled.config is not None and stalled.model is not None
        held.client.delete_collection(held.collection)  # taken over, as after a stall past STALE seconds …
        HybridIndex.build([folder], engine).close()  # … by a writer that committed generation 2
        with pytest.raises(IndexLockedError, match=r"lost its writer lock \(taken over after"):
            stalled.commit(stalled.config, stalled.model, stalled.sources)
    finally:
        stalled.__exit__(None, None, None)
    with HybridIndex.open(engine) as index:
        assert index.version == "gen-000002" and index.check() == []
        assert index.info()["counts"]["documents"] == len(list(iter_documents([folder])))


def test_a_lock_left_by_this_host_and_pid_but_no_live_writer_is_taken_over(folder: Path, engine: str) -> None:
    """A container restarted after a crash often has the dead writer's host name and pid."""
    import socket

    from qdrant_client import models

    HybridIndex.build([folder / "planets"], engine, model=FAKE_MODEL).close()
    index = qdrant.QdrantBackend.open(engine)
    try:
        name = f"{index.target.collection}--writer"
        index.client.create_collection(name, vectors_config={})
        dead = {"token": "dead", "host": socket.gethostname(), "pid": os.getpid(), "started": 0.0, "beat": 0}
        index.client.upsert(name, points=[models.PointStruct(id=0, vector={}, payload=dead)])
    finally:
        index.close()
    if SERVER:  # a server's lock is stale once it has not beaten for two beats
        pytest.skip("waiting out a server lock takes 2 × BEAT seconds")
    with HybridIndex.build([folder], engine) as built:
        assert built.version == "gen-000002"


def test_a_server_lock_beats_and_is_taken_over_once_its_beat_stands_still(
    folder: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server rules (heartbeats, staleness seen by the waiting writer), on whichever client."""
    monkeypatch.setattr(lock, "BEAT", 0.2)
    monkeypatch.setattr(lock, "STALE", 1.5)  # its lease: 0.75 s after the last beat
    HybridIndex.build([folder / "planets"], engine, model=FAKE_MODEL).close()
    index = qdrant.QdrantBackend.open(engine)
    try:
        name = f"{index.target.collection}--writer"
        first = lock.WriterLock(index.client, name, engine, server=True).__enter__()
        time.sleep(1.0)
        beating = first.holder()
        assert beating is not None and beating.beat > 0
        with pytest.raises(IndexLockedError, match="is being written by pid"):
            lock.WriterLock(index.client, name, engine, server=True).__enter__()  # it saw the beat move on
        first.stop_beating()  # the first writer dies: no more beats, its lock stays
        with lock.WriterLock(index.client, name, engine, server=True) as second:
            held_by = second.holder()
            assert held_by is not None and held_by.token == second.token
            with pytest.raises(IndexLockedError, match="lost its writer lock"):
                first.confirm(ask=False)  # its lease ran out: it stops without asking the engine
        first.__exit__(None, None, None)  # leaves the lock it lost alone
        assert not index.client.collection_exists(name)
    finally:
        index.close()


class _Payload:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch ran-from-the-index",))


def test_a_local_folder_is_data_not_code(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle
    import sqlite3

    location = f"qdrant+local://{tmp_path / 'q'}/evil"
    HybridIndex.build([folder / "planets"], location, model=FAKE_MODEL).close()
    (storage,) = [
        path for path in (tmp_path / "q" / "collection").glob("evil--*/storage.sqlite") if "terms" not in str(path)
    ]
    with sqlite3.connect(storage) as connection:
        connection.execute("INSERT INTO points VALUES ('zz', ?)", (pickle.dumps(_Payload()),))
    connection.close()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="may not hold posix.system"):
        HybridIndex.open(location)
    assert not (tmp_path / "ran-from-the-index").exists()


def _calls_eval_through_a_dotted_name(code: str) -> bytes:
    """A pickle whose one global is an allowed module with a dotted name that walks attributes to a
    builtin (`PointStruct.__init__.__builtins__.get`), then calls get("eval")(code)."""

    def text(value: str) -> bytes:
        encoded = value.encode()
        return b"\x8c" + bytes([len(encoded)]) + encoded  # SHORT_BINUNICODE

    walk = text("qdrant_client.http.models") + text("PointStruct.__init__.__builtins__.get") + b"\x93"  # STACK_GLOBAL
    return b"\x80\x04" + walk + text("eval") + b"\x85R" + text(code) + b"\x85R."  # TUPLE1 REDUCE, twice


def test_a_local_folder_cannot_reach_code_through_a_dotted_name(folder: Path, tmp_path: Path) -> None:
    import sqlite3

    location = f"qdrant+local://{tmp_path / 'q'}/evil"
    HybridIndex.build([folder / "planets"], location, model=FAKE_MODEL).close()
    (storage,) = [
        path for path in (tmp_path / "q" / "collection").glob("evil--*/storage.sqlite") if "terms" not in str(path)
    ]
    marker = tmp_path / "ran-from-the-index"
    with sqlite3.connect(storage) as connection:
        payload = _calls_eval_through_a_dotted_name(f"open({str(marker)!r}, 'w').close()")
        connection.execute("INSERT INTO points VALUES ('zz', ?)", (payload,))
    connection.close()
    with pytest.raises(InputError, match="may not hold qdrant_client.http.models.PointStruct.__init__"):
        HybridIndex.open(location)
    assert not marker.exists()


def test_locations_name_a_server_or_a_folder_and_a_collection() -> None:
    server = qdrant.parse_location("qdrants://search.example:6333/manuals?shards=6&replicas=2")
    assert (server.url, server.collection, server.shards, server.replicas) == (
        "https://search.example:6333",
        "manuals",
        6,
        2,
    )
    local = qdrant.parse_location("qdrant+local://indexes/qdrant/quickstart")
    assert (local.path, local.collection, local.url) == ("indexes/qdrant", "quickstart", "")
    for bad, message in [
        ("qdrant+local://nocollection", "Not a Qdrant index location"),
        ("qdrant://host:6333/name?shard=2", "the options are shards=N and replicas=N"),
        ("qdrant+local://a/b?shards=2", "local mode has no shards or replicas"),
        ("qdrant+local://a/my--index", "an index name cannot hold '--'"),
    ]:
        with pytest.raises(InputError, match=message):
            HybridIndex.open(bad)
