"""Hostile input, hostile queries and tampered indexes: clear errors, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL, TESTS
from hostile import GOOD, PARTIAL, SKIPPED, UNSUPPORTED, make_hostile_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from office_files import write_long_sheet

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.errors import HybridSearchError, IndexFormatError


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hostile_folder(tmp_path_factory.mktemp("hostile"))


def test_hostile_folder_indexes_with_a_warning_per_bad_file(hostile: Path, tmp_path: Path) -> None:
    assert len(SKIPPED) + len(PARTIAL) >= 30
    index_dir = tmp_path / "idx"
    result = CliRunner().invoke(cli, ["index", str(hostile), "--index", str(index_dir), "--model", FAKE_MODEL])
    assert result.exit_code == 3, result.output  # written, but input was skipped
    assert "Traceback" not in result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    for name, reason in SKIPPED.items():
        matching = [w for w in warnings if w.startswith(f"warning: skipped {hostile / name}: ")]
        assert len(matching) == 1 and reason in matching[0], (name, matching)
    for name, reason in PARTIAL.items():
        assert any(str(hostile / name) in w and reason in w for w in warnings), name
    assert len(warnings) == len(SKIPPED) + len(PARTIAL)
    summary = result.stderr.splitlines()[-1]
    not_read = f"not read: {len(UNSUPPORTED)} file(s) of other types ("
    assert f"skipped {len(SKIPPED)} file(s) and 4 record(s); {not_read}" in summary
    assert "ignored 2 file(s)" in summary  # the links loop.txt and dangling.md: links to files are not followed
    assert not any(name in line for line in warnings for name in UNSUPPORTED)

    index = HybridIndex.open(index_dir)
    for name, query in GOOD.items():
        sources = [h.path for h in index.search(query, k=3, alpha=0)]
        assert str(hostile / name) in sources, (name, sources)
    for name in ("some_bad_rows.csv", "some_bad_lines.jsonl", "corrupt_utf8.txt", "truncated_sjis.txt"):
        assert any(
            h.path == str(hostile / name) for h in index.search("有効な行 良い行 火星", k=20, alpha=0, collapse=False)
        )
    page = next(h for h in index.search("見える本文", k=3, alpha=0) if h.path.endswith("scripts.html"))
    assert page.text == "見える本文です。"  # the script's text is not indexed
    assert not any(".hidden" in h.path or "loop-dir" in h.path for h in index.search("隠しファイル 深い階層", k=50))
    assert index.check() == []


def _indexing_peak_mb(folder: Path, index_dir: Path) -> tuple[int, float]:
    """(exit status, peak resident MB) of `hsearch index folder` in a child process."""
    fake_cli = str(TESTS / "fake_hsearch.py")
    # a generous time budget: this checks memory, and a loaded machine must not turn it into a timeout
    args = ["index", str(folder), "--index", str(index_dir), "--model", FAKE_MODEL, "--max-file-seconds", "900", "-q"]
    # the child's own peak (VmHWM): ru_maxrss would include the pytest process it was forked from
    code = (
        "import atexit, runpy, sys\n"
        f"sys.argv = [{fake_cli!r}, *{args!r}]\n"
        "peak = lambda: next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "atexit.register(lambda: print(peak().split()[1], file=sys.stderr))\n"
        f"runpy.run_path({fake_cli!r}, run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return result.returncode, int(result.stderr.split()[-1]) / 1024


READS_PEAK = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")


@READS_PEAK
def test_big_file_and_zip_bombs_never_enter_memory(hostile: Path, tmp_path: Path) -> None:
    status, peak_mb = _indexing_peak_mb(hostile, tmp_path / "idx")
    assert status == 3
    assert peak_mb < 250, (
        f"indexing the hostile folder peaked at {peak_mb:.0f} MB with a 100 MB file and 2 GB bombs in it"
    )


@READS_PEAK
def test_a_million_row_sheet_is_read_to_its_cap_in_bounded_memory(tmp_path: Path) -> None:
    (tmp_path / "sheet").mkdir()
    write_long_sheet(tmp_path / "sheet" / "log.xlsx", 1_000_000)
    status, peak_mb = _indexing_peak_mb(tmp_path / "sheet", tmp_path / "idx")
    assert status == 3  # written, with the rows past the cap counted as skipped
    assert peak_mb < 400, f"indexing a million-row sheet peaked at {peak_mb:.0f} MB"
    index = HybridIndex.open(tmp_path / "idx")
    last = index.search("100000 行100000の記録", k=1, alpha=0)[0]
    assert "100000 | 行100000の記録" in last.text and last.location["sheet"] == "ログ"
    assert last.location["cells"].endswith(":B100000")
    assert all("行100001の" not in hit.text for hit in index.search("100001 行100001の記録", k=5, alpha=0))


QUERIES = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=()), max_size=200),  # any code point, surrogates too
    st.text(alphabet="はがをにでとのもへやかよねぞ、。！？!?・「」（）　 ", max_size=50),  # particles, punctuation
    st.text(alphabet="火星赤い惑星𩸽😀ｶﾞ㍿〜゛", min_size=1000, max_size=5000),  # very long
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERIES, alpha=st.sampled_from([0.0, 0.6, 1.0]), fusion=st.sampled_from(["minmax", "zscore", "rrf"]))
def test_no_query_breaks_search(built: HybridIndex, query: str, alpha: float, fusion: str) -> None:
    try:
        hits = built.search(query, k=5, alpha=alpha, fusion=fusion)
    except HybridSearchError:
        assert not query.strip()  # only the empty query is refused
        return
    assert len(hits) <= 5 and all(isinstance(h.score, float) for h in hits)
    json.dumps([h.to_dict() for h in hits])


def _generation(index: HybridIndex) -> Path:
    return Path(index.location) / index.version


def test_docstore_disagreeing_with_manifest_is_named(built: HybridIndex) -> None:
    manifest_path = _generation(built) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["counts"]["chunks"] += 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match=r"inconsistent: the manifest says .* --rebuild"):
        HybridIndex.open(built.location)


def test_flipped_byte_is_found_by_check(built: HybridIndex) -> None:
    vectors = _generation(built) / "vectors.faiss"
    data = bytearray(vectors.read_bytes())
    data[-100] ^= 0xFF  # inside the vector data: FAISS still loads it
    vectors.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["info", "--index", str(built.location), "--check"])
    assert result.exit_code == 1
    assert (
        result.stderr == f"Error: Index {built.location} failed its check: vectors.faiss does not match its checksum.\n"
    )
