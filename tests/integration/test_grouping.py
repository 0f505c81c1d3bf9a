"""One hit per document (`group_by="document"`) and near-duplicate chunks folded into the better hit."""

import json
import re
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL
from serving import running

from hybridsearch import HybridIndex
from hybridsearch.cli import cli
from hybridsearch.config import ChunkConfig, IndexConfig
from hybridsearch.errors import InputError
from hybridsearch.grouping import group, shingles
from hybridsearch.schema import StoredChunk

MANUAL = (
    "経費精算の手順。出張から戻ったら五営業日以内に精算書を提出する。領収書は原本を添付し、"
    "電子の領収書は印刷せずに申請システムへ登録する。上長の承認の後、経理部が内容を確認する。"
)
SECTIONS = [f"第{n}章 経費精算の規程、その{n}。" + "精算の期限と承認の流れを定める。" * 3 for n in range(1, 5)]


@pytest.fixture
def manuals(tmp_path: Path) -> HybridIndex:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "manual-v1.txt").write_text(MANUAL, encoding="utf-8")
    (docs / "manual-v2.txt").write_text(MANUAL.replace("五営業日", "５営業日") + "\n", encoding="utf-8")
    (docs / "copy-of-v1.txt").write_text(MANUAL, encoding="utf-8")
    (docs / "rules.txt").write_text("\n".join(SECTIONS), encoding="utf-8")
    (docs / "other.txt").write_text("社員食堂の営業時間は十一時から十四時までです。", encoding="utf-8")
    config = IndexConfig(chunk=ChunkConfig(size=120, overlap=0))
    return HybridIndex.build(docs, tmp_path / "idx", model=FAKE_MODEL, config=config)


def ranked(texts: list[tuple[str, str]]) -> list[StoredChunk]:
    return [
        StoredChunk(
            id=f"c{i}",
            document_id=document,
            ordinal=0,
            start=0,
            end=len(text),
            text=text,
            path=f"{document}.txt",
            record="",
            title="",
            metadata={},
        )  # fmt: skip
        for i, (document, text) in enumerate(texts)
    ]


def test_near_copies_in_other_documents_are_folded_into_the_first() -> None:
    edited = MANUAL.replace("五営業日", "七営業日")
    kept = group(
        ranked([("a", MANUAL), ("b", edited), ("c", "全く別の話題の文章です。"), ("d", MANUAL)]), 10, None, True
    )
    assert [entry.position for entry in kept] == [0, 2]
    assert [copy.document_id for copy in kept[0].copies] == ["b", "d"]


def test_chunks_of_one_document_are_never_folded_and_unlike_texts_stay() -> None:
    kept = group(ranked([("a", MANUAL), ("a", MANUAL), ("b", MANUAL[: len(MANUAL) // 2])]), 10, None, True)
    assert [entry.position for entry in kept] == [0, 1, 2]
    assert shingles("Ａ Ｂ、ｃ") == shingles("abc")  # width, case, spaces and punctuation do not count


def test_group_by_document_counts_the_other_chunks_and_fills_k() -> None:
    texts = [("a", "一"), ("a", "二"), ("b", "三"), ("a", "四"), ("c", "五"), ("d", "六")]
    kept = group(ranked(texts), 2, "document", False)
    assert [(entry.position, entry.more) for entry in kept] == [(0, 2), (2, 0)]


def name(hit: dict | object) -> str:
    return Path(hit["path"] if isinstance(hit, dict) else hit.path).name  # type: ignore[attr-defined]


COPIES = {"manual-v1.txt", "manual-v2.txt", "copy-of-v1.txt"}


def test_search_folds_copies_and_groups_by_document(manuals: HybridIndex) -> None:
    everything = manuals.search("経費精算の領収書", k=10, alpha=0, collapse=False)
    assert sum(name(hit) in COPIES for hit in everything) == 3  # one chunk in each of three files
    assert all(not hit.copies for hit in everything)
    hits = manuals.search("経費精算の領収書", k=10, alpha=0)
    manual = [hit for hit in hits if name(hit) in COPIES]
    assert len(manual) == 1  # one hit for the passage
    for hit in manual:
        assert {Path(copy.source).name for copy in hit.copies} == COPIES - {name(hit)}
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))

    grouped = manuals.search("経費精算の規程", k=10, alpha=0, group_by="document")
    assert len({hit.document_id for hit in grouped}) == len(grouped)
    rules = next(hit for hit in grouped if name(hit) == "rules.txt")
    assert rules.more == sum(name(hit) == "rules.txt" for hit in everything) - 1 > 0
    with pytest.raises(InputError, match="Cannot group by 'folder'"):
        manuals.search("経費精算", group_by="folder")


def test_fused_order_is_kept_when_nothing_is_folded(built: HybridIndex) -> None:
    plain = built.search("赤い惑星", k=5, collapse=False)
    assert [hit.id for hit in built.search("赤い惑星", k=5)] == [hit.id for hit in plain]


def test_cli_group_by_and_keep_duplicates(manuals: HybridIndex) -> None:
    args = ["query", "経費精算の規程", "--index", manuals.location, "--alpha", "0", "--min-confidence", "0", "--json"]
    grouped = json.loads(CliRunner().invoke(cli, [*args, "--group-by", "document"]).stdout)["hits"]
    assert len({hit["document_id"] for hit in grouped}) == len(grouped)
    assert any(hit["more"] > 0 for hit in grouped) and any(hit["copies"] for hit in grouped)
    kept = json.loads(CliRunner().invoke(cli, [*args, "--keep-duplicates"]).stdout)["hits"]
    assert not any(hit["copies"] for hit in kept) and len(kept) > len(grouped)
    shown = CliRunner().invoke(
        cli, ["query", "経費精算の領収書", "--index", manuals.location, "--alpha", "0", "--min-confidence", "0"]
    )
    assert shown.exit_code == 0 and "same text: " in shown.stdout
    for block in re.split(r"\n\s*\d+\. ", shown.stdout):  # each hit names a copy's file once
        copies = [line for line in block.splitlines() if "same text: " in line]
        assert len(copies) == len(set(copies))


def test_http_group_by(manuals: HybridIndex) -> None:
    with running({"docs": manuals.location}) as url:
        params = {"q": "経費精算の規程", "alpha": 0, "group_by": "document"}
        hits = httpx.get(f"{url}/search", params=params).json()["hits"]
        assert len({hit["document_id"] for hit in hits}) == len(hits) and any(hit["more"] for hit in hits)
        bad = httpx.get(f"{url}/search", params=params | {"group_by": "folder"})
        assert bad.status_code == 400 and "Cannot group by" in bad.json()["detail"]
        posted = httpx.post(f"{url}/search", json={"q": "経費精算の領収書", "alpha": 0, "collapse": False}).json()
        assert sum(name(hit) in COPIES for hit in posted["hits"]) == 3
