"""Stable ids: every hit names its chunk and document; unchanged chunks keep their ids across updates;
`HybridIndex.get` and `hsearch get` return what an id names."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL

from hybridsearch import HybridIndex, InputError, NotFoundError, StoredChunk, StoredDocument
from hybridsearch.cli import cli


def _ids(index: HybridIndex) -> dict[tuple[str, str], str]:
    """(source, chunk text) → id, for every chunk."""
    return {(h.source, h.text): h.id for h in index.search("文書", k=1000, alpha=0)}


def test_ids_survive_updates_and_rebuilds(corpus: Path, tmp_path: Path) -> None:
    sentences = [f"これは{i}番目の文書の文です。" for i in range(40)]
    (corpus / "long.txt").write_text("".join(sentences), encoding="utf-8")
    first = _ids(HybridIndex.build(corpus, tmp_path / "idx", model=FAKE_MODEL))
    (corpus / "long.txt").write_text("".join(sentences[:-1]) + "最後の文だけ書き換えた文書。", encoding="utf-8")
    (corpus / "new.txt").write_text("新しい文書。", encoding="utf-8")
    (corpus / "food" / "miso.txt").unlink()
    updated = _ids(HybridIndex.build(corpus, tmp_path / "idx"))
    kept = first.keys() & updated.keys()
    assert len(kept) >= len(first) - 3 and all(first[key] == updated[key] for key in kept)
    assert len(set(updated.values())) == len(updated)  # unique
    rebuilt = _ids(HybridIndex.build(corpus, tmp_path / "idx", model=FAKE_MODEL, rebuild=True))
    assert rebuilt == updated
    elsewhere = _ids(HybridIndex.build(corpus, tmp_path / "other", model=FAKE_MODEL, config=None))
    assert elsewhere == updated  # ids do not depend on the index, only on the documents


def test_get_returns_chunks_and_documents(built: HybridIndex) -> None:
    hit = built.search("赤い惑星", k=1)[0]
    chunk = built.get(hit.id)
    assert isinstance(chunk, StoredChunk)
    assert (chunk.id, chunk.text, chunk.start, chunk.end, chunk.source) == (
        hit.id,
        hit.text,
        hit.start,
        hit.end,
        hit.source,
    )
    document = built.get(hit.document_id)
    assert isinstance(document, StoredDocument) and document.id == hit.document_id
    assert document.text == Path(hit.path).read_text(encoding="utf-8")
    assert (hit.id, hit.start, hit.end) in document.chunks and document.num_chunks == len(document.chunks)
    assert document.text[chunk.start : chunk.end] == chunk.text
    record = built.search("経費精算の締め日", k=1, alpha=0)[0]
    assert built.get(record.document_id).text == "経費精算は毎月二十五日締めです。"  # a CSV row's text field
    with pytest.raises(NotFoundError, match="has no chunk or document with id 'nope'"):
        built.get("nope")


def test_hsearch_get(built: HybridIndex) -> None:
    hit = built.search("赤い惑星", k=1)[0]
    runner = CliRunner()
    shown = runner.invoke(cli, ["get", hit.id, "--index", built.location])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == f"{hit.source}  「火星」  [{hit.start}:{hit.end}]" and hit.text in shown.stdout
    assert 'type="md"' in lines[1]
    document = json.loads(runner.invoke(cli, ["get", hit.document_id, "--index", built.location, "--json"]).stdout)
    assert document["id"] == hit.document_id and document["chunks"][0] == {"id": hit.id, "start": 0, "end": hit.end}
    missing = runner.invoke(cli, ["get", "nope", "--index", built.location])
    assert (
        missing.exit_code == 1
        and missing.stderr == f"Error: Index {built.location} has no chunk or document with id 'nope'.\n"
    )


def test_json_hits_carry_ids(built: HybridIndex) -> None:
    result = CliRunner().invoke(cli, ["query", "赤い惑星", "--index", built.location, "--json", "-k", "2"])
    hits = json.loads(result.stdout)["hits"]
    assert [h["id"] for h in hits] == [h.id for h in built.search("赤い惑星", k=2)]
    assert all(h["id"].startswith(h["document_id"] + "-") for h in hits)


def test_a_file_given_twice_or_through_a_link_is_one_document(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(corpus / "planets")
    index = HybridIndex.build(
        [corpus, corpus / "planets" / "mars.md", tmp_path / "link"], tmp_path / "idx", model=FAKE_MODEL
    )
    assert index.report is not None and index.report.documents == 8  # as for `corpus` alone
    assert [h.title for h in index.search("火星", k=20, alpha=0)].count("火星") == 1
    again = HybridIndex.build(tmp_path / "link", tmp_path / "idx")  # the same files, through the link
    assert again.report is not None and again.report.unchanged == 3 and again.report.documents == 8


def test_nul_characters_are_replaced_not_cut(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "n.jsonl").write_text('{"id": "n", "text": "前\\u0000後の文です。"}\n', encoding="utf-8")
    index = HybridIndex.build(tmp_path / "docs", tmp_path / "idx", model=FAKE_MODEL)
    assert index.search("文", k=1)[0].text == "前\ufffd後の文です。" and index.check() == []


def test_an_index_path_with_uri_characters(corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "my#index?v=1%"
    index = HybridIndex.build(corpus, folder, model=FAKE_MODEL)
    assert index.search("火星", k=1)[0].title == "火星" and sorted(p.name for p in tmp_path.iterdir()) == [
        "docs",
        "my#index?v=1%",
    ]
    HybridIndex.build(corpus, folder, model=FAKE_MODEL, rebuild=True)  # the writer reads the old docstore too


def test_get_needs_a_text_id(built: HybridIndex) -> None:
    with pytest.raises(InputError, match="An id is text"):
        built.get(["x"])  # type: ignore[arg-type]
