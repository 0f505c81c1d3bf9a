from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FAKE_MODEL

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.config import TokenizerConfig
from hybridsearch.errors import IndexAccessError, InputError
from hybridsearch.tokenization import PARALLEL_MIN_TEXTS, Tokenizer, count_terms
from hybridsearch.userdict import parse_user_dictionary, read_user_dictionary

COMPANY = (
    "# 社内システム\n経費ナビ\n経費精算システム,経費精算 システム,ケイヒセイサン システム,カスタム名詞\nＡＩ窓口\n"
)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(autouse=True)
def own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Compiled dictionaries go to this test's cache, not the user's."""
    monkeypatch.setenv("HSEARCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_kuromoji_format_reads_words_segmentations_and_readings() -> None:
    assert parse_user_dictionary(COMPANY) == (
        ("経費ナビ", "経費ナビ", "経費ナビ"),
        ("経費精算システム", "ケイヒセイサンシステム", "経費精算", "システム"),
        ("ai窓口", "ai窓口", "ai窓口"),  # normalised as documents are: full-width to ASCII, lower case
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("経費 ナビ", "a word must be one run of characters without spaces"),
        ("経費精算システム,経費 システム", "the segmentation '経費 システム' must spell '経費精算システム'"),
    ],
)
def test_a_bad_line_is_named_with_its_number(line: str, problem: str) -> None:
    with pytest.raises(InputError, match=f"^user.csv line 2: {problem}"):
        parse_user_dictionary(f"経費ナビ\n{line}\n", "user.csv")


def test_an_unclosed_quote_is_an_error_not_a_word_of_many_lines() -> None:
    with pytest.raises(InputError, match="^user.csv line 2: not a CSV line"):
        parse_user_dictionary('経費ナビ\n"勤怠ネット\nＴｅａｍｓ会議\n', "user.csv")


def test_an_unwritable_cache_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("HSEARCH_CACHE", str(tmp_path / "afile" / "cache"))
    with pytest.raises(IndexAccessError, match="Cannot write the compiled user dictionary .*set HSEARCH_CACHE"):
        Tokenizer(TokenizerConfig(user_dictionary=parse_user_dictionary("経費ナビ\n")))


def test_a_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "user.csv").write_bytes("経費ナビ\n".encode("cp932"))
    with pytest.raises(InputError, match="is not UTF-8"):
        read_user_dictionary(tmp_path / "user.csv")


def test_mecab_keeps_a_user_word_whole_and_bm25_takes_its_segmentation(own_cache: Path) -> None:
    plain, company = Tokenizer(), Tokenizer(TokenizerConfig(user_dictionary=parse_user_dictionary(COMPANY)))
    assert plain.document_terms("経費ナビで申請") == ["経費", "ナビ", "申請", "経費 ナビ", "ナビ 申請"]
    assert company.document_terms("経費ナビで申請") == ["経費ナビ", "申請", "経費ナビ 申請"]
    # a segmentation's parts are read as the tokenizer reads them: a query of one part alone matches
    assert company.document_terms("経費精算システムの使い方")[:3] == ["経費", "精算", "システム"]
    assert set(company.query_terms("経費精算")) <= set(company.document_terms("経費精算システムの使い方"))
    assert company.document_terms("ＡＩ窓口に聞く")[0] == "ai窓口"
    assert company.document_terms("mailで送る")[0] == "mail"  # a user word never splits a longer one apart
    assert len(list(own_cache.glob("user-dictionaries/*.dic"))) == 1  # compiled once, into the cache


def test_worker_processes_read_with_the_user_dictionary() -> None:
    config = TokenizerConfig(user_dictionary=parse_user_dictionary(COMPANY))
    texts = ["経費ナビで申請する。"] * PARALLEL_MIN_TEXTS
    counted = count_terms(texts, config)
    assert len(counted) == len(texts) and all(counts == counted[0] for counts in counted)
    assert counted[0] == {"経費ナビ": 1, "申請": 1, "為る": 1, "経費ナビ 申請": 1, "申請 為る": 1}


def test_a_user_dictionary_changes_hits_after_a_rebuild(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "navi.txt").write_text("経費ナビには社員番号でログインします。", encoding="utf-8")
    (docs / "deadline.txt").write_text("経費精算は毎月25日締めです。", encoding="utf-8")
    (tmp_path / "user.csv").write_text("経費ナビ\n", encoding="utf-8")
    index_dir = str(tmp_path / "idx")
    assert run("index", str(docs), "--index", index_dir, "--model", FAKE_MODEL, "-q").exit_code == 0

    def matched() -> list[str]:
        with HybridIndex.open(index_dir) as index:
            return sorted(Path(hit.path).name for hit in index.search("経費ナビ", alpha=0) if hit.bm25 > 0)

    assert matched() == ["deadline.txt", "navi.txt"]  # 経費 alone matches the deadline
    refused = run("index", str(docs), "--index", index_dir, "--user-dictionary", str(tmp_path / "user.csv"), "-q")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
    assert "tokenizer.user_dictionary: () → (('経費ナビ', '経費ナビ', '経費ナビ'),)" in refused.stderr
    assert "--rebuild" in refused.stderr
    rebuilt = run(
        "index", str(docs), "--index", index_dir, "--user-dictionary", str(tmp_path / "user.csv"), "--rebuild", "-q"
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    assert matched() == ["navi.txt"]
    assert "user words:    1\n" in run("info", "--index", index_dir).stdout
    (tmp_path / "bad.csv").write_text("経費 ナビ\n", encoding="utf-8")
    bad = run("index", str(docs), "--index", index_dir, "--user-dictionary", str(tmp_path / "bad.csv"), "--rebuild")
    assert bad.exit_code == 1
    assert bad.stderr == f"Error: {tmp_path / 'bad.csv'} line 1: a word must be one run of characters without spaces.\n"
    assert matched() == ["navi.txt"]
