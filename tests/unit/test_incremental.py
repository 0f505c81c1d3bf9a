"""Incremental indexing is exact, and the writer lock keeps writers apart."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAKE_MODEL, LOADED, ROOT, TESTS, FakeEncoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsearch import HybridIndex, IndexConfig
from hybridsearch.backends.local import LocalBackend
from hybridsearch.backends.local.generations import writer_lock
from hybridsearch.config import BM25Config
from hybridsearch.errors import IndexFormatError, IndexLockedError, InputError

SENTENCES = [
    "火星は赤い惑星と呼ばれる。", "金星は明けの明星である。", "カレーは一晩寝かせるとおいしい。",
    "梅雨の時期は湿度が高い。", "新幹線で東京から大阪へ行く。", "猫は一日の大半を寝て過ごす。",
    "味噌汁は火を止めてから味噌を溶く。", "地球は青い惑星だ。", "台風の前に植木鉢を片付ける。",
]  # fmt: skip
QUERIES = ["赤い惑星", "明けの明星は?", "カレー", "東京へ行く", "猫と惑星"]

# one step: (action, file number, sentence numbers)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "write", "delete"]),
        st.integers(0, 5),
        st.lists(st.integers(0, 8), min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=6,
)


def apply(root: Path, step: tuple[str, int, list[int]]) -> None:
    action, number, sentences = step
    path = root / ("sub" if number % 2 else "") / f"doc{number}.txt"
    if action == "delete":
        path.unlink(missing_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(SENTENCES[i] for i in sentences), encoding="utf-8")


def scores(index: HybridIndex, root: Path) -> dict[tuple[str, str, int, float], tuple[float, float | None, float, str]]:
    """Every chunk's raw and fused scores and id per query and alpha, keyed by what identifies it on disk."""
    table = {}
    for query in QUERIES:
        for alpha in (0.0, 0.5, 1.0):
            for hit in index.search(query, k=index.info()["counts"]["chunks"], alpha=alpha, collapse=False):
                key = (query, str(Path(hit.path).relative_to(root)), hit.ordinal, alpha)
                table[key] = (hit.bm25, hit.dense, hit.score, hit.id)
    return table


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=STEPS, later=st.lists(STEPS, min_size=1, max_size=3), variant=st.sampled_from(["lucene", "okapi"]))
def test_updated_index_scores_exactly_like_a_fresh_build(
    tmp_path_factory: pytest.TempPathFactory, first: list, later: list, variant: str
) -> None:
    root = tmp_path_factory.mktemp("docs")
    for step in first:
        apply(root, step)
    apply(root, ("write", 0, [0, 1]))  # never empty
    config = IndexConfig(bm25=BM25Config(variant=variant))
    updated = tmp_path_factory.mktemp("updated") / "idx"
    HybridIndex.build(root, updated, encoder=FakeEncoder(), config=config)
    for steps in later:
        for step in steps:
            apply(root, step)
        apply(root, ("write", 0, [0, 1]))
        index = HybridIndex.build(root, updated)
        fresh = HybridIndex.build(root, tmp_path_factory.mktemp("fresh") / "idx", encoder=FakeEncoder(), config=config)
        assert index.report is not None and index.report.encoded <= fresh.report.encoded  # type: ignore[union-attr]
        ours, theirs = scores(index, root), scores(fresh, root)
        assert ours.keys() == theirs.keys()
        for key, (bm25, dense, fused, chunk_id) in theirs.items():
            assert ours[key][3] == chunk_id  # stable ids: an updated index names its chunks as a fresh build does
            assert ours[key][0] == pytest.approx(bm25, abs=1e-9)
            assert ours[key][2] == pytest.approx(fused, abs=1e-9)
            assert ours[key][1] == (pytest.approx(dense, abs=1e-9) if dense is not None else None)
        assert index.check() == []


def test_unchanged_folder_loads_no_model_and_writes_nothing(corpus: Path, tmp_path: Path) -> None:
    first = HybridIndex.build(corpus, tmp_path / "idx", model=FAKE_MODEL)
    loads = len(LOADED)
    again = HybridIndex.build(corpus, tmp_path / "idx")
    assert again.report is not None and not again.report.written and again.report.unchanged == 7
    assert again.version == first.version and len(LOADED) == loads


def test_extra_folders_join_and_renamed_files_move(corpus: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("追加の文書。", encoding="utf-8")
    HybridIndex.build(corpus, tmp_path / "idx", model=FAKE_MODEL)
    both = HybridIndex.build(other, tmp_path / "idx")
    assert both.report is not None and both.report.added == 1 and both.report.documents == 9
    (corpus / "food" / "miso.txt").rename(corpus / "food" / "miso2.txt")
    moved = HybridIndex.build(corpus, tmp_path / "idx")
    assert moved.report is not None and (moved.report.added, moved.report.removed) == (1, 1)
    assert moved.search("味噌", k=1, alpha=0)[0].path.endswith("miso2.txt")
    assert moved.info()["sources"] == [str(corpus), str(other)]


def test_remove_needs_a_match_and_keeps_something(built: HybridIndex, corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No indexed document is under"):
        HybridIndex.remove(tmp_path / "nothing-here", Path(built.location))
    with pytest.raises(InputError, match=r"would leave index .* empty; delete the index folder instead"):
        HybridIndex.remove(corpus, Path(built.location))
    assert HybridIndex.open(built.location).version == built.version  # unchanged


def test_second_writer_is_told_who_holds_the_lock(built: HybridIndex, corpus: Path) -> None:
    locked = pytest.raises(IndexLockedError, match=rf"locked by pid {os.getpid()}, which is writing it")
    with writer_lock(Path(built.location)), locked:
        HybridIndex.build(corpus, Path(built.location))
    HybridIndex.build(corpus, Path(built.location))  # released


def test_lock_of_a_killed_writer_is_recovered(built: HybridIndex, corpus: Path) -> None:
    code = (
        "import time\nfrom pathlib import Path\nfrom hybridsearch.backends.local.generations import writer_lock\n"
        f"with writer_lock(Path({str(Path(built.location))!r})):\n    print('held', flush=True)\n    time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(IndexLockedError, match=f"pid {holder.pid}"):
        HybridIndex.build(corpus, Path(built.location))
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    time.sleep(0.05)
    (corpus / "new.txt").write_text("新しい。", encoding="utf-8")
    assert HybridIndex.build(corpus, Path(built.location)).report.added == 1  # type: ignore[union-attr]


@pytest.mark.slow
def test_index_survives_sigkill_at_random_moments() -> None:
    command = [
        sys.executable, str(ROOT / "bench" / "crash.py"), "--trials", "8", "--model", FAKE_MODEL,
        "--hsearch", f"{sys.executable} {TESTS / 'fake_hsearch.py'}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HSEARCH_FAKE_DELAY": "0.05"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("8/8 trials survived (")


def test_readers_always_see_a_complete_generation(built: HybridIndex, corpus: Path) -> None:
    import threading

    failures: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(6):
                HybridIndex.build(corpus, Path(built.location), rebuild=True, encoder=FakeEncoder())
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    reads = 0
    while writer.is_alive() or reads == 0:
        index = HybridIndex.open(Path(built.location))
        assert index.search("火星", k=1, alpha=0.5)[0].title == "火星"
        index.close()
        reads += 1
    writer.join()
    assert not failures and reads > 1


def test_open_retries_only_when_the_live_generation_moved(
    built: HybridIndex, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybridsearch.writer import write_index

    real, calls = LocalBackend.open_live, []

    def vanishing(index_dir: Path) -> LocalBackend:
        calls.append(index_dir)
        if len(calls) == 1:  # a writer swaps in a new generation while this reader opens the old one
            write_index(index_dir, [corpus], rebuild=True, encoder=FakeEncoder())
            raise IndexFormatError("the generation being opened was cleaned up")
        return real(index_dir)

    monkeypatch.setattr(LocalBackend, "open_live", vanishing)
    assert HybridIndex.open(built.location).version == "gen-000002" and len(calls) == 2
    monkeypatch.setattr(LocalBackend, "open_live", lambda index_dir: (_ for _ in ()).throw(IndexFormatError("bad")))
    with pytest.raises(IndexFormatError, match="bad"):  # nothing moved: a real error is reported at once
        HybridIndex.open(built.location)
