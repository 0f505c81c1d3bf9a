from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FAKE_MODEL, write_files

from hybridsearch.backends.local import LocalBackend
from hybridsearch.cli import cli
from hybridsearch.errors import InputError
from hybridsearch.loaders.ignore import IgnoreRules

#: A file share as teams have them: documents, Office's and Windows' junk, folders nobody searches.
SHARE = {
    "規程/就業規則.txt": "就業規則。始業は9時です。",
    "規程/~$就業規則.docx": "Office lock file",
    "規程/Thumbs.db": "thumbnails",
    "規程/THUMBS.DB": "thumbnails, as an old Windows names them",
    "desktop.ini": "[.ShellClassInfo]",
    "~WRL0001.tmp": "Word's temporary file",
    "ショートカット.lnk": "a Windows shortcut",
    "tools/node_modules/readme.txt": "a package's readme",
    "$RECYCLE.BIN/deleted.txt": "削除された文書",
    "old/2019/旧規程.txt": "古い規程",
    "drafts/下書き.txt": "下書きの文書",
    "drafts/公開.txt": "公開する下書き",
    "backup.bak.txt": "退避したファイル",
    "archive.zip": "PK not really",
    "setup.exe": "MZ not really",
}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def share(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "share", SHARE)
    (root / ".hsearchignore").write_text("# 古い版は検索しない\nold/\n", encoding="utf-8")
    (root / "drafts" / ".hsearchignore").write_text("*.txt\n!公開.txt\n", encoding="utf-8")
    return root


def indexed(index_dir: Path) -> list[str]:
    with closing(LocalBackend.open(index_dir)) as backend:
        return sorted(Path(document.path).name for document in backend.documents())


def test_a_share_with_junk_and_ignore_files_indexes_with_exit_0(share: Path, tmp_path: Path) -> None:
    result = run("index", str(share), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL, "--exclude", "*.bak.*")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr  # junk and unsupported types are not worth a warning each
    summary = result.stderr.splitlines()[-1]
    assert (
        "; not read: 2 file(s) of other types (.exe 1, .zip 1); ignored 8 file(s) and 3 folder(s) (" in summary
    )  # folders left out are not counted
    assert "skipped" not in summary
    assert indexed(tmp_path / "idx") == ["公開.txt", "就業規則.txt"]


def test_a_file_ignored_now_leaves_the_index_and_a_real_skip_still_exits_3(share: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    assert run("index", str(share), "--index", index_dir, "--model", FAKE_MODEL).exit_code == 0
    assert "backup.bak.txt" in indexed(tmp_path / "idx")
    (share / "broken.txt").write_bytes(b"\x00\x01binary")
    result = run("index", str(share), "--index", index_dir, "--exclude", "*.bak.*", "-q")
    assert result.exit_code == 3  # a file that should have been read could not be
    assert "0 added, 0 changed, 1 removed" in result.stderr and "skipped 1 file(s)" in result.stderr
    assert "backup.bak.txt" not in indexed(tmp_path / "idx")


def test_a_bad_ignore_pattern_is_one_line_and_the_index_stays(share: Path, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "idx")
    assert run("index", str(share), "--index", index_dir, "--model", FAKE_MODEL, "-q").exit_code == 0
    before = indexed(tmp_path / "idx")
    (share / "drafts" / ".hsearchignore").write_text("*.txt\n \\\n", encoding="utf-8")
    result = run("index", str(share), "--index", index_dir, "-q")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {share / 'drafts' / '.hsearchignore'} line 2: '\\\\' is not a gitignore pattern.\n"
    assert indexed(tmp_path / "idx") == before
    assert run("index", str(share), "--index", index_dir, "--exclude", " \\", "-q").exit_code == 1


def test_rules_match_as_gitignore_does(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".hsearchignore").write_text("/top.txt\nlogs/\n", encoding="utf-8")
    rules = IgnoreRules(tmp_path, ["*.log", "!keep.log"])
    rules.enter(tmp_path)
    rules.enter(tmp_path / "a")
    assert rules.ignored(tmp_path / "a" / "top.txt") and not rules.ignored(tmp_path / "a" / "b" / "top.txt")
    assert rules.ignored(tmp_path / "a" / "b" / "logs", is_folder=True) and not rules.ignored(tmp_path / "logs")
    assert rules.ignored(tmp_path / "x.log") and not rules.ignored(tmp_path / "keep.log")
    assert rules.ignored(tmp_path / "Desktop.INI") and rules.ignored(tmp_path / "a" / "~$報告.xlsx")
    assert not rules.ignored(tmp_path / "報告.xlsx")
    with pytest.raises(InputError, match="--exclude line 1"):
        IgnoreRules(tmp_path, [" \\"])


def test_the_deepest_rule_decides_as_in_git(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    (tmp_path / ".hsearchignore").write_text("*.txt\n!keep.txt\n", encoding="utf-8")
    (tmp_path / "sub" / ".hsearchignore").write_text("!*.txt\n", encoding="utf-8")
    rules = IgnoreRules(tmp_path)
    rules.enter(tmp_path)
    rules.enter(tmp_path / "sub")
    assert rules.ignored(tmp_path / "a.txt") and not rules.ignored(tmp_path / "keep.txt")
    assert not rules.ignored(tmp_path / "sub" / "b.txt") and not rules.ignored(tmp_path / "sub" / "deep" / "c.txt")


def test_the_rules_of_folders_above_apply_when_a_subfolder_is_indexed(share: Path) -> None:
    (share / "old" / "2019" / "note.md").write_text("古い", encoding="utf-8")
    rules = IgnoreRules(share / "old" / "2019")  # the share's .hsearchignore leaves old/ out
    assert rules.ignored(share / "old" / "2019" / "note.md")


@pytest.mark.parametrize("pattern", ["old\\*.txt", "総務\\規程", "sub\\deep\\"])
def test_a_windows_path_is_an_error_that_shows_the_pattern_to_write(tmp_path: Path, pattern: str) -> None:
    with pytest.raises(InputError, match="--exclude line 1: write folders with '/' \\('.*/.*', not"):
        IgnoreRules(tmp_path, [pattern])
