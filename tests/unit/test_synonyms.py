import logging
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FAKE_MODEL, write_files

from hybridsearch import HybridIndex, IndexConfig
from hybridsearch.cli import cli
from hybridsearch.config import TokenizerConfig
from hybridsearch.errors import InputError
from hybridsearch.synonyms import SynonymRule, parse_synonyms, read_synonyms
from hybridsearch.tokenization import Tokenizer

HR_FAQ = {
    "summer.txt": "夏季休暇は7月から9月の間に連続3日まで取得できます。",
    "pay.txt": "給与は毎月25日に銀行口座へ振り込まれます。",
    "parking.txt": "来客用の駐車場は正門の横にあります。",
}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def matched(index: HybridIndex, query: str) -> list[str]:
    """The files whose words a query matches (BM25 alone)."""
    return [Path(hit.path).name for hit in index.search(query, alpha=0) if hit.bm25 > 0]


@pytest.fixture
def hr(tmp_path: Path) -> Path:
    return write_files(tmp_path / "hr", HR_FAQ)


def test_the_solr_format_reads_as_equivalent_and_explicit_rules() -> None:
    text = "# 人事の用語\n\n夏休み, 夏季休暇 ,夏期休暇\n給料, 賃金 => 給与\nC\\,C++, シープラ\n"
    assert parse_synonyms(text) == [
        SynonymRule(("夏休み", "夏季休暇", "夏期休暇"), ("夏休み", "夏季休暇", "夏期休暇"), replace=False),
        SynonymRule(("給料", "賃金"), ("給与",), replace=True),
        SynonymRule(("C,C++", "シープラ"), ("C,C++", "シープラ"), replace=False),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("夏休み", "give two or more words"),
        ("a => b => c", "'=>' may appear once"),
        ("給料 =>", "each side of '=>' needs a word"),
        (" , => 給与", "each side of '=>' needs a word"),
    ],
)
def test_a_bad_line_is_named_with_its_number(line: str, problem: str) -> None:
    with pytest.raises(InputError, match=f"^syn.txt line 2: {problem}"):
        parse_synonyms(f"給料, 給与\n{line}\n", "syn.txt")


def test_a_file_that_is_not_utf8_or_missing_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sjis.txt").write_bytes("給料, 給与\n".encode("cp932"))
    with pytest.raises(InputError, match="is not UTF-8 .*save it as UTF-8"):
        read_synonyms(tmp_path / "sjis.txt")
    with pytest.raises(InputError, match="Cannot read the synonyms file .*missing.txt"):
        read_synonyms(tmp_path / "missing.txt")
    (tmp_path / "bom.txt").write_bytes("\ufeff給料, 給与\n".encode())
    assert read_synonyms(tmp_path / "bom.txt")[0].inputs == ("給料", "給与")


def test_a_query_gets_the_words_of_its_synonyms(tmp_path: Path) -> None:
    (tmp_path / "syn.txt").write_text("夏休み, 夏季休暇\n給料 => 給与\n問い合わせ, 照会\n", encoding="utf-8")
    tokenizer = Tokenizer(TokenizerConfig(synonyms=str(tmp_path / "syn.txt")))
    plain = Tokenizer()
    # equivalent: the query keeps its own words and also looks for the phrase's (words and pairs)
    added = ["夏休み", "夏季", "休暇"]  # an equivalent phrase's words, not its pairs
    assert tokenizer.query_terms("夏休みはいつから?") == [*plain.query_terms("夏休みはいつから?"), *added]
    # explicit: 給料 is looked for as 給与 only, and no word pair spans where it stood
    assert tokenizer.query_terms("給料の振込日") == ["振り込み", "日", "振り込み 日", "給与"]
    # a phrase is read by the tokenizer: 問合せ is 問い合わせ
    assert "照会" in tokenizer.query_terms("問合せ先")
    # documents are not changed
    assert tokenizer.document_terms("夏休み") == plain.document_terms("夏休み")


def test_synonyms_change_hits_without_a_rebuild_and_an_edit_is_read_at_once(
    hr: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index_dir = str(tmp_path / "idx")
    assert run("index", str(hr), "--index", index_dir, "--model", FAKE_MODEL, "-q").exit_code == 0
    with HybridIndex.open(index_dir) as index:
        assert matched(index, "夏休み") == []  # no document says 夏休み
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text("夏休み, 夏季休暇\n", encoding="utf-8")
    result = run("index", str(hr), "--index", index_dir, "--synonyms", str(synonyms), "-q")
    assert result.exit_code == 0, result.output
    assert "settings saved; index is up to date (3 documents in 3 chunks)" in result.stderr
    assert f"synonyms:      {synonyms}\n" in run("info", "--index", index_dir).stdout
    with HybridIndex.open(index_dir) as index:
        assert matched(index, "夏休み") == ["summer.txt"]
        assert matched(index, "給料") == []
        synonyms.write_text("夏休み, 夏季休暇\n給料, 給与\n", encoding="utf-8")  # edited while the index is open
        assert matched(index, "給料") == ["pay.txt"]
        synonyms.write_text("夏休み, 夏季休暇\n給料 => => 給与\n", encoding="utf-8")  # a bad edit
        with caplog.at_level(logging.WARNING, logger="hybridsearch.synonyms"):
            assert matched(index, "給料") == ["pay.txt"]  # the last good rules
        assert "line 2: '=>' may appear once" in caplog.text and "last good version" in caplog.text
    rebuilt = run(
        "index", str(hr), "--index", index_dir, "--chunk-size", "300", "--model", FAKE_MODEL, "--rebuild", "-q"
    )
    assert rebuilt.exit_code == 0 and f"synonyms:      {synonyms}\n" in run("info", "--index", index_dir).stdout
    removed = run("index", str(hr), "--index", index_dir, "--synonyms", "", "-q")
    assert removed.exit_code == 0 and "settings saved" in removed.stderr
    with HybridIndex.open(index_dir) as index:
        assert matched(index, "夏休み") == []


def test_a_bad_synonyms_file_is_one_line_and_changes_nothing(hr: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    run("index", str(hr), "--index", index_dir, "--model", FAKE_MODEL, "-q")
    (tmp_path / "bad.txt").write_text("夏休み\n", encoding="utf-8")
    result = run("index", str(hr), "--index", index_dir, "--synonyms", str(tmp_path / "bad.txt"), "-q")
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: {tmp_path / 'bad.txt'} line 1: give two or more words separated by commas, or 'A => B'.\n"
    )
    assert run("index", str(hr), "--index", index_dir, "--synonyms", str(tmp_path / "none.txt")).exit_code == 1
    with HybridIndex.open(index_dir) as index:
        assert index.config.tokenizer.synonyms is None


def test_a_synonyms_file_gone_since_is_a_warning_and_searches_go_on(
    hr: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text("夏休み, 夏季休暇\n", encoding="utf-8")
    config = IndexConfig(tokenizer=TokenizerConfig(synonyms=str(synonyms)))
    HybridIndex.build(hr, tmp_path / "idx", config=config, model=FAKE_MODEL).close()
    synonyms.unlink()
    with HybridIndex.open(tmp_path / "idx") as index, caplog.at_level(logging.WARNING, logger="hybridsearch.synonyms"):
        assert matched(index, "夏季休暇") == ["summer.txt"] and matched(index, "夏休み") == []
        assert matched(index, "給与") == ["pay.txt"]
    assert caplog.text.count("Cannot read the synonyms file") == 1  # once, not at every search
    assert "Searching with no synonyms" in caplog.text


def test_synonyms_leave_a_query_that_uses_the_documents_word_as_it_was(hr: Path, tmp_path: Path) -> None:
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text("夏休み, 夏季休暇, 夏期休暇, 盆休み, サマーホリデー, 夏の休暇\n", encoding="utf-8")
    (hr / "kids.txt").write_text("子どもの夏休みの宿題。", encoding="utf-8")  # other wordings in other documents
    (hr / "obon.txt").write_text("盆休みは8月13日から。", encoding="utf-8")
    (hr / "pc.txt").write_text("夏期休暇中のPCの持ち出し。", encoding="utf-8")
    plain = HybridIndex.build(hr, tmp_path / "plain", model=FAKE_MODEL)
    config = IndexConfig(tokenizer=TokenizerConfig(synonyms=str(synonyms)))
    expanded = HybridIndex.build(hr, tmp_path / "expanded", config=config, model=FAKE_MODEL)
    before, after = plain.search("夏季休暇の日数", alpha=0)[0], expanded.search("夏季休暇の日数", alpha=0)[0]
    assert Path(after.path).name == Path(before.path).name == "summer.txt"
    # the ceiling counts one wording, not all six at once, so the match scores as it did
    assert after.bm25_norm == pytest.approx(before.bm25_norm) and after.score == pytest.approx(before.score)
    assert after.confidence == pytest.approx(before.confidence)


def test_a_large_table_expands_as_a_small_one(tmp_path: Path) -> None:
    lines = [f"語{n}, 別語{n}" for n in range(20_000)] + ["夏休み, 夏季休暇"]
    (tmp_path / "syn.txt").write_text("\n".join(lines), encoding="utf-8")
    tokenizer = Tokenizer(TokenizerConfig(synonyms=str(tmp_path / "syn.txt")))
    assert tokenizer.expanded_query("夏休みの日程")[1] == ["夏休み", "夏季", "休暇"]


def test_a_phrase_without_a_word_is_left_out_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "syn.txt").write_text("の => 夏季休暇\n夏休み, 夏季休暇\n", encoding="utf-8")
    tokenizer = Tokenizer(TokenizerConfig(synonyms=str(tmp_path / "syn.txt")))
    with caplog.at_level(logging.WARNING, logger="hybridsearch.synonyms"):
        assert tokenizer.expanded_query("東京の天気")[1] == []
    assert "synonym 'の' has no word to look for" in caplog.text
