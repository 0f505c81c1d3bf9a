"""An index is data, never code: doctored indexes, hostile files, long-running use (issue 13's cases; the
section comments below carry its numbers)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DOCS, FAKE_MODEL, TESTS
from hostile_index import edit_manifest, generation, mutate, plant_remote_code, point_at_endpoint, point_outside

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.errors import IndexFormatError, IndexLockedError, InputError
from hybridsearch.search import MAX_QUERY_CHARS, MAX_QUERY_TERMS

SETPRIV = shutil.which("setpriv")


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


class Recorder(BaseHTTPRequestHandler):
    """Counts every request and keeps its Authorization header; answers nothing useful."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(self.headers.get("Authorization", ""))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    """A server on loopback that records whoever calls it."""
    Recorder.seen.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


# --- 1. a doctored index runs no code and sends nothing anywhere ---------------------------------------


def test_a_planted_endpoint_gets_neither_queries_nor_keys(built: HybridIndex, corpus: Path, listener: str) -> None:
    built.close()
    point_at_endpoint(Path(built.location), listener, "SECRET_TOKEN")
    env = {"SECRET_TOKEN": "s3cr3t", "HSEARCH_API_BASE": ""}
    query = run("query", "赤い惑星", "--index", built.location, env=env)
    assert query.exit_code == 1 and "an index cannot choose where your queries and API key are sent" in query.stderr
    assert f"--api-base {listener}" in query.stderr and "Traceback" not in query.output
    (corpus / "new.txt").write_text("新しい文書。", encoding="utf-8")
    update = run("index", str(corpus), "--index", built.location, "-q", env=env)
    assert update.exit_code == 1 and "confirm the endpoint" in update.stderr
    assert run("query", "赤い惑星", "--index", built.location, "--alpha", "0", env=env).exit_code == 0  # BM25 only
    assert Recorder.seen == []  # nothing reached the planted endpoint, no key left the process
    index = HybridIndex.open(built.location)
    with pytest.raises(InputError, match="confirm the endpoint"):
        index.search("赤い惑星", alpha=0.5)


def test_planted_model_code_never_runs(built: HybridIndex, tmp_path: Path) -> None:
    import tiny_models

    built.close()
    model = tiny_models.build_custom_code(tmp_path / "models", "".join(DOCS.values()))
    marker = plant_remote_code(Path(built.location), model)
    result = run("query", "赤い惑星", "--index", built.location)
    assert result.exit_code == 1 and "an index cannot grant that" in result.stderr
    assert "--trust-remote-code" in result.stderr and not marker.exists()
    checked = run("info", "--index", built.location, "--check")
    assert checked.exit_code == 1 and "model/sse_module.py is not a file of the index" in checked.stderr
    assert "manifest.json does not match the checksum in CURRENT" in checked.stderr and not marker.exists()


def test_check_covers_the_manifest_and_unknown_files(built: HybridIndex) -> None:
    built.close()
    edit_manifest(Path(built.location), lambda manifest: manifest["config"].update(alpha=0.1))
    (generation(Path(built.location)) / "extra.bin").write_bytes(b"?")
    result = run("info", "--index", built.location, "--check")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Index {built.location} failed its check: manifest.json does not match the checksum in CURRENT; "
        "extra.bin is not a file of the index.\n"
    )


def test_current_names_only_a_generation_inside_the_index(built: HybridIndex) -> None:
    built.close()
    point_outside(Path(built.location))
    with pytest.raises(IndexFormatError, match="damaged CURRENT file .* not 'gen-000001/../../outside/evilgen'"):
        HybridIndex.open(built.location)
    current = Path(built.location) / "CURRENT"
    current.write_bytes(b"gen-00\xff01\n")
    assert run("info", "--index", built.location).stderr.startswith(
        f"Error: Index {built.location} has a damaged CURRENT file (it names a generation folder"
    )
    current.write_text("gen-000001\n")
    (Path(built.location) / "gen-000001").rename(Path(built.location) / "real")
    (Path(built.location) / "gen-000001").symlink_to(Path(built.location) / "real")
    with pytest.raises(IndexFormatError, match="points at a missing generation 'gen-000001'"):
        HybridIndex.open(built.location)


# --- 2. no loader's work grows faster than its input --------------------------------------------------


def test_html_of_unclosed_tags_is_read_in_one_pass(tmp_path: Path) -> None:
    """400,000 characters of '<a' (html.parser took 22.9 s at 80,000 and grows with the square): the
    page is indexed; a loose 60 s limit turns a hang into a failure instead of a stuck test run."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.html").write_text("<p>本文です</p>" + "<a" * 200_000, encoding="utf-8")
    (tmp_path / "docs" / "y.html").write_text(
        "<p>正しい</p>" + "< " * 100_000 + ">" + "<!--" * 50_000, encoding="utf-8"
    )
    command = [sys.executable, str(TESTS / "fake_hsearch.py"), "index", str(tmp_path / "docs"), "--index",
               str(tmp_path / "idx"), "--model", FAKE_MODEL, "-q"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    index = HybridIndex.open(tmp_path / "idx")
    hit = index.search("本文", k=1, alpha=0)[0]
    assert hit.path.endswith("x.html") and index.get(hit.document_id).text == "本文です"  # an unclosed tag is not text


# --- 3. one bad file is a warning, never the end of the run -------------------------------------------


def test_bad_records_and_names_are_one_line_skips(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("良い文書です。", encoding="utf-8")
    (docs / "deep.jsonl").write_text('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    (docs / "digits.jsonl").write_text('{"text": "数字", "n": ' + "9" * 5000 + "}\n", encoding="utf-8")
    (docs / "surrogate.jsonl").write_text('{"text": "前\\ud800後の文"}\n', encoding="utf-8")
    (docs / "cdata.html").write_text("<p>本文</p><![ x", encoding="utf-8")
    (docs / os.fsdecode(b"bad\xffname.txt")).write_text("名前が壊れた文書。", encoding="utf-8")
    result = run("index", str(docs), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL)
    assert result.exit_code == 3 and "Traceback" not in result.output, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert any("deep.jsonl: no record" in w for w in warnings) and any("digits.jsonl: no record" in w for w in warnings)
    assert any("bad\\udcffname.txt: its name is not valid UTF-8; rename it" in w for w in warnings)
    index = HybridIndex.open(tmp_path / "idx")
    texts = {h.text for h in index.search("文", k=20, alpha=0)}
    assert {"良い文書です。", "前\ufffd後の文", "本文"} <= texts


# --- 4. long queries are cut to what each side reads ----------------------------------------------------


@pytest.mark.parametrize("query", ["火星の話をしよう。" * 600, "梅雨" * 50_000])
def test_long_queries_are_cut_and_say_so(built: HybridIndex, query: str) -> None:
    prepared = built.prepare(query)
    assert len(prepared.terms) <= MAX_QUERY_TERMS and len(prepared.dense_text) == built.model.max_seq_length
    assert prepared.cut["characters"] == MAX_QUERY_CHARS and "dense_characters" in prepared.cut
    result = run("query", query, "--index", built.location, "--json", "-k", "1")
    assert result.exit_code == 0 and json.loads(result.stdout)["cut"] == prepared.cut
    assert run("query", query, "--index", built.location).stderr.startswith("Note: the query was cut to fit (")
    assert built.prepare("赤い惑星").cut == {}


# --- 5. memory stays flat over many opens -------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_memory_stays_flat_over_300_open_search_close_cycles(built: HybridIndex) -> None:
    def resident() -> tuple[int, int]:
        status = Path("/proc/self/status").read_text().splitlines()
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
        return rss, len(Path("/proc/self/maps").read_text().splitlines())

    for _ in range(20):  # warm: the first searches grow caches that stay
        with HybridIndex.open(built.location) as index:
            index.search("赤い惑星", alpha=0.5)
    before = resident()
    for _ in range(300):
        with HybridIndex.open(built.location) as index:
            index.search("赤い惑星", alpha=0.5)
    after = resident()
    assert after[0] - before[0] < 30_000, (before, after)  # kB; a tagger per open grew by ~40 MB per 100
    assert after[1] - before[1] < 30, (before, after)  # mappings


# --- 6. --check reports damage, never crashes ----------------------------------------------------------


@pytest.mark.parametrize("name", ["bm25/indices.npy", "bm25/weights_indices.npy", "docs.sqlite", "bm25/indptr.npy"])
def test_check_reports_flipped_bytes_without_crashing(built: HybridIndex, name: str) -> None:
    built.close()
    path = generation(Path(built.location)) / name
    for offset in (0.3, 0.5, 0.7, 0.9, 0.95, 0.99):
        original = path.read_bytes()
        data = bytearray(original)
        data[int(offset * len(data))] ^= 0xFF
        path.write_bytes(bytes(data))
        for args in (["info", "--check"], ["query", "赤い惑星"]):
            result = subprocess.run(
                [sys.executable, str(TESTS / "fake_hsearch.py"), *args, "--index", built.location],
                capture_output=True, text=True,
            )  # fmt: skip
            assert result.returncode in (0, 1), (name, offset, args, result.returncode, result.stderr)
            assert "Traceback" not in result.stderr, (name, offset, result.stderr)
            if args[0] == "info":
                assert result.returncode == 1 and f"{name} does not match its checksum" in result.stderr
        path.write_bytes(original)


# --- 7. two first builds started together ---------------------------------------------------------------


def test_a_first_build_that_loses_the_lock_leaves_the_winners_folder(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "new-index"
    code = (
        "import time, sys\nfrom pathlib import Path\nfrom hybridsearch.backends.local.generations import writer_lock\n"
        f"with writer_lock(Path({str(index_dir)!r})):\n"
        f"    Path({str(index_dir / '.building-winner')!r}).mkdir()\n"
        "    print('held', flush=True)\n    sys.stdin.readline()\n"
    )
    winner = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert winner.stdout is not None and winner.stdin is not None and winner.stdout.readline().strip() == "held"
    with pytest.raises(IndexLockedError):
        HybridIndex.build(corpus, index_dir, model=FAKE_MODEL)
    assert (index_dir / ".building-winner").is_dir()  # the loser did not delete the winner's work
    winner.stdin.close()
    winner.wait()
    winner.stdout.close()


# --- 8. an unreadable folder keeps its documents --------------------------------------------------------


def _without_permission_override(command: list[str]) -> list[str]:
    """`command` run so that mode bits apply to it: as root, without CAP_DAC_OVERRIDE (util-linux setpriv)."""
    if os.geteuid() != 0:
        return command
    if SETPRIV is None:
        pytest.skip("root reads every folder; this test needs setpriv (Debian package util-linux) to drop that")
    drop = "-dac_override,-dac_read_search"
    return [SETPRIV, f"--bounding-set={drop}", f"--inh-caps={drop}", *command]


def test_an_unreadable_folder_is_a_warning_and_keeps_its_documents(corpus: Path, tmp_path: Path) -> None:
    hsearch = [sys.executable, str(TESTS / "fake_hsearch.py")]
    index = ["--index", str(tmp_path / "idx"), "--model", FAKE_MODEL]
    assert subprocess.run([*hsearch, "index", str(corpus), *index, "-q"], capture_output=True).returncode == 0
    (corpus / "planets").chmod(0)
    try:
        result = subprocess.run(_without_permission_override([*hsearch, "index", str(corpus), *index]),
                                capture_output=True, text=True)  # fmt: skip
    finally:
        (corpus / "planets").chmod(0o755)
    assert result.returncode == 3, result.stderr
    assert (
        f"warning: skipped {corpus / 'planets'}: cannot read folder (Permission denied); its documents stay"
        in result.stderr
    )
    assert " 0 removed, " in result.stderr.splitlines()[-1]
    assert HybridIndex.open(tmp_path / "idx").search("火星", k=1, alpha=0)[0].title == "火星"


# --- 9. every failure is one line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("deep manifest", "has an unreadable manifest"),
        ("manifest of the wrong shape", "has an invalid manifest"),
        ("manifest names a file outside", "a file name outside the generation"),
        ("npy header", "is damaged"),
    ],
)
def test_damage_at_open_is_one_line(built: HybridIndex, damage: str, message: str) -> None:
    built.close()
    folder = generation(Path(built.location))
    if damage == "deep manifest":
        (folder / "manifest.json").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    elif damage == "manifest of the wrong shape":
        edit_manifest(Path(built.location), lambda manifest: manifest.update(files=[1, 2]))
    elif damage == "manifest names a file outside":
        edit_manifest(Path(built.location), lambda m: m["files"].update({"../x": {"size": 1, "sha256": "0" * 64}}))
    else:
        mutate(folder / "bm25" / "doc_len.npy", "flip byte 64")
    result = run("query", "赤い惑星", "--index", built.location)
    assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize("from_end", [1, 2, 3, 5, 8, 13, 21, 34, 64, 200])
def test_flips_near_the_end_of_the_vectors_are_no_traceback(built: HybridIndex, from_end: int) -> None:
    """FAISS reads what it is given: a flip may make the index unreadable (one line) or change a
    vector (the search answers; --check finds the checksum mismatch), never a traceback."""
    built.close()
    path = generation(Path(built.location)) / "vectors.faiss"
    data = bytearray(path.read_bytes())
    data[-from_end] ^= 0xFF
    path.write_bytes(bytes(data))
    command = [sys.executable, str(TESTS / "fake_hsearch.py"), "query", "赤い惑星", "--index", built.location]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    assert "vectors.faiss does not match its checksum" in run("info", "--index", built.location, "--check").stderr


def _limited(command: list[str], file_size: int) -> Any:
    """`command` with files limited to `file_size` bytes: writes past it fail as on a full disk."""
    code = (
        "import resource, signal, subprocess, sys\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({file_size}, {file_size}))\n"
        f"sys.exit(subprocess.run({command!r}).returncode)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_a_write_that_fails_leaves_the_index_as_it_was(built: HybridIndex, corpus: Path) -> None:
    built.close()
    (corpus / "more.txt").write_text("追加の文書。" * 2000, encoding="utf-8")
    command = [sys.executable, str(TESTS / "fake_hsearch.py"), "index", str(corpus), "--index", built.location]
    result = _limited(command, 20_000)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("the index is unchanged."), result.stderr
    assert HybridIndex.open(built.location).search("火星", k=1)[0].title == "火星" and not list(
        Path(built.location).glob(".building-*")
    )


def test_permissions_are_not_damage(built: HybridIndex) -> None:
    built.close()
    folder = generation(Path(built.location))
    command = [sys.executable, str(TESTS / "fake_hsearch.py"), "query", "火星", "--index", built.location]
    (folder / "docs.sqlite").chmod(0)
    try:
        result = subprocess.run(_without_permission_override(command), capture_output=True, text=True)
    finally:
        (folder / "docs.sqlite").chmod(0o644)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("check its permissions."), result.stderr and "rebuild" not in result.stderr


# --- 10. sentence vectors: found by --check ---------------------------------------------------------------


def test_a_flipped_sentence_vector_is_found_by_check(built: HybridIndex) -> None:
    built.close()
    mutate(generation(Path(built.location)) / "sentence-vectors.npy", "flip in the middle")
    result = run("info", "--index", built.location, "--check")
    assert result.exit_code == 1 and "sentence-vectors.npy does not match its checksum" in result.stderr


# --- 11. small things -------------------------------------------------------------------------------------


def test_an_index_inside_the_folder_it_indexes_is_not_read(corpus: Path) -> None:
    first = run("index", str(corpus), "--index", str(corpus / "idx"), "--model", FAKE_MODEL)
    again = run("index", str(corpus), "--index", str(corpus / "idx"))
    assert first.exit_code == 0 and again.exit_code == 0 and "warning" not in again.stderr, again.stderr
    assert "index is up to date" in again.stderr


def test_file_names_reach_the_terminal_escaped(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "evil\x1b[2Jname\nx.txt").write_text("火星の文書。", encoding="utf-8")
    (tmp_path / "docs" / "bad\x07.txt").write_bytes(b"\x00")  # skipped, with a warning that names it
    (tmp_path / "docs" / "odd.b\x07n").write_bytes(b"x")  # an unsupported type, counted by its suffix
    built = run("index", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL)
    assert "\x1b" not in built.output and "\x07" not in built.output and "bad\\x07.txt" in built.stderr
    assert "(.b\\x07n 1)" in built.stderr
    found = run("query", "火星", "--index", str(tmp_path / "idx"))
    assert "evil\\x1b[2Jname\\nx.txt" in found.stdout and "\x1b" not in found.stdout


def test_numpy_numbers_are_numbers_and_bools_are_not(built: HybridIndex) -> None:
    assert len(built.search("火星", k=np.int64(2), alpha=np.float32(0.3))) == 2
    with pytest.raises(InputError, match="k must be a positive whole number"):
        built.search("火星", k=True)
    with pytest.raises(InputError, match="alpha must be between 0 and 1"):
        built.search("火星", alpha=True)


def test_an_index_folder_without_write_permission_is_said_so(built: HybridIndex, corpus: Path) -> None:
    built.close()
    (corpus / "new.txt").write_text("新しい文書。", encoding="utf-8")
    command = [sys.executable, str(TESTS / "fake_hsearch.py"), "index", str(corpus), "--index", built.location]
    Path(built.location).chmod(0o555)
    try:
        result = subprocess.run(_without_permission_override(command), capture_output=True, text=True)
    finally:
        Path(built.location).chmod(0o755)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: Cannot write index {built.location} (Permission denied")
    assert last.endswith("the index is unchanged.")


# --- found by a review of the above ------------------------------------------------------------------------


def test_a_doctored_hnsw_entry_point_is_refused_at_open() -> None:
    from hybridsearch.backends.local.vectors import VectorStore
    from hybridsearch.config import VectorConfig

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 8)).astype(np.float32)
    store = VectorStore.build(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), VectorConfig(kind="hnsw"))
    store.index.hnsw.max_level = 9  # FAISS would read the entry point's links on a level it does not have
    with pytest.raises(ValueError, match="the HNSW graph points outside its vectors"):
        VectorStore(store.index)


def test_html_edge_cases_read_as_a_browser_shows_them() -> None:
    from hybridsearch.loaders import html_to_text

    assert html_to_text("İ" * 30 + "<script>x</script><p>本文</p>")[1] == "İ" * 30 + "\n本文"  # lower() lengthens İ
    assert html_to_text("<p>前</p><script>'</scripts>'</script><p>後</p>")[1] == "前\n後"
    assert html_to_text("<p>前</p><![CDATA[ x > y ]]><p>後</p>")[1] == "前\n後"
    assert html_to_text('<meta name="m" content="a > b"><p title="x>y">本文</p>')[1:] == ("本文", {"m": "a > b"})
    assert html_to_text("<template><body>隠す</body></template><p>見える</p>")[1] == "見える"


def test_spaces_after_a_lone_angle_bracket_are_linear(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>本文</p><" + " " * 400_000 + "1>", encoding="utf-8")
    page = str(tmp_path / "page.html")
    code = f"from hybridsearch.loaders import html_to_text; print(html_to_text(open({page!r}).read())[1][:2])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "本文"


def test_a_docstore_with_views_is_refused_not_run(built: HybridIndex) -> None:
    import sqlite3

    built.close()
    folder = generation(Path(built.location))
    hostile = folder / "docs.sqlite"
    hostile.unlink()
    with sqlite3.connect(hostile) as db:
        db.executescript(
            "CREATE VIEW documents AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r;"
            "CREATE TABLE chunks (row INTEGER);"
        )
    size = hostile.stat().st_size
    edit_manifest(Path(built.location), lambda m: m["files"]["docs.sqlite"].update(size=size))  # sizes agree
    with pytest.raises(IndexFormatError, match="docs.sqlite does not have the tables hybridsearch writes"):
        HybridIndex.open(built.location)


def test_a_grant_of_trust_holds_only_for_its_model(corpus: Path, tmp_path: Path) -> None:
    """Opened with --trust-remote-code for its own model, an index that a refresh finds pointing at
    another custom-code folder does not run that folder's code."""
    import tiny_models

    model = tiny_models.build_custom_code(tmp_path / "models", "".join(DOCS.values()))
    index_dir = tmp_path / "idx"
    HybridIndex.build(corpus, index_dir, model=str(model), trust_remote_code=True).close()
    index = HybridIndex.open(index_dir, trust_remote_code=True)
    assert index.search("赤い惑星", alpha=0.5)
    HybridIndex.build(corpus, index_dir, model=str(model), trust_remote_code=True, rebuild=True).close()
    other = tiny_models.build_custom_code(tmp_path / "elsewhere", "".join(DOCS.values()))
    marker = plant_remote_code(index_dir, other)  # the newest generation now names a planted folder
    assert index.refresh() is True
    with pytest.raises(InputError, match="an index cannot grant that"):
        index.search("赤い惑星", alpha=0.5)
    assert not marker.exists()


def test_doctored_arrays_and_metadata_are_errors_not_tracebacks(built: HybridIndex) -> None:
    from hybridsearch.filters import Filter, MetadataTable

    table = MetadataTable([{"x": None}, {"x": {"a": 1}}, {"x": [[1]]}, {"x": "1"}])
    assert table.mask(Filter.parse({"x": 1})).tolist() == [False, False, False, True]  # type: ignore[arg-type]
    assert table.values(5) == {"x": ["1"]}
    built.close()
    folder = generation(Path(built.location))
    np.save(folder / "bm25" / "doc_len.npy", np.array(["a"] * 8))
    size = (folder / "bm25" / "doc_len.npy").stat().st_size
    edit_manifest(Path(built.location), lambda m: m["files"]["bm25/doc_len.npy"].update(size=size))
    result = run("query", "火星", "--index", built.location)
    assert result.exit_code == 1 and "doc_len.npy is not a flat array of numbers" in result.stderr
    checked = run("info", "--index", built.location, "--check")
    assert checked.exit_code == 1 and "bm25/doc_len.npy does not match its checksum" in checked.stderr


def test_check_names_links_and_generation_names_are_ascii(built: HybridIndex, tmp_path: Path) -> None:
    built.close()
    (generation(Path(built.location)) / "elsewhere").symlink_to(tmp_path)
    result = run("info", "--index", built.location, "--check")
    assert result.exit_code == 1 and "elsewhere is a link (an index holds only plain files)" in result.stderr
    (Path(built.location) / "CURRENT").write_text("gen-０００００１\n", encoding="utf-8")
    with pytest.raises(IndexFormatError, match="damaged CURRENT file"):
        HybridIndex.open(built.location)


def test_info_shows_what_an_index_says_escaped(corpus: Path, tmp_path: Path) -> None:
    (corpus / "evil\x1b]0;title\x07.txt").write_text("文書。", encoding="utf-8")
    run("index", str(corpus), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL, "-q")
    edit_manifest(tmp_path / "idx", lambda m: m.update(sources=["\x1b[2J" + m["sources"][0]]))
    shown = run("info", "--index", str(tmp_path / "idx"))
    assert "\x1b" not in shown.stdout and "\\x1b[2J" in shown.stdout


def test_a_given_encoder_survives_an_update_of_settings_that_do_not_shape_vectors(corpus: Path, tmp_path: Path) -> None:
    from conftest import FakeEncoder

    from hybridsearch import IndexConfig
    from hybridsearch.config import DenseConfig

    encoder = FakeEncoder()
    index = HybridIndex.build(corpus, tmp_path / "idx", encoder=encoder)
    (corpus / "new.txt").write_text("新しい文書。", encoding="utf-8")
    batch = IndexConfig(dense=DenseConfig(FAKE_MODEL, batch_size=4))
    HybridIndex.build(corpus, tmp_path / "idx", encoder=encoder, config=batch).close()
    assert index.refresh() is True and index.encoder is encoder
