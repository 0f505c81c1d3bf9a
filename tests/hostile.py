"""A generated folder of hostile input: files that must be skipped with a reason, files that must be
read in part or in spite of their oddities, and good files that must still be indexed."""

from __future__ import annotations

import codecs
import gzip
import json
import os
import random
import re
import zipfile
from pathlib import Path

from office_files import write_docx, write_pdf, write_xlsx, write_zip_bomb

JAPANESE = "日本語の文章です。火星は赤い惑星と呼ばれる。" * 20

#: file → fragment of the reason it is skipped for
SKIPPED = {
    "empty.txt": "empty file",
    "whitespace.txt": "empty file",
    "bom_only.txt": "no text",
    "nul_bytes.txt": "binary file (contains NUL bytes)",
    "png_named.txt": "its content is a PNG image, not a .txt file",
    "random.md": "binary file",
    "controls.txt": "binary file",
    "bells.md": "binary file",
    "elf.txt": "its content is an executable (ELF), not a .txt file",
    "mixed_encodings.txt": "undecodable",
    "utf16_lone_surrogate.txt": "undecodable despite its utf-16 byte-order mark",
    "big.txt": "too large (100 MB > 50 MB); raise --max-file-mb to index it",
    "fifo.txt": "not a regular file (a FIFO, socket or device)",
    "only_script.html": "no text",
    "empty_body.html": "no text",
    "no_text_column.csv": "no record with a non-empty 'text' field",
    "header_only.csv": "no record with a non-empty 'text' field",
    "huge_field.csv": "malformed CSV after line 1 (field larger than field limit",
    "all_bad.jsonl": "no record with a non-empty 'text' field",
    "empty_text.jsonl": "no record with a non-empty 'text' field",
    "report.docx": "damaged or truncated .docx file (",
    "encrypted.pdf": "encrypted PDF (password protected); not indexed",
    "scanned.pdf": "no text found; scanned PDF? OCR is not run",
    "truncated.pdf": "unreadable PDF (",
    "text_named.pdf": "not a PDF (no %PDF- header)",
    "bomb.docx": "a zip bomb? word/document.xml would inflate",
    "bomb.xlsx": "a zip bomb? xl/worksheets/sheet1.xml would inflate",
    "encrypted.xlsx": "encrypted (password protected) or legacy binary Office file, not a .xlsx package",
    "sheet_named.docx": "not a .docx file (a zip package without word/document.xml)",
    "pdf_named.pptx": "its content is a PDF document, not a .pptx file",
    "truncated.docx": "damaged or truncated .docx file (",
    "bad_xml.docx": "damaged .docx file (",
    "empty_sheets.xlsx": "no text (every sheet is empty)",
    "pdf_named.md": "its content is a PDF document, not a .md file",
    "word_named.txt": "its content is a zip package (an Office file or an archive), not a .txt file",
    "program_named.html": "its content is an executable (Windows), not a .html file",
    "gzip_named.csv": "its content is a gzip archive, not a .csv file",
}
#: files of types no loader reads: counted in the summary, by suffix, without a warning each
UNSUPPORTED = ("image.png", "archive.zip", "Makefile", "manifest.json")
#: file → fragment of the warning it gets while still being indexed (in part)
PARTIAL = {
    "some_bad_rows.csv": "skipped 2 record(s)",
    "some_bad_lines.jsonl": "skipped 2 record(s)",
    "corrupt_utf8.txt": "read as utf-8, ",
    "truncated_sjis.txt": "read as cp932, 1 corrupt byte sequence(s) replaced",
    "half_scanned.pdf": "1 of 2 pages have no text layer (scanned?)",
}
#: file → a query that must find it
GOOD = {
    "long_line.txt": "ほっけ",
    "emoji_rare.txt": "𩸽",
    "scripts.html": "見える本文",
    "broken_tags.html": "閉じていないタグ",
    "crlf.txt": "改行コード",
    "名前 with spaces & 'quotes'.txt": "変わった名前",
    "UPPER.TXT": "大文字の拡張子",
    "deep/a/b/c/d/e/deep.md": "深い階層",
    "bad_xref.pdf": "相互参照表",
    "owner_password.pdf": "所有者パスワード",
    "indented.xlsx": "粗大ごみ",
}


def make_hostile_folder(root: Path) -> Path:
    """Write the hostile folder under `root` and return it."""
    rng = random.Random(0)
    files: dict[str, bytes] = {
        "empty.txt": b"",
        "whitespace.txt": b"  \n\t \r\n ",
        "bom_only.txt": codecs.BOM_UTF8 + b"  \n",
        "nul_bytes.txt": b"abc\x00def" * 10,
        "png_named.txt": b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(1, 256) for _ in range(200)) + b"\x00",
        "random.md": bytes(rng.randrange(0, 256) for _ in range(8192)),
        "controls.txt": bytes(range(1, 9)) * 500,
        "bells.md": ("ベル\x07" * 300).encode(),
        "elf.txt": b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64,
        "mixed_encodings.txt": JAPANESE.encode() + JAPANESE.encode("cp932"),
        "utf16_lone_surrogate.txt": codecs.BOM_UTF16_LE + "火星".encode("utf-16-le") + b"\x00\xd8",
        "only_script.html": b"<html><script>var hidden = '\xe9\x9a\xa0\xe3\x81\x99';</script></html>",
        "empty_body.html": b"<html><head><title></title></head><body>  </body></html>",
        "no_text_column.csv": "name,value\n火星,4\n".encode(),
        "header_only.csv": b"id,text\n",
        "huge_field.csv": b"id,text\n1," + "あ".encode() * 140_000 + b"\n",
        "all_bad.jsonl": b'not json\n[1, 2]\n{"count": 3}\n',
        "empty_text.jsonl": b'{"text": ""}\n{"text": "   "}\n',
        "image.png": b"\x89PNG\r\n\x1a\n",
        "archive.zip": b"PK\x03\x04",
        "report.docx": b"PK\x03\x04",
        "Makefile": b"all:\n\techo hi\n",
        "some_bad_rows.csv": "id,text\n1,有効な行です\n2,\n3,もう一つの有効な行\n4,\n".encode(),
        "some_bad_lines.jsonl": '{"id": "a", "text": "良い行"}\n{broken\n{"id": "b", "text": "もう一つ"}\n7\n'.encode(),
        "corrupt_utf8.txt": JAPANESE.encode()[:200] + b"\xff\xfe" + JAPANESE.encode()[200:],
        "truncated_sjis.txt": JAPANESE.encode("cp932")[:-1],
        "long_line.txt": ("ほっけ" + "あいうえおかきくけこ" * 5000).encode(),
        "emoji_rare.txt": "𠮷野家の🍣と𩸽（ほっけ）定食。😀👨‍👩‍👧 絵文字と珍しい漢字。".encode(),
        "scripts.html": "<p>見える本文です。</p><script>document.write('隠れた文字列');</script>".encode(),
        "broken_tags.html": "<div><p>閉じていないタグ<b>太字".encode(),
        "crlf.txt": "改行コードが\r\nCRLFの\r\nファイル。".encode(),
        "名前 with spaces & 'quotes'.txt": "変わった名前のファイル。".encode(),
        "UPPER.TXT": "大文字の拡張子のファイル。".encode(),
        "deep/a/b/c/d/e/deep.md": "# 深い階層\n\n深い階層にある文書。".encode(),
        ".hidden.txt": "隠しファイルは読まない。".encode(),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    with open(root / "big.txt", "wb") as handle:  # 100 MB of real text
        line = ("大きなファイルの一行です。" * 8 + "\n").encode()
        handle.write(line * (100 * 2**20 // len(line) + 1))
    os.symlink("loop.txt", root / "loop.txt")
    os.symlink("missing-target.md", root / "dangling.md")
    os.symlink("..", root / "deep" / "a" / "loop-dir")  # a folder loop: never followed
    os.mkfifo(root / "fifo.txt")
    (root / "manifest.json").write_text(json.dumps({"not": "indexed"}))  # unsupported .json
    _write_office_files(root)
    return root


def _write_office_files(root: Path) -> None:
    """PDF and Office files that are encrypted, truncated, bombs, mislabelled or huge."""
    write_pdf(root / "encrypted.pdf", [["鍵のかかった文書。"]], password="secret")
    write_pdf(root / "owner_password.pdf", [["所有者パスワードだけの文書は読める。"]], owner_password="owner")
    write_pdf(root / "scanned.pdf", [[]])
    write_pdf(root / "half_scanned.pdf", [["一ページ目にだけ文字がある。"], []])
    whole = write_pdf(root / "truncated.pdf", [["途中で切れた文書。"]]).read_bytes()
    (root / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    xref = write_pdf(root / "bad_xref.pdf", [["相互参照表が壊れた文書。"]]).read_bytes()
    at = xref.rfind(b"xref")
    (root / "bad_xref.pdf").write_bytes(xref[:at] + re.sub(rb"\d{10} \d{5}", b"9999999999 00000", xref[at:]))
    (root / "text_named.pdf").write_text("PDFと名乗るテキスト。", encoding="utf-8")
    write_zip_bomb(root / "bomb.docx", "word/document.xml")
    write_zip_bomb(root / "bomb.xlsx", "xl/worksheets/sheet1.xml")
    (root / "encrypted.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096)
    write_xlsx(root / "sheet_named.docx", {"表": [["表計算の中身"]]})
    (root / "pdf_named.pptx").write_bytes(whole)
    document = write_docx(root / "truncated.docx", [(1, "見出し", ["途中で切れたワード文書。"])]).read_bytes()
    (root / "truncated.docx").write_bytes(document[: len(document) // 2])
    with zipfile.ZipFile(root / "bad_xml.docx", "w") as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("word/document.xml", "<w:document><w:body><w:p>閉じていない")
    write_xlsx(root / "empty_sheets.xlsx", {"空": [], "空2": []})
    write_xlsx(root / "indented.xlsx", {"料金": [[], [], [None, "粗大ごみの収集手数料は一点につき四百円である。"]]})
    (root / "pdf_named.md").write_bytes(whole)
    (root / "word_named.txt").write_bytes(document)
    (root / "program_named.html").write_bytes(
        b"MZ" + b"\x90" * 58 + (64).to_bytes(4, "little") + b"PE\x00\x00" + b"\x00" * 64
    )
    (root / "gzip_named.csv").write_bytes(gzip.compress("番号,質問\n1,火星\n".encode()))
