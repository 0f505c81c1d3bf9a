"""Old Office files (.doc, .xls, .ppt) where LibreOffice is not installed: counted with the types
no loader reads, one warning per run naming the packages to install; a .docx under an old name is
read as it is. (The files converted for real: tests/integration/test_legacy_office.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL
from office_files import write_bold_articles_docx

from hybridsearch.cli import cli
from hybridsearch.loaders import iter_documents, legacy
from hybridsearch.loaders.legacy import LIBREOFFICE_PACKAGES, encrypted
from hybridsearch.loaders.sniff import mismatch

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@pytest.fixture
def no_libreoffice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH without soffice (and none where the macOS and Windows installers put it)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(legacy, "_KNOWN_PLACES", ())
    assert legacy.find_soffice() is None


def test_without_libreoffice_old_files_are_counted_as_not_read_with_one_warning(
    no_libreoffice: None, tmp_path: Path
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "案内.txt").write_text("受付は九時から五時までです。", encoding="utf-8")
    for name in ("規程.doc", "旧規程.doc", "売上.xls", "計画.ppt"):
        (share / name).write_bytes(OLE + bytes(2048))
    runner = CliRunner()
    for _ in range(2):  # each run says it once
        built = runner.invoke(cli, ["index", str(share), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL])
        assert built.exit_code == 0, built.output
        warnings = [line for line in built.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and f"apt install {LIBREOFFICE_PACKAGES}" in warnings[0], built.stderr
        assert "needs LibreOffice, which is not installed" in warnings[0]
        assert "not read: 4 file(s) of other types (.doc 2, .ppt 1, .xls 1)" in built.stderr
        assert "skipped" not in built.stderr


def test_a_doc_that_is_really_a_docx_needs_no_libreoffice(no_libreoffice: None, tmp_path: Path) -> None:
    write_bold_articles_docx(tmp_path / "規程.doc", ["第1条（目的）この規程は、社員の就業に関する事項を定める。"])
    (document,) = iter_documents([tmp_path / "規程.doc"])
    assert document.metadata["type"] == "doc" and "就業に関する事項" in document.text
    assert document.regions[-1].place["heading"] == ["第1条（目的）"]


@pytest.mark.parametrize("suffix", [".doc", ".xls", ".ppt"])
def test_an_old_office_file_may_be_a_compound_file_or_a_package_not_a_pdf(suffix: str) -> None:
    assert mismatch(OLE + bytes(600), suffix) == ""
    assert mismatch(b"PK\x03\x04" + bytes(100), suffix) == ""
    assert mismatch(b"{\\rtf1\\ansi ...}", suffix) == ""  # Word's RTF and HTML files named .doc are text
    assert mismatch(b"%PDF-1.7\n", suffix) == f"its content is a PDF document, not a {suffix} file; not indexed"


@pytest.mark.parametrize(
    "data",
    [b"", OLE, OLE + b"\xff" * 600, OLE + bytes(range(256)) * 40, b"PK\x03\x04" + bytes(600)],
    ids=["empty", "header only", "all ones", "noise", "zip"],
)
def test_a_damaged_compound_file_is_not_taken_for_an_encrypted_one(data: bytes) -> None:
    assert encrypted(data) is False


def test_text_or_random_bytes_under_an_old_name_never_reach_libreoffice(tmp_path: Path) -> None:
    """HTML named .doc may make LibreOffice fetch its stylesheet link; random bytes come back garbled."""
    (tmp_path / "page.doc").write_text(
        '<html><head><link rel="stylesheet" href="http://127.0.0.1:9/beacon.css"></head><body>社内規程</body></html>',
        encoding="utf-8",
    )
    (tmp_path / "noise.xls").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "table.xls").write_text("番号,質問\n1,休暇\n", encoding="utf-8")
    skipped: list[str] = []
    documents = list(iter_documents([tmp_path], warn=skipped.append))
    assert documents == [] and len(skipped) == 3
    assert all("not an Office 97–2003" in message for message in skipped), skipped
