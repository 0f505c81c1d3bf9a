"""`hsearch watch` and `serve --watch` on real files, with real watchdog observers (events and polling)
and the fake model: a change is searchable (or gone) within seconds, ignored files do nothing, a burst
is one update, the index lock delays an update, a stop abandons one safely, a restart catches up."""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DOCS, FAKE_MODEL, ROOT, TESTS, FakeEncoder, write_files

from hybridsearch import HybridIndex
from hybridsearch.backends.local.generations import writer_lock
from hybridsearch.cli import cli
from hybridsearch.server.indexes import ServedIndexes
from hybridsearch.watch import Watcher, WatchUpdate, watch_served

pytest.importorskip("watchdog", reason="hsearch watch needs watchdog")

TIMEOUT = 20.0


def eventually(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """`check()` once it is truthy, polled until `timeout` (a failure names `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def paths_found(index: HybridIndex, query: str) -> set[str]:
    """The names of the files whose words a BM25 search for `query` matches, on the index's newest generation."""
    index.refresh()
    return {Path(hit.path).name for hit in index.search(query, k=20, alpha=0) if hit.bm25 > 0}


class Running:
    """A Watcher in a thread, with what it logged and every update it made."""

    def __init__(self, location: Path, folder: Path, **options: Any) -> None:
        self.lines: list[str] = []
        self.updates: list[WatchUpdate] = []
        options.setdefault("debounce", 0.3)
        self.watcher = Watcher(location, [folder], log=self.lines.append, on_update=self.updates.append, **options)
        self.thread = self.watcher.start()
        eventually(self.watcher.ready.is_set, "the catch-up on start")
        self.index = HybridIndex.open(location)

    @property
    def changes(self) -> list[WatchUpdate]:
        """The updates after the catch-up."""
        return [update for update in self.updates if update.paths]

    def close(self) -> None:
        self.watcher.stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        self.index.close()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_files(tmp_path / "docs", DOCS)


@contextmanager
def watching(docs: Path, location: Path, **options: Any) -> Iterator[Running]:
    if not location.exists():
        HybridIndex.build(docs, location, model=FAKE_MODEL).close()
    running = Running(location, docs, **options)
    try:
        yield running
    finally:
        running.close()


@pytest.mark.parametrize("poll", [None, 0.2], ids=["events", "polling"])
def test_created_changed_deleted_renamed_files_are_searchable_or_gone(
    docs: Path, tmp_path: Path, poll: float | None
) -> None:
    with watching(docs, tmp_path / "index", poll=poll) as running:
        index = running.index
        assert running.lines[0].endswith(
            f"({'polling every 0.2 s' if poll else 'file-system events'}) for {tmp_path / 'index'}"
        )
        (docs / "planets" / "jupiter.md").write_text("# 木星\n\n木星はガスの巨大な惑星。\n", encoding="utf-8")
        eventually(lambda: "jupiter.md" in paths_found(index, "木星"), "a new file searchable")
        (docs / "planets" / "mars.md").write_text("# 火星\n\n火星にはオリンポス山がある。\n", encoding="utf-8")
        eventually(lambda: "mars.md" in paths_found(index, "オリンポス"), "a changed file's new words searchable")
        assert "mars.md" not in paths_found(index, "酸化鉄")
        (docs / "planets" / "venus.md").unlink()
        eventually(lambda: "venus.md" not in paths_found(index, "金星"), "a deleted file gone")
        (docs / "planets" / "earth.md").rename(docs / "planets" / "chikyu.md")
        eventually(lambda: paths_found(index, "地球") == {"chikyu.md"}, "a renamed file under its new name only")
        assert index.info()["counts"]["documents"] == 8  # 8 - venus + jupiter; mars and earth once each
        assert all(update.error is None for update in running.updates)
        assert re.fullmatch(r"watch: \d+ changed, \d+ added, \d+ removed \(\d+\.\d s\)", running.lines[-1])


def test_ignored_files_hidden_files_other_types_and_the_index_folder_trigger_nothing(docs: Path) -> None:
    (docs / ".hsearchignore").write_text("drafts/\n", encoding="utf-8")
    location = docs / "_index"  # inside the folder it indexes: its own writes must not wake the watcher
    with watching(docs, location) as running:
        ignored = [
            docs / "~$a.docx", docs / "drafts" / "x.txt", docs / "Thumbs.db", docs / ".notes.txt",
            docs / "archive.zip", docs / "planets" / "mars.md~", location / "stray.txt",
        ]  # fmt: skip
        for path in ignored:
            path.parent.mkdir(exist_ok=True)
            path.write_text("無視されるはずの木星。", encoding="utf-8")
        (docs / "first.txt").write_text("一つ目の目印。", encoding="utf-8")
        eventually(lambda: "first.txt" in paths_found(running.index, "目印"), "the first sentinel")
        (docs / "second.txt").write_text("二つ目の合図。", encoding="utf-8")  # events of the first commit came before
        eventually(lambda: "second.txt" in paths_found(running.index, "合図"), "the second sentinel")
        eventually(lambda: len(running.changes) >= 2, "the second update's record")  # made after its commit
        changed = [{Path(path).name for path in update.paths} for update in running.changes]
        assert changed == [{"first.txt"}, {"second.txt"}]
        assert paths_found(running.index, "木星") == set()


def test_a_burst_of_saves_is_one_update(docs: Path, tmp_path: Path) -> None:
    with watching(docs, tmp_path / "index", debounce=1.5) as running:
        planets = docs / "planets"
        (planets / ".mars.md.swp").write_text("vim", encoding="utf-8")  # an editor's swap file
        (planets / "4913").write_text("", encoding="utf-8")  # vim's probe
        (planets / "mars.md.tmp").write_text("# 火星\n\n火星の新しい説明。\n", encoding="utf-8")
        os.replace(planets / "mars.md.tmp", planets / "mars.md")  # save = write a temp file, rename it over
        (planets / "4913").unlink()
        (planets / "~$venus.docx").write_text("lock", encoding="utf-8")  # Office's lock file
        for text in ("金星その一。", "金星その二。", "金星その三、最終版。"):
            (planets / "venus.md").write_text(text, encoding="utf-8")
        eventually(lambda: "venus.md" in paths_found(running.index, "最終版"), "the burst's last save")
        assert "mars.md" in paths_found(running.index, "説明")
        eventually(lambda: running.changes, "the update's record")
        assert len(running.changes) == 1 and running.changes[0].report is not None
        assert (running.changes[0].report.changed, running.changes[0].report.added) == (2, 0)


def test_an_update_waits_for_another_writer_and_then_goes_through(docs: Path, tmp_path: Path) -> None:
    with watching(docs, tmp_path / "index") as running:
        with writer_lock(tmp_path / "index"):  # what a concurrent `hsearch index` holds
            (docs / "late.txt").write_text("ロックの間に書いた文書。", encoding="utf-8")
            eventually(lambda: any("is locked by pid" in line for line in running.lines), "the lock noticed")
        eventually(lambda: "late.txt" in paths_found(running.index, "ロック"), "the update after the lock")
        assert [line for line in running.lines if "locked" in line][0].endswith("Trying again every 1 s.")
        assert all(update.error is None for update in running.updates)


def test_stop_during_an_update_abandons_it_and_leaves_the_index_as_it_was(docs: Path, tmp_path: Path) -> None:
    HybridIndex.build(docs, tmp_path / "index", model=FAKE_MODEL).close()
    watcher: Watcher | None = None

    class Stopping(FakeEncoder):  # the model is busy when the stop comes
        def encode_documents(self, texts, batch_size=32, progress=None):  # type: ignore[no-untyped-def]
            assert watcher is not None
            watcher.stop()
            return super().encode_documents(texts, batch_size, progress)

    (docs / "new.txt").write_text("書きかけの文書。", encoding="utf-8")
    lines: list[str] = []
    watcher = Watcher(tmp_path / "index", [docs], encoder=Stopping(name=FAKE_MODEL), log=lines.append)
    watcher.run()  # the catch-up is stopped; run returns
    assert lines[-1] == "watch: stopped during an update; the index stays as it was until the next start"
    with HybridIndex.open(tmp_path / "index") as index:
        assert index.version == "gen-000001" and "new.txt" not in paths_found(index, "文書")
    assert not list((tmp_path / "index").glob(".building-*"))


@contextmanager
def watch_process(docs: Path, location: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`hsearch watch` with the fake model in a process of its own, once it has caught up; its stderr lines."""
    command = [sys.executable, str(TESTS / "fake_hsearch.py"), "watch", str(docs), "--index", str(location),
               "--model", FAKE_MODEL]  # fmt: skip
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT) as process:
        lines: list[str] = []
        stderr = process.stderr
        assert stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(stderr.readline, "")), daemon=True)
        reader.start()
        try:
            eventually(lambda: any("caught up" in line for line in lines) or process.poll() is not None, "the start")
            yield process, lines
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0, lines
            reader.join(timeout=5)


def test_sigterm_exits_0_and_a_restart_catches_up_with_what_changed_meanwhile(docs: Path, tmp_path: Path) -> None:
    location = tmp_path / "index"
    with watch_process(docs, location) as (process, lines):  # makes the index
        assert "caught up: 0 changed, 7 added, 0 removed" in "".join(lines), lines
        with HybridIndex.open(location) as index:
            (docs / "saturn.md").write_text("# 土星\n\n土星には環がある。\n", encoding="utf-8")
            eventually(lambda: "saturn.md" in paths_found(index, "土星"), "a change while it runs")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        eventually(lambda: lines[-1] == "watch: stopped\n", "the last line")
    (docs / "saturn.md").unlink()  # while it is not running
    (docs / "neptune.md").write_text("# 海王星\n\n海王星は青い。\n", encoding="utf-8")
    with watch_process(docs, location) as (process, lines):
        assert "caught up: 0 changed, 1 added, 1 removed" in "".join(lines), lines
        with HybridIndex.open(location) as index:
            assert paths_found(index, "海王星") == {"neptune.md"} and paths_found(index, "土星") == set()


def test_serve_watch_keeps_each_served_index_current(docs: Path, tmp_path: Path) -> None:
    HybridIndex.build(docs, tmp_path / "index", model=FAKE_MODEL).close()
    lines: list[str] = []
    indexes = ServedIndexes({"docs": str(tmp_path / "index")}, every=3600)  # no help from the periodic refresh
    try:
        watchers = watch_served(indexes.indexes, log=lines.append)
        try:
            eventually(lambda: all(w.ready.is_set() for w in watchers.watchers), "the catch-up")
            (docs / "food" / "ramen.txt").write_text("ラーメンのスープは豚骨。", encoding="utf-8")
            served = indexes.get("docs")
            eventually(
                lambda: "ramen.txt" in {Path(h.source).name for h in served.search("ラーメン", alpha=0)}, "served"
            )
        finally:
            watchers.close()
    finally:
        indexes.close()
    assert lines[0] == f"watch: watching {docs} (file-system events) for {tmp_path / 'index'}"


def test_serve_watch_refuses_a_qdrant_index_and_an_index_whose_folder_is_gone(docs: Path, tmp_path: Path) -> None:
    pytest.importorskip("qdrant_client")
    qdrant = f"qdrant+local://{tmp_path / 'q'}/docs"
    HybridIndex.build(docs, qdrant, model=FAKE_MODEL).close()
    result = CliRunner().invoke(cli, ["serve", "--watch", "--index", qdrant])
    assert result.exit_code == 1
    assert "serve --watch watches local index folders; index 'docs' is in Qdrant" in result.output
    moved = write_files(tmp_path / "moved", {"a.txt": "移す文書。"})
    HybridIndex.build(moved, tmp_path / "index", model=FAKE_MODEL).close()
    moved.rename(tmp_path / "elsewhere")
    result = CliRunner().invoke(cli, ["serve", "--watch", "--index", str(tmp_path / "index")])
    assert result.exit_code == 1
    assert f"index 'index' was built from {moved}, which is not a folder here" in result.output


def test_bad_input_is_a_one_line_error(docs: Path, tmp_path: Path) -> None:
    HybridIndex.build(docs, tmp_path / "index", model=FAKE_MODEL).close()
    runner = CliRunner()
    cases = {
        ("watch", str(tmp_path / "nowhere")): "Error: No such folder: ",
        ("watch", str(docs / "faq.csv")): "is a file; hsearch watch watches folders",
        ("watch", str(docs), "--model", "fake:other"): "was built with model 'fake:bigrams'",
    }
    for args, message in cases.items():
        result = runner.invoke(cli, [*args, "--index", str(tmp_path / "index")])
        assert result.exit_code == 1 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(cli, ["watch", str(docs), "--index", str(tmp_path / "index"), "--poll", "0"])
    assert result.exit_code == 2


def test_the_readme_documents_every_option_of_watch() -> None:
    usage = (ROOT / "README.md").read_text(encoding="utf-8").split("## Command line", 1)[1].split("```", 2)[1]
    line = next(line for line in usage.splitlines() if line.startswith("hsearch watch "))
    block = usage[usage.index(line) + len("hsearch watch") :].split("\nhsearch ", 1)[0]
    documented = set(re.findall(r"(--?[a-z][a-z-]*)", block))
    actual = {opt for param in cli.commands["watch"].params for opt in [*param.opts, *param.secondary_opts]}
    assert documented <= actual and {o for o in actual if o.startswith("--")} - {"--help"} <= documented
    serve = usage[usage.index("hsearch serve") :].split("\nhsearch ", 1)[0]
    assert "[--watch]" in serve


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_chmod_changes_who_may_read_a_file_under_acl_posix(docs: Path, tmp_path: Path) -> None:
    from hybridsearch import Principal
    from hybridsearch.config import IndexConfig, LoaderConfig

    docs.chmod(0o755)
    for folder in docs.rglob("*"):
        folder.chmod(0o755 if folder.is_dir() else 0o644)
    location = tmp_path / "index"
    config = IndexConfig(loader=LoaderConfig(acl="posix"))
    HybridIndex.build(docs, location, model=FAKE_MODEL, config=config).close()
    me = Principal(pwd.getpwuid(os.getuid()).pw_name)
    with watching(docs, location) as running:
        index = running.index
        assert "mars.md" in paths_found(index, "火星")
        (docs / "planets" / "mars.md").chmod(0o600)
        eventually(lambda: "mars.md" not in paths_found(index, "火星"), "a file closed to others is gone for them")
        assert {Path(hit.path).name for hit in index.search("火星", k=20, alpha=0, principal=me)} >= {"mars.md"}
