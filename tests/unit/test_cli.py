import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FAKE_MODEL

from hybridsearch.cli import cli


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def index_dir(corpus: Path, tmp_path: Path) -> Path:
    (corpus / "broken.txt").write_bytes(b"\x00\x01binary")
    result = run("index", str(corpus), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL)
    assert result.exit_code == 3, result.output  # written, but broken.txt was skipped
    return tmp_path / "idx"


def test_index_reports_summary_and_warnings_on_stderr(corpus: Path, tmp_path: Path) -> None:
    (corpus / "broken.txt").write_bytes(b"\x00\x01binary")
    result = run("index", str(corpus), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL)
    assert result.exit_code == 3  # written, but something was skipped
    assert result.stdout == ""
    assert f"warning: skipped {corpus / 'broken.txt'}: binary file (contains NUL bytes)" in result.stderr
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith(f"{tmp_path / 'idx'}: 7 added, 0 changed, 0 removed, 0 unchanged file(s); encoded ")
    assert "index holds 8 documents in" in summary and "; skipped 1 file(s) (" in summary


def test_quiet_index_prints_only_the_summary(corpus: Path, tmp_path: Path) -> None:
    result = run("index", str(corpus), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL, "-q")
    assert result.exit_code == 0
    assert result.stderr.count("\n") == 1 and "7 added" in result.stderr


def test_rerun_updates_only_what_changed(corpus: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    assert run("index", str(corpus), "--index", index_dir, "--model", FAKE_MODEL, "-q").exit_code == 0
    again = run("index", str(corpus), "--index", index_dir, "-q")
    assert "0 added, 0 changed, 0 removed, 7 unchanged file(s); index is up to date" in again.stderr
    (corpus / "food" / "curry.txt").write_text("カレーは一晩寝かせる。", encoding="utf-8")
    (corpus / "planets" / "venus.md").unlink()
    (corpus / "new.txt").write_text("新しい文書です。", encoding="utf-8")
    changed = run("index", str(corpus), "--index", index_dir, "-q")
    assert "1 added, 1 changed, 1 removed, 5 unchanged file(s); encoded 2 chunk(s), reused 6" in changed.stderr
    removed = run("remove", str(corpus / "planets"), "--index", index_dir)
    assert removed.exit_code == 0 and "0 added, 0 changed, 2 removed" in removed.stderr
    assert "mars.md" not in run("query", "火星", "--index", index_dir).stdout


def test_changing_settings_needs_rebuild(corpus: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    run("index", str(corpus), "--index", index_dir, "--model", FAKE_MODEL, "-q")
    result = run("index", str(corpus), "--index", index_dir, "--chunk-size", "200", "-q")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Index {index_dir} was built with other settings (chunk.size: 500 → 200); keep them, "
        f"or rebuild it with the new ones: hsearch index PATH --index {index_dir} --rebuild\n"
    )
    rebuilt = run(
        "index", str(corpus), "--index", index_dir, "--chunk-size", "200", "--model", FAKE_MODEL, "--rebuild", "-q"
    )
    assert rebuilt.exit_code == 0 and "7 added" in rebuilt.stderr


def test_word_pairs_can_be_turned_off(corpus: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    built = run("index", str(corpus), "--index", index_dir, "--model", FAKE_MODEL, "--no-word-pairs", "-q")
    assert built.exit_code == 0
    assert "terms=lemma\n" in run("info", "--index", index_dir).stdout
    hit = json.loads(run("query", "赤い惑星は?", "--index", index_dir, "--json", "-k", "1").stdout)["hits"][0]
    assert hit["matched_terms"] == ["赤い", "惑星"]
    changed = run("index", str(corpus), "--index", index_dir, "--word-pairs", "-q")
    assert changed.exit_code == 1 and "tokenizer.word_pairs: False → True" in changed.stderr


def test_sentence_vectors_can_be_turned_off(corpus: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    two = "火星は太陽から4番目の惑星で、赤い惑星と呼ばれる。衛星はフォボスとダイモスの二つで、どちらも小さい。"
    (corpus / "two-sentences.txt").write_text(two, encoding="utf-8")  # the rest are too short to have two
    with_them = run("index", str(corpus), "--index", str(tmp_path / "default"), "--model", FAKE_MODEL, "-q")
    assert with_them.exit_code == 0
    info = run("info", "--index", str(tmp_path / "default")).stdout
    assert "flat (FAISS; setting: auto) + 2 sentence vectors\n" in info
    built = run("index", str(corpus), "--index", index_dir, "--model", FAKE_MODEL, "--no-sentences", "-q")
    assert built.exit_code == 0 and "flat (FAISS; setting: auto)\n" in run("info", "--index", index_dir).stdout
    assert not list((tmp_path / "idx").glob("gen-*/sentence-vectors.npy"))
    changed = run("index", str(corpus), "--index", index_dir, "--sentences", "-q")
    assert changed.exit_code == 1 and "dense.sentences: False → True" in changed.stderr


def test_query_human_output(index_dir: Path) -> None:
    result = run("query", "赤い惑星は?", "--index", str(index_dir), "-k", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(" 1. ") and "mars.md" in lines[0] and "「火星」" in lines[0]
    assert lines[1].strip().startswith("bm25 ") and "dense " in lines[1]
    assert "赤い惑星" in lines[2]
    assert len(lines) == 6


def test_query_json_has_every_field(index_dir: Path) -> None:
    result = run("query", "赤い惑星は?", "--index", str(index_dir), "--json", "--alpha", "0.3", "--fusion", "rrf")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["alpha"] == 0.3 and payload["fusion"] == "rrf" and payload["query"] == "赤い惑星は?"
    hit = payload["hits"][0]
    for key in (
        "rank",
        "id",
        "document_id",
        "score",
        "bm25",
        "bm25_norm",
        "dense",
        "dense_norm",
        "source",
        "path",
        "record",
        "title",
        "text",
        "start",
        "end",
        "ordinal",
        "metadata",
        "matched_terms",
    ):
        assert key in hit
    assert hit["title"] == "火星" and hit["matched_terms"] == ["赤い", "惑星", "赤い 惑星"]


def test_index_location_from_environment(index_dir: Path) -> None:
    result = run("query", "カレー", "-k", "1", env={"HSEARCH_INDEX": str(index_dir)})
    assert result.exit_code == 0 and "curry.txt" in result.stdout


def test_info(index_dir: Path) -> None:
    result = run("info", "--index", str(index_dir))
    assert result.exit_code == 0
    assert "documents:     8" in result.stdout and f"model:         {FAKE_MODEL} (1), dim 64" in result.stdout
    assert "fields:        mtime, path, size, title, type\n" in result.stdout
    assert "k1=0.9, b=0.4, terms=lemma + word pairs" in result.stdout
    assert "user words:    none\nsynonyms:      none\n" in result.stdout
    assert "threshold:     0.35 (the fitted default)\n" in result.stdout
    checked = run("info", "--index", str(index_dir), "--check")
    assert checked.exit_code == 0 and "check:         ok" in checked.stdout
    details = json.loads(run("info", "--index", str(index_dir), "--json").stdout)
    assert details["counts"]["documents"] == 8 and "files" not in details


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query", "", "--index", "{idx}"], "Error: The query is empty; give some words to search for."),
        (
            ["query", "火星", "--alpha", "1.5", "--index", "{idx}"],
            "Error: alpha must be between 0 and 1 (got 1.5); 0 = BM25 only, 1 = dense only.",
        ),
        (
            ["query", "火星", "--index", "{tmp}/none"],
            "Error: No index at {tmp}/none; create one with: hsearch index PATH --index {tmp}/none",
        ),
        (
            ["info", "--index", "{tmp}/none"],
            "Error: No index at {tmp}/none; create one with: hsearch index PATH --index {tmp}/none",
        ),
        (
            ["index", "{tmp}/nowhere", "--index", "{tmp}/new", "--model", FAKE_MODEL],
            "Error: No such file or folder: {tmp}/nowhere",
        ),
        (
            ["index", "{tmp}/emptydir", "--index", "{tmp}/new", "--model", FAKE_MODEL],
            "Error: No documents with text found under {tmp}/emptydir.",
        ),
        (
            ["index", "{tmp}/emptydir", "--index", "{tmp}/emptydir/../docs", "--model", FAKE_MODEL],
            "Error: {tmp}/emptydir/../docs exists and is not a hybridsearch index; refusing to write into it. "
            "Choose an empty or new folder with --index.",
        ),
        (
            [
                "index",
                "{tmp}/docs",
                "--index",
                "{tmp}/new",
                "--chunk-size",
                "100",
                "--chunk-overlap",
                "60",
                "--model",
                FAKE_MODEL,
            ],
            "Error: Chunk overlap 60 must be between 0 and half the chunk size (50).",
        ),
    ],
)
def test_user_errors_are_one_line(index_dir: Path, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "emptydir").mkdir(exist_ok=True)
    result = run(*[a.format(idx=index_dir, tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == message.format(tmp=tmp_path)  # after any progress bars
    assert "Traceback" not in result.output and result.stdout == ""


def test_damaged_index_is_one_line(index_dir: Path) -> None:
    generation = index_dir / (index_dir / "CURRENT").read_text().splitlines()[0]
    (generation / "vectors.faiss").write_bytes(b"junk")
    result = run("query", "火星", "--index", str(index_dir))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Index {index_dir} is damaged: vectors.faiss is 4 bytes, expected ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["query", "火星", "-k", "0"], "Invalid value for '-k'"),
        (["query", "火星", "--fusion", "max"], "Invalid value for '--fusion'"),
        (["query", "火星", "--alpha", "high"], "Invalid value for '-a' / '--alpha'"),
    ],
)
def test_option_errors_exit_2(args: list[str], fragment: str) -> None:
    result = run(*args)
    assert result.exit_code == 2 and fragment in result.stderr


@pytest.mark.parametrize("command", [[], ["index"], ["remove"], ["query"], ["info"], ["get"], ["eval"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage: " in result.stdout


def test_snippet_highlights_matched_words_in_colour_only_when_asked(index_dir: Path) -> None:
    plain = CliRunner().invoke(cli, ["query", "赤い惑星", "--index", str(index_dir), "-k", "1", "--alpha", "0"])
    coloured = CliRunner().invoke(
        cli, ["query", "赤い惑星", "--index", str(index_dir), "-k", "1", "--alpha", "0"], color=True
    )
    assert "\x1b[" not in plain.stdout and "「赤い惑星」" in plain.stdout
    assert "\x1b[31m\x1b[1m赤い\x1b[0m\x1b[31m\x1b[1m惑星\x1b[0m" in coloured.stdout
