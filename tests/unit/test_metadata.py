"""Document metadata: built-in fields, Markdown front matter, the other fields of CSV/JSONL records,
HTML <meta>; stored with the document and returned on every hit."""

import json
from pathlib import Path

import pytest
from conftest import FAKE_MODEL

from hybridsearch import HybridIndex
from hybridsearch.loaders import LoadReport, iter_documents


def _load(root: Path, files: dict[str, str]) -> tuple[dict[str, dict], list[str]]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    warnings: list[str] = []
    documents = list(iter_documents([root], report=LoadReport(), warn=warnings.append))
    return {
        d.source.removeprefix(f"{root}/"): {"text": d.text, "title": d.title, **d.metadata} for d in documents
    }, warnings


def test_built_in_fields(tmp_path: Path) -> None:
    found, _ = _load(tmp_path, {"a/b.txt": "本文です。"})
    fields = found["a/b.txt"]
    assert (fields["path"], fields["type"], fields["size"], fields["title"]) == (
        str(tmp_path / "a/b.txt"),
        "txt",
        15,
        "",
    )
    assert fields["mtime"].endswith("Z") and fields["mtime"][:2] == "20" and len(fields["mtime"]) == 20


def test_markdown_front_matter(tmp_path: Path) -> None:
    found, warnings = _load(
        tmp_path,
        {
            "rule.md": "---\ntitle: 休暇規程\ntags: [人事, 休暇]\nversion: 3\nrevised: 2024-04-01\n"
            "owner:\n  dept: 人事部\n  name: 山田\nmatrix: [[1, 2]]\n---\n"
            "# 第1章\n\n有給休暇は三日前までに申請する。\n",
            "plain.md": "# 見出し\n本文。\n",
            "broken.md": "---\ntitle: [unclosed\n---\n本文。\n",
        },
    )
    rule = found["rule.md"]
    assert rule["title"] == "休暇規程" and rule["text"] == "# 第1章\n\n有給休暇は三日前までに申請する。\n"
    assert rule["tags"] == ["人事", "休暇"] and rule["version"] == 3 and rule["revised"] == "2024-04-01"
    assert rule["owner.dept"] == "人事部" and rule["owner.name"] == "山田" and "matrix" not in rule
    assert found["plain.md"]["title"] == "見出し" and "tags" not in found["plain.md"]
    assert found["broken.md"]["text"].startswith("---\ntitle: [unclosed")  # kept as text, with a warning
    assert any("rule.md: front matter: left out 1 field(s)" in w and "(matrix)" in w for w in warnings)
    assert any("broken.md: front matter is not valid YAML" in w for w in warnings)


def test_record_fields_and_html_meta(tmp_path: Path) -> None:
    found, warnings = _load(
        tmp_path,
        {
            "faq.csv": "id,title,text,category,type\nq1,休暇,有給の申請方法,人事,手続き\n",
            "notes.jsonl": json.dumps(
                {
                    "id": "n1",
                    "text": "メモ一",
                    "year": 2024,
                    "tags": ["a", "b"],
                    "author": {"name": "佐藤"},
                    "rows": [{"x": 1}],
                    "missing": None,
                    "bad": "\ud800",
                },
                ensure_ascii=True,
            )
            + "\n",  # fmt: skip
            "page.html": '<html><head><title>題</title><meta name="Author" content="鈴木"><meta name="keywords" '
            'content="a"><meta name="keywords" content="b"><meta property="og:type" content="article"></head>'
            "<body><p>本文です。</p></body></html>",
        },
    )
    faq = found["faq.csv#q1"]
    assert faq["category"] == "人事" and faq["type"] == "csv" and faq["type_"] == "手続き"  # built-ins win
    assert "id" not in faq and faq["title"] == "休暇"
    note = found["notes.jsonl#n1"]
    assert note["year"] == 2024 and note["tags"] == ["a", "b"] and note["author.name"] == "佐藤"
    assert "rows" not in note and "missing" not in note and note["bad"] == "\ufffd"
    assert any("faq.csv: its field 'type' is stored as 'type_'" in w for w in warnings)
    assert any("notes.jsonl: left out 1 field(s)" in w and "(rows)" in w for w in warnings)
    page = found["page.html"]
    assert page["author"] == "鈴木" and page["keywords"] == ["a", "b"] and page["og:type"] == "article"


def test_metadata_comes_back_on_hits_and_from_get(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rule.md").write_text("---\ntags: [人事]\n---\n有給休暇は三日前までに申請する。\n", encoding="utf-8")
    index = HybridIndex.build(docs, tmp_path / "idx", model=FAKE_MODEL)
    hit = index.search("休暇", k=1)[0]
    assert hit.metadata["tags"] == ["人事"] and hit.metadata["type"] == "md"
    assert index.get(hit.document_id).metadata == hit.metadata
    assert index.search("休暇", where={"tags": "人事"}) and not index.search("休暇", where={"tags": "経理"})


@pytest.mark.parametrize("text", ["---\n- a\n- b\n---\n本文。\n", "---\nplain text\n---\n本文。\n"])
def test_front_matter_that_is_not_a_mapping_stays_text(tmp_path: Path, text: str) -> None:
    found, warnings = _load(tmp_path, {"x.md": text})
    assert found["x.md"]["text"] == text and any("is not a mapping" in w for w in warnings)
