"""Old Office files (.doc, .xls, .ppt) for real: made here by LibreOffice from the modern files the
other tests write, indexed through `hsearch index` and found with their locations; damaged,
password-protected and slow ones are skipped with a reason, and no conversion leaves anything behind."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL
from office_files import write_bold_articles_docx, write_pptx, write_xlsx

from hybridsearch.cli import cli
from hybridsearch.config import LoaderConfig
from hybridsearch.loaders import SkipFile
from hybridsearch.loaders.base import LoadContext
from hybridsearch.loaders.legacy import LIBREOFFICE_PACKAGES, convert, encrypted, find_soffice

SOFFICE = find_soffice()
pytestmark = pytest.mark.skipif(
    SOFFICE is None, reason=f"needs LibreOffice (soffice): apt install {LIBREOFFICE_PACKAGES}"
)

RULES = [
    "就業規則",
    "第1章 総則",
    "第1条（目的）この規程は、社員の就業に関する事項を定める。",
    "第3章 休暇",
    "第20条 年次有給休暇",
    "入社6か月後に10日の年次有給休暇を付与する。",
    "第21条（慶弔休暇）社員が結婚したときは、慶弔休暇を5日与える。",
]
SALES = {
    "売上": [["月", "地域", "金額"], ["4月", "東京", 1200000], ["5月", "大阪", 980000]],
    "経費": [["費目", "金額"], ["交通費", 45000], ["研修費", 230000]],
}
DECK = [
    ("事業計画", ["新製品を三つ投入する"], ""),
    ("体制", ["新しい品質保証室を設置する"], "質疑では採用計画について聞かれる想定。"),
]


@pytest.fixture(scope="module")
def legacy_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """規程.doc, 売上.xls and 計画.ppt as LibreOffice saves them (three conversions, once per module)."""
    modern = tmp_path_factory.mktemp("modern")
    write_bold_articles_docx(modern / "規程.docx", RULES)
    write_xlsx(modern / "売上.xlsx", SALES)
    write_pptx(modern / "計画.pptx", DECK)
    old = tmp_path_factory.mktemp("old")
    profile = (tmp_path_factory.mktemp("profile")).as_uri()
    for source, target in (("規程.docx", "doc"), ("売上.xlsx", "xls"), ("計画.pptx", "ppt")):
        subprocess.run(
            [str(SOFFICE), f"-env:UserInstallation={profile}", "--headless", "--norestore", "--convert-to", target,
             "--outdir", str(old), str(modern / source)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    return {path.name: path.read_bytes() for path in sorted(old.iterdir())}


@pytest.fixture(scope="module")
def legacy_index(legacy_files: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Path:
    share = tmp_path_factory.mktemp("share")
    for name, data in legacy_files.items():
        (share / name).write_bytes(data)
    index_dir = share.parent / f"{share.name}-idx"
    built = CliRunner().invoke(
        cli, ["index", str(share), "--index", str(index_dir), "--model", FAKE_MODEL, "--chunk-size", "40",
              "--chunk-overlap", "0"],
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    assert "3 added" in built.stderr and "skipped" not in built.stderr
    return index_dir


def _hit(index_dir: Path, text: str) -> dict:
    result = CliRunner().invoke(cli, ["query", text, "--index", str(index_dir), "-k", "1", "--json", "--alpha", "0"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hits"][0]


def test_a_doc_hit_names_its_article(legacy_index: Path) -> None:
    hit = _hit(legacy_index, "結婚したときの慶弔休暇")
    assert hit["path"].endswith("規程.doc") and hit["metadata"]["type"] == "doc"
    assert hit["location"]["label"] == "第3章 休暇 > 第21条（慶弔休暇）"


def test_an_xls_hit_names_its_sheet_and_cells(legacy_index: Path) -> None:
    hit = _hit(legacy_index, "研修費")
    assert hit["path"].endswith("売上.xls") and hit["metadata"]["type"] == "xls"
    assert hit["location"]["sheet"] == "経費" and hit["location"]["label"].startswith("経費!A")


def test_a_ppt_hit_names_its_slide(legacy_index: Path) -> None:
    hit = _hit(legacy_index, "採用計画")
    assert hit["path"].endswith("計画.ppt") and hit["metadata"]["type"] == "ppt"
    assert hit["location"]["label"] == "slide 2, notes"


def test_damaged_and_password_protected_files_are_skipped_with_a_reason(
    legacy_files: dict[str, bytes], tmp_path: Path
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "規程.doc").write_bytes(legacy_files["規程.doc"])
    (share / "壊れた.doc").write_bytes(legacy_files["規程.doc"][:512] + bytes(range(256)) * 40)
    (share / "鍵付き.doc").write_bytes(_locked_doc(legacy_files["規程.doc"]))
    (share / "鍵付き.xls").write_bytes(_locked_xls(legacy_files["売上.xls"]))
    built = CliRunner().invoke(cli, ["index", str(share), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL])
    assert built.exit_code == 3, built.output
    assert "1 added" in built.stderr and "skipped 3 file(s)" in built.stderr
    warnings = [line for line in built.stderr.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == 3, built.stderr
    damaged = next(line for line in warnings if "壊れた.doc" in line)
    assert "LibreOffice could not convert it" in damaged and "not a Word 97–2003 document" in damaged
    assert all("encrypted (password protected); not indexed" in line for line in warnings if "鍵付き" in line)


def test_a_ppt_marked_encrypted_is_recognised(legacy_files: dict[str, bytes]) -> None:
    deck = legacy_files["計画.ppt"]
    at = deck.find(b"\x00\x00\xf6\x0f")  # the CurrentUserAtom; its token at +12 says whether the deck is encrypted
    assert deck[at + 12 : at + 16] == b"\x5f\xc0\x91\xe3" and not encrypted(deck)
    assert encrypted(deck[: at + 12] + b"\xdf\xc4\xd1\xf3" + deck[at + 16 :])


def test_a_conversion_past_the_time_limit_is_killed_and_cleaned_up(legacy_files: dict[str, bytes]) -> None:
    before = set(Path(tempfile.gettempdir()).glob("hsearch-legacy-*"))
    context = LoadContext(LoaderConfig(max_file_seconds=0.3), lambda message: None)
    with pytest.raises(SkipFile, match=r"LibreOffice took over 0.3 s to convert it .*--max-file-seconds"):
        convert(legacy_files["規程.doc"], ".doc", context, str(SOFFICE))
    assert set(Path(tempfile.gettempdir()).glob("hsearch-legacy-*")) == before
    deadline = time.monotonic() + 5  # SIGKILL is delivered at once; the process ends a moment later
    while _running("soffice", "hsearch-legacy-") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running("soffice", "hsearch-legacy-")


def test_two_conversions_at_once_each_have_their_own_profile(legacy_files: dict[str, bytes]) -> None:
    results: dict[str, bytes] = {}

    def run(name: str, suffix: str) -> None:
        results[name] = convert(legacy_files[name], suffix, LoadContext(LoaderConfig(), print), str(SOFFICE))

    threads = [threading.Thread(target=run, args=item) for item in (("規程.doc", ".doc"), ("売上.xls", ".xls"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["売上.xls", "規程.doc"] and all(data.startswith(b"PK") for data in results.values())


def _locked_doc(doc: bytes) -> bytes:
    """`doc` with its FIB's fEncrypted flag set (the WordDocument stream opens a sector with 0xA5EC)."""
    at = next(i for i in range(512, len(doc), 512) if doc[i : i + 2] == b"\xec\xa5")
    return doc[: at + 11] + bytes([doc[at + 11] | 0x01]) + doc[at + 12 :]


def _locked_xls(xls: bytes) -> bytes:
    """`xls` with the record after its first BOF turned into FILEPASS (an encryption LibreOffice cannot open)."""
    at = next(i for i in range(512, len(xls), 512) if xls[i : i + 2] == b"\x09\x08")
    after = at + 4 + int.from_bytes(xls[at + 2 : at + 4], "little")
    return xls[:after] + b"\x2f\x00" + xls[after + 2 :]


def _running(*words: str) -> bool:
    """Whether a live (not zombie) process has all of `words` on its command line."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().decode("utf-8", "replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and all(word in command for word in words):
            return True
    return False
