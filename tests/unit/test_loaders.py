from pathlib import Path

import pytest
from conftest import ROOT

from hybridsearch.config import LoaderConfig
from hybridsearch.errors import InputError
from hybridsearch.loaders import LoadReport, SkipFile, decode_bytes, html_to_text, iter_documents

TEXT = "赤い惑星は火星です。カタカナも「引用」も含む日本語の文章。\n二行目。"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp932", "euc_jp", "iso2022_jp"])
def test_decodes_japanese_encodings(encoding: str) -> None:
    text, _ = decode_bytes(TEXT.encode(encoding))
    assert text == TEXT


def test_short_shift_jis_and_euc_jp_are_told_apart() -> None:
    assert decode_bytes("火星".encode("cp932"))[0] == "火星"
    assert decode_bytes("火星".encode("euc_jp"))[0] == "火星"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (bytes(range(1, 32)) * 40, "binary"),
    ],
)
def test_rejects_empty_and_binary(data: bytes, reason: str) -> None:
    with pytest.raises(SkipFile, match=reason):
        decode_bytes(data)


def test_html_drops_scripts_and_keeps_title() -> None:
    title, text, meta = html_to_text(
        "<html><head><title>題名</title><script>var x='隠す';</script><style>p{}</style></head>"
        "<body><h1>見出し</h1><p>本文&amp;続き</p><!-- comment --></body></html>"
    )
    assert title == "題名"
    assert text == "見出し\n本文&続き" and meta == {}


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_walks_folders_skipping_hidden_and_bad_files(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "a.txt": "日本語の文書".encode("cp932"),
            "sub/b.md": "# 見出し\n本文".encode(),
            ".hidden/c.txt": b"secret",
            "sub/.d.txt": b"secret",
            "empty.txt": b"",
            "image.png": b"\x89PNG",
            "bin.txt": b"\x00\x01\x02abc",
        },
    )
    report = LoadReport()
    warnings: list[str] = []
    docs = list(iter_documents([root], report=report, warn=warnings.append))
    assert [(Path(d.path).name, d.title, d.encoding) for d in docs] == [
        ("a.txt", "", "cp932"),
        ("b.md", "見出し", "utf-8"),
    ]
    assert docs[0].text == "日本語の文書"
    assert sorted(Path(p).name for p, _ in report.skipped_files) == ["bin.txt", "empty.txt"]
    assert len(warnings) == 2 and all(w.startswith("skipped ") for w in warnings)
    assert report.unsupported == {".png": 1}  # counted apart, without a warning
    assert report.files == 5 and report.documents == 2


def test_csv_and_jsonl_records(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "faq.csv": "id,title,body\nq1,休暇,有給の申請方法\nq2,空,\n".encode(),
            "notes.jsonl": '{"_id": "n1", "body": "メモ一"}\nnot json\n{"body": "メモ二"}\n[1, 2]\n'.encode(),
        },
    )
    report = LoadReport()
    warnings: list[str] = []
    docs = list(iter_documents([root], LoaderConfig(text_field="body"), report, warnings.append))
    assert [(d.source.split("/")[-1], d.title, d.text) for d in docs] == [
        ("faq.csv#q1", "休暇", "有給の申請方法"),
        ("notes.jsonl#n1", "", "メモ一"),
        ("notes.jsonl#line-3", "", "メモ二"),
    ]
    assert report.skipped_records == 3
    assert any("faq.csv" in w and "line 3" in w for w in warnings)
    assert any("notes.jsonl" in w and "line 2, 4" in w for w in warnings)


def test_csv_without_text_column_is_skipped(tmp_path: Path) -> None:
    root = _write(tmp_path, {"data.csv": b"name,value\na,1\n"})
    report = LoadReport()
    assert list(iter_documents([root], report=report)) == []
    assert report.skipped_files[0][1] == (
        "no record with a non-empty 'text' field (columns: name, value; name the text column with --text-field); "
        "no 'text' field or not valid CSV (line 2)"
    )


def test_an_excel_faq_csv_is_read_by_its_japanese_headers(tmp_path: Path) -> None:
    header = "番号,質問,回答,カテゴリ,更新日"  # an Excel FAQ saved as CSV: CP932, CRLF
    faq = f"{header}\r\n1,有給休暇の申請方法,勤怠システムから3日前までに申請します。,人事,2024/4/1\r\n"
    root = _write(
        tmp_path, {"faq.csv": faq.encode("cp932"), "notes.jsonl": '{"件名": "会議", "本文": "議事録です。"}\n'.encode()}
    )
    warnings: list[str] = []
    docs = sorted(iter_documents([root], warn=warnings.append), key=lambda document: document.path)
    assert [(d.title, d.text, d.record, d.metadata.get("カテゴリ")) for d in docs] == [
        ("有給休暇の申請方法", "勤怠システムから3日前までに申請します。", "1", "人事"),
        ("会議", "議事録です。", "line-1", None),
    ]
    assert warnings == []  # named columns are taken without a word


def test_without_a_named_text_column_the_longest_is_read_with_a_warning(tmp_path: Path) -> None:
    rows = "コード,メモ,日付\nA1,倉庫の鍵は総務部の金庫に保管しています。,2024-01-01\n"
    root = _write(tmp_path, {"keys.csv": rows.encode()})
    warnings: list[str] = []
    docs = list(iter_documents([root], warn=warnings.append))
    assert [d.text for d in docs] == ["倉庫の鍵は総務部の金庫に保管しています。"]
    assert warnings == [f"{root / 'keys.csv'}: no text column by name; reading 'メモ', its longest "
                        "(columns: コード, メモ, 日付; name it with --text-field)"]  # fmt: skip


def test_a_text_field_given_is_never_guessed_past(tmp_path: Path) -> None:
    root = _write(tmp_path, {"faq.csv": "質問,回答\nQ,長い回答の文章です。\n".encode()})
    report = LoadReport()
    assert list(iter_documents([root], LoaderConfig(text_field="本文"), report=report)) == []
    assert "no record with a non-empty '本文' field (columns: 質問, 回答;" in report.skipped_files[0][1]


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No such file or folder"):
        list(iter_documents([tmp_path / "nope"]))


def test_sample_corpus_legacy_encodings_decode() -> None:
    corpora = ROOT / "corpora" / "everyday"
    docs = {Path(d.path).name: d for d in iter_documents([corpora])}
    assert docs["sakura_sjis.txt"].encoding == "cp932" and "桜前線" in docs["sakura_sjis.txt"].text
    assert docs["onsen_eucjp.txt"].encoding == "euc_jp" and "かけ湯" in docs["onsen_eucjp.txt"].text
