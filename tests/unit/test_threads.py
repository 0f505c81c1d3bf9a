"""One HybridIndex shared by many threads; refresh() to newer generations; close() releasing every
handle; generations deleted under an open reader; tokenizer workers from a script without a main guard."""

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import FAKE_MODEL, TESTS

from hybridsearch import HybridIndex, HybridSearchError, SearchRequest
from hybridsearch.writer import write_index

QUERIES = ["赤い惑星", "味噌汁の作り方", "経費精算", "明けの明星", "米を炊く", "青い海"]


def _signature(index: HybridIndex, query: str, alpha: float) -> list[tuple[str, float]]:
    return [(h.id, round(h.score, 9)) for h in index.search(query, k=5, alpha=alpha)]


def test_many_threads_share_one_index(built: HybridIndex) -> None:
    expected = {(q, a): _signature(built, q, a) for q in QUERIES for a in (0.0, 0.6, 1.0)}
    fresh = HybridIndex.open(built.location)  # encoder and taggers are created under concurrent first use
    failures: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(60):
                query, alpha = QUERIES[(i + offset) % len(QUERIES)], (0.0, 0.6, 1.0)[(i + offset) % 3]
                assert _signature(fresh, query, alpha) == expected[(query, alpha)]
                fresh.search(query, where={"type": "md"})
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[0]


def _versioned(root: Path, version: int) -> None:
    """Every document says which version of the folder it belongs to."""
    for i in range(5):
        (root / f"doc{i}.txt").write_text(f"第{version}版の文書{i}です。惑星の話をする。", encoding="utf-8")


def test_refresh_moves_to_the_newest_generation(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    _versioned(root, 1)
    index = HybridIndex.build(root, tmp_path / "idx", model=FAKE_MODEL)
    assert index.refresh() is False
    _versioned(root, 2)
    write_index(tmp_path / "idx", [root])
    assert "第1版" in index.search("文書", k=1)[0].text  # still the generation it opened
    assert index.refresh() is True and index.version == "gen-000002"
    assert all("第2版" in h.text for h in index.search("文書", k=5))
    assert index.refresh() is False


def test_a_search_in_flight_finishes_on_its_generation(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    _versioned(root, 1)
    index = HybridIndex.build(root, tmp_path / "idx", model=FAKE_MODEL)
    with index.searcher() as searcher:  # what a long-running search holds
        for version in (2, 3, 4):  # three writes: the generation it holds is deleted from disk
            _versioned(root, version)
            write_index(tmp_path / "idx", [root])
        assert index.refresh() is True
        assert not (tmp_path / "idx" / "gen-000001").exists()
        old = searcher.respond(SearchRequest("文書 惑星", k=5, alpha=0.5)).hits  # files unlinked, still open
        assert len(old) == 5 and all("第1版" in h.text for h in old)
        assert all("第4版" in h.text for h in index.search("文書", k=5, alpha=0.5))
    assert _open_files(tmp_path / "idx" / "gen-000001") == []  # closed when its last search ended


def _open_files(folder: Path) -> list[str]:
    """This process's open file descriptors that point into `folder` (deleted files included)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.removesuffix(" (deleted)").startswith(str(folder)):
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files through /proc")
def test_close_releases_every_handle(built: HybridIndex, tmp_path: Path) -> None:
    index = HybridIndex.open(built.location)
    index.search("赤い惑星", k=3, alpha=0.5, where={"type": "md"})
    index.get(index.search("火星", k=1)[0].document_id)
    generation = Path(index.location) / index.version
    assert _open_files(generation)  # the docstore, sentence vectors and term list are held open
    index.close()
    built.close()
    assert _open_files(generation) == []


def test_readers_and_a_writer_process_with_refresh(tmp_path: Path) -> None:
    """Threads search and refresh while another process rewrites the folder: every hit list comes
    from one complete generation (all its documents of one version), and nothing fails."""
    root = tmp_path / "docs"
    root.mkdir()
    _versioned(root, 0)
    index = HybridIndex.build(root, tmp_path / "idx", model=FAKE_MODEL)
    code = (
        "import sys\nfrom pathlib import Path\nsys.path.insert(0, sys.argv[1])\n"
        "from conftest import FakeEncoder\nfrom hybridsearch.writer import write_index\n"
        "root = Path(sys.argv[2])\n"
        "for version in range(1, 9):\n"
        "    for i in range(5):\n"
        "        (root / f'doc{i}.txt').write_text(f'第{version}版の文書{i}です。惑星の話をする。', encoding='utf-8')\n"
        "    write_index(Path(sys.argv[3]), [root], encoder=FakeEncoder(name=sys.argv[4]))\n"
    )
    tests = str(TESTS)
    writer = subprocess.Popen([sys.executable, "-c", code, tests, str(root), str(tmp_path / "idx"), FAKE_MODEL])
    failures: list[BaseException] = []
    seen: set[str] = set()

    def read() -> None:
        try:
            while writer.poll() is None:
                hits = index.search("文書 惑星", k=5, alpha=0.5)
                versions = {re.search(r"第(\d+)版", h.text).group(1) for h in hits}  # type: ignore[union-attr]
                assert len(hits) == 5 and len(versions) == 1, versions
                seen.update(versions)
                index.refresh()
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writer.wait() == 0 and not failures, failures[:1]
    index.refresh()
    assert {re.search(r"第(\d+)版", h.text).group(1) for h in index.search("文書", k=5)} == {"8"}  # type: ignore[union-attr]
    assert len(seen) >= 2


def test_a_script_without_a_main_guard_tokenizes_in_worker_processes(tmp_path: Path) -> None:
    """The README's example as a plain script (no `if __name__ == "__main__":`), over 6,000+ chunks:
    enough for tokenizing in one worker process per core."""
    records = "\n".join(f'{{"id": "r{i}", "text": "第{i}の記録。火星と金星の話。"}}' for i in range(6100))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "records.jsonl").write_text(records + "\n", encoding="utf-8")
    script = tmp_path / "plain.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "import conftest  # registers the fake:… encoder\n"
        "from hybridsearch import HybridIndex\n"
        f"index = HybridIndex.build({str(tmp_path / 'docs')!r}, {str(tmp_path / 'idx')!r}, model={FAKE_MODEL!r})\n"
        "print(index.report.chunks, index.search('火星', k=1)[0].source.split('#')[1])\n",
        encoding="utf-8",
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    chunks, record = result.stdout.split()
    assert int(chunks) == 6100 and record.startswith("r")


def test_refresh_after_close_opens_nothing(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    _versioned(root, 1)
    index = HybridIndex.build(root, tmp_path / "idx", model=FAKE_MODEL)
    index.close()
    _versioned(root, 2)
    write_index(tmp_path / "idx", [root])
    assert index.refresh() is False and _open_files(tmp_path / "idx") == []
    with pytest.raises(HybridSearchError, match="was closed; open it again"):
        index.search("文書")


def test_a_search_keeps_the_model_of_its_generation(tmp_path: Path) -> None:
    """A search that started before a rebuild with another model encodes with the model it started with."""
    root = tmp_path / "docs"
    root.mkdir()
    _versioned(root, 1)
    index = HybridIndex.build(root, tmp_path / "idx", model="fake:first")  # models only this test uses
    with index.searcher() as old:
        HybridIndex.build(root, tmp_path / "idx", model="fake:second", rebuild=True).close()
        assert index.refresh() is True
        assert old.backend.model.name == "fake:first" and old.respond(SearchRequest("文書", k=3, alpha=0.5)).hits
        assert old.encoder.spec.name == "fake:first"  # the old generation's search encodes with its model
        assert index.encoder.spec.name == "fake:second"
