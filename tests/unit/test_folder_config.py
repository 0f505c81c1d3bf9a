"""hsearch.toml: a file share's rules (columns per file, metadata defaults, links, include/exclude,
the threshold) read from the folder, checked, and applied by `hsearch index`."""

import json
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FAKE_MODEL, write_files

from hybridsearch import HybridIndex, SearchRequest
from hybridsearch.backends.local import LocalBackend
from hybridsearch.cli import cli
from hybridsearch.errors import InputError
from hybridsearch.loaders.folder_config import FolderConfig

#: An FAQ exported from Excel (Shift_JIS, its own headers), a second FAQ with other columns, a 規程
#: with its own front matter, and a draft nobody should find.
EXCEL_FAQ = (
    "番号,質問,回答,カテゴリ,更新日\r\n"
    "1,夏休みは何日取れますか,夏季休暇は7月から9月の間に連続5日まで取得できます。,休暇,2026-04-01\r\n"
)
OTHER_FAQ = "No,問い合わせ,対応内容\r\n7,経費の締め日,経費精算は毎月5日に締めます。翌月の支払いになります。\r\n"
CONFIG = """
exclude = ["下書き/"]
threshold = 0.3

[links]
"." = "https://share.example.jp/総務/"
"人事" = "file://hr-server/人事/"

[[files]]
match = "FAQ/*.csv"
title = "質問"
id = "番号"
metadata = { "部署" = "総務", "種別" = "FAQ" }

[[files]]
match = "規程/"
metadata = { "部署" = "総務", "種別" = "規程" }

[[files]]
match = "FAQ/経費.csv"
text = "対応内容"
title = "問い合わせ"
id = "No"
metadata = { "部署" = "経理" }
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def share(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "share", {
        "規程/慶弔休暇.md": "---\n部署: 人事部\n---\n# 慶弔休暇\n\n結婚したときは5日間の特別休暇を取得できます。\n",
        "人事/評価制度.txt": "人事評価は年2回、4月と10月に行います。",
        "下書き/メモ.txt": "これは公開前の下書きです。",
        "hsearch.toml": CONFIG,
    })  # fmt: skip
    (root / "FAQ").mkdir()
    (root / "FAQ" / "休暇.csv").write_bytes(EXCEL_FAQ.encode("cp932"))
    (root / "FAQ" / "経費.csv").write_bytes(OTHER_FAQ.encode("cp932"))
    return root


def documents(index_dir: Path) -> dict[str, dict[str, object]]:
    with closing(LocalBackend.open(index_dir)) as backend:
        return {Path(d.path).name + (f"#{d.record}" if d.record else ""): dict(d.metadata) for d in backend.documents()}


def test_a_share_is_read_as_its_config_says(share: Path, tmp_path: Path) -> None:
    result = run("index", str(share), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr  # no column guessed: the config names them
    found = documents(tmp_path / "idx")
    assert sorted(found) == ["休暇.csv#1", "慶弔休暇.md", "経費.csv#7", "評価制度.txt"]  # no draft, no hsearch.toml
    leave, expenses = found["休暇.csv#1"], found["経費.csv#7"]
    assert leave["title"] == "夏休みは何日取れますか" and leave["部署"] == "総務" and leave["種別"] == "FAQ"
    assert (
        expenses["title"] == "経費の締め日" and expenses["部署"] == "経理" and expenses["種別"] == "FAQ"
    )  # later wins
    assert found["慶弔休暇.md"]["部署"] == "人事部" and found["慶弔休暇.md"]["種別"] == "規程"  # its own field wins
    assert leave["link"] == "https://share.example.jp/総務/FAQ/%E4%BC%91%E6%9A%87.csv"
    assert found["評価制度.txt"]["link"] == "file://hr-server/人事/%E8%A9%95%E4%BE%A1%E5%88%B6%E5%BA%A6.txt"

    with HybridIndex.open(tmp_path / "idx") as index:
        response = index.respond(SearchRequest("経費の締め日はいつ", k=2))
        assert response.hits[0].metadata["link"] == "https://share.example.jp/総務/FAQ/%E7%B5%8C%E8%B2%BB.csv"
        assert "5日に締めます" in response.hits[0].text
        assert index.config.min_confidence == 0.3  # the config's threshold is the index's
    query = run("query", "経費の締め日はいつ", "--index", str(tmp_path / "idx"), "--json", "-k", "1")
    assert json.loads(query.output)["hits"][0]["metadata"]["link"].startswith("https://share.example.jp/")


def test_a_changed_rule_re_reads_the_files_it_covers(share: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    assert run("index", str(share), "--index", index_dir, "--model", FAKE_MODEL).exit_code == 0
    config = share / "hsearch.toml"
    config.write_text(CONFIG.replace('"部署" = "経理"', '"部署" = "経理部"'), encoding="utf-8")
    result = run("index", str(share), "--index", index_dir)
    assert result.exit_code == 0, result.output
    assert "0 added, 1 changed, 0 removed, 3 unchanged" in result.stderr  # only the file whose rules changed
    assert documents(tmp_path / "idx")["経費.csv#7"]["部署"] == "経理部"

    config.write_text(CONFIG.replace('exclude = ["下書き/"]', 'include = ["FAQ/"]'), encoding="utf-8")
    result = run("index", str(share), "--index", index_dir)
    assert result.exit_code == 0, result.output
    assert sorted(documents(tmp_path / "idx")) == ["休暇.csv#1", "経費.csv#7"]  # only what include names


def test_config_names_a_file_elsewhere(share: Path, tmp_path: Path) -> None:
    (share / "hsearch.toml").unlink()
    elsewhere = tmp_path / "rules.toml"
    elsewhere.write_text(
        'exclude = ["規程/", "人事/", "下書き/"]\n[links]\n"." = "https://x.example/"\n', encoding="utf-8"
    )
    result = run(
        "index", str(share), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL, "--config", str(elsewhere)
    )
    assert result.exit_code == 0, result.output
    found = documents(tmp_path / "idx")
    assert sorted(found) == ["休暇.csv#1", "経費.csv#7"]
    assert found["経費.csv#7"]["link"] == "https://x.example/FAQ/%E7%B5%8C%E8%B2%BB.csv"
    missing = run("index", str(share), "--index", str(tmp_path / "idx"), "--config", str(tmp_path / "none.toml"))
    assert missing.exit_code == 1 and "No such config file" in missing.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('exclud = ["x"]', "unknown key 'exclud' (known: include, exclude, threshold, links, readers, files)"),
        ('[readers]\n"人事/**" = "group:jinji"', "[readers] '人事/**' must be a list of"),
        ('[readers]\n"人事/**" = ["jinji"]', "[readers] '人事/**' must be a list of"),
        ('[readers]\n"" = ["everyone"]', "is no pattern (blank, or a comment)"),
        ("readers = 3", "[readers] must be a table"),
        ('[[files]]\nmatch = "*.csv"\nmetadata = { readers = ["everyone"] }', "say who may read files in [readers]"),
        ("threshold = 2", "threshold must be a number from 0 to 1 (got 2)"),
        ("threshold = true", "threshold must be a number from 0 to 1"),
        ('[[files]]\nmatch = "*.csv"\n部署 = "総務"', 'a key in Japanese needs quotes: "部署" = "総務"'),
        ('[[files]]\nmatch = "*.csv"\ntxt = "本文"', "[[files]] #1: unknown key 'txt'"),
        ('[[files]]\ntext = "本文"', 'say which files it is for, e.g. match = "FAQ/*.csv"'),
        ('[[files]]\nmatch = "*.csv"\ntext = 3', "text must be a column name (got 3)"),
        ('[[files]]\nmatch = "*.csv"\nmetadata = { path = "x" }', "metadata 'path' is a built-in field"),
        ('[[files]]\nmatch = "*.csv"\nmetadata = { "x" = { "y" = 1 } }', "metadata 'x' must be text, a number"),
        ('exclude = ["old\\\\*.txt"]', "write folders with '/' ('old/*.txt'"),
        ('[links]\n"." = "javascript:alert(1)"', "must be an address starting with http://, https://, file://"),
        ('[links]\n"../other" = "https://x.example/"', "name a folder inside this one"),
        ("files = 3", "write file rules as [[files]] blocks"),
        ('include = [""]', "is no pattern (blank, or a comment)"),
        ('include = "# 規程/"', "is no pattern (blank, or a comment)"),
        ("[[files]]\nmatch = []", "match names no files"),
        ('[links]\n"/etc" = "https://x.example/"', "name a folder inside this one"),
        ('[links]\n"C:\\\\x" = "https://x.example/"', "name a folder inside this one"),
        ('[links]\n"." = "https://"', "must be an address starting with"),
        ('[links]\n"." = "https://x.example/"\n"./" = "https://y.example/"', "has an address already"),
    ],
)
def test_a_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    root = write_files(tmp_path / "share", {"a.txt": "本文です。", "hsearch.toml": text})
    with pytest.raises(InputError, match="hsearch.toml") as error:
        FolderConfig.read(root / "hsearch.toml", root)
    assert message in str(error.value)
    result = run("index", str(root), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "idx").exists() or not any((tmp_path / "idx").glob("gen-*"))  # nothing written


def test_two_folders_with_different_thresholds_are_an_error(tmp_path: Path) -> None:
    one = write_files(tmp_path / "one", {"a.txt": "一つ目の文書です。", "hsearch.toml": "threshold = 0.2"})
    two = write_files(tmp_path / "two", {"b.txt": "二つ目の文書です。", "hsearch.toml": "threshold = 0.5"})
    result = run("index", str(one), str(two), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL)
    assert result.exit_code == 1 and "set different thresholds (0.2 in" in result.output


def test_links_come_from_the_deepest_folder_that_has_one(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    config = FolderConfig._parse(
        {"links": {".": "https://a.example/root", "人事/評価": "https://hr.example/"}}, "hsearch.toml", root
    )
    assert (
        config.rules(root / "人事" / "評価" / "2026 年度.txt").link
        == "https://hr.example/2026%20%E5%B9%B4%E5%BA%A6.txt"
    )
    assert (
        config.rules(root / "人事" / "規程.txt").link
        == "https://a.example/root/%E4%BA%BA%E4%BA%8B/%E8%A6%8F%E7%A8%8B.txt"
    )
    assert FolderConfig(root=root).rules(root / "a.txt").link is None


def test_a_documents_own_link_field_is_never_its_link(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "share", {"a.md": "---\nlink: https://evil.example/login\n---\n# 案内\n\n本文です。\n"}
    )
    result = run("index", str(root), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL)
    assert result.exit_code == 0 and "its field 'link' is stored as 'link_'" in result.stderr
    (metadata,) = documents(tmp_path / "idx").values()
    assert "link" not in metadata and metadata["link_"] == "https://evil.example/login"


def test_a_subfolder_or_a_file_indexed_alone_follows_its_shares_rules(share: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    assert run("index", str(share), "--index", index_dir, "--model", FAKE_MODEL).exit_code == 0
    again = run("index", str(share / "FAQ" / "休暇.csv"), "--index", index_dir)
    assert again.exit_code == 0 and "0 added, 0 changed" in again.stderr  # the same rules: nothing to re-read
    assert documents(tmp_path / "idx")["休暇.csv#1"]["部署"] == "総務"
    alone = run("index", str(share), "--index", str(tmp_path / "sub"), "--model", FAKE_MODEL)
    assert alone.exit_code == 0
    drafts = run("index", str(share / "下書き"), str(share / "FAQ"), "--index", str(tmp_path / "sub"))
    assert drafts.exit_code == 0, drafts.output  # 下書き/ is excluded by the share's hsearch.toml
    assert not any(name.startswith("メモ") for name in documents(tmp_path / "sub"))


def test_a_threshold_in_the_config_says_when_it_replaces_the_indexs(share: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    assert run("index", str(share), "--index", index_dir, "--model", FAKE_MODEL).exit_code == 0
    (share / "hsearch.toml").write_text(CONFIG.replace("threshold = 0.3", "threshold = 0.5"), encoding="utf-8")
    result = run("index", str(share), "--index", index_dir)
    assert result.exit_code == 0 and "the threshold 0.5 of hsearch.toml replaces the index's 0.3" in result.stderr
    with HybridIndex.open(index_dir) as index:
        assert index.config.min_confidence == 0.5
    assert "threshold:     0.5 (set for this index)" in run("info", "--index", index_dir).stdout
