"""Chunk locations: regions from loaders, hard breaks, the merge rules, storage and old indexes."""

import sqlite3
from contextlib import closing
from pathlib import Path

from conftest import FAKE_MODEL

from hybridsearch import HybridIndex
from hybridsearch.backends.local.docstore import DocStore
from hybridsearch.chunking import chunk_text
from hybridsearch.config import ChunkConfig, IndexConfig
from hybridsearch.locations import MAX_PARTS, Locator, Region, cell_range, column_letters, location_at

#: docs.sqlite as index format 2 wrote it: chunks without a location.
FORMAT_2_SCHEMA = """
CREATE TABLE documents (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, path TEXT NOT NULL, abs_path TEXT NOT NULL,
    record TEXT NOT NULL, title TEXT NOT NULL, encoding TEXT NOT NULL, sha256 TEXT NOT NULL,
    mtime REAL NOT NULL, size INTEGER NOT NULL, metadata TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc INTEGER NOT NULL REFERENCES documents(row),
    ord INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL
);
CREATE INDEX chunks_doc ON chunks(doc);
"""


def test_pages_slides_and_cells_merge_over_the_regions_a_span_covers() -> None:
    pages = [Region(0, {"page": 1}), Region(10, {"page": 2}), Region(20, {"page": 3})]
    assert Locator(pages)(2, 8) == {"page": 1, "label": "p. 1"}
    over_two = Locator(pages)(5, 15)
    assert over_two == {
        "page": 1, "page_end": 2, "label": "pp. 1–2",
        "parts": [{"start": 5, "page": 1, "label": "p. 1"}, {"start": 10, "page": 2, "label": "p. 2"}],
    }  # fmt: skip
    assert location_at(over_two, 12) == {"page": 2, "label": "p. 2"}  # where the text at 12 lies
    assert location_at(over_two, 5) == location_at(over_two, 0) == {"page": 1, "label": "p. 1"}
    assert Locator(pages)(10, 20) == {"page": 2, "label": "p. 2"}
    assert location_at(Locator(pages)(10, 20), 15) == {"page": 2, "label": "p. 2"}  # no parts: the whole
    slides = [Region(0, {"slide": 4, "notes": False}, hard=True), Region(9, {"slide": 4, "notes": True})]
    assert location_at(Locator(slides)(0, 12), 12) == {"slide": 4, "notes": True, "label": "slide 4, notes"}
    assert Locator(slides)(0, 12)["label"] == "slide 4, notes"
    rows = [Region(0, {"sheet": "売上", "cells": "B2:C2"}), Region(5, {"sheet": "売上", "cells": "A3:D3"})]
    assert Locator(rows)(0, 9) == {"sheet": "売上", "cells": "A2:D3", "label": "売上!A2:D3"}  # rows: no parts
    assert Locator([])(0, 5) == {}
    assert (column_letters(1), column_letters(27), cell_range(1, 1, 1, 1)) == ("A", "AA", "A1")


def test_a_hard_region_starts_a_new_chunk() -> None:
    text = "一枚目の文です。" * 3 + "二枚目の文です。" * 3
    regions = [Region(0, {"slide": 1, "notes": False}, hard=True), Region(24, {"slide": 2, "notes": False}, hard=True)]
    chunks = chunk_text(text, "d", ChunkConfig(size=200, overlap=0), regions=regions)
    assert [(c.start, c.end, c.location["label"]) for c in chunks] == [(0, 24, "slide 1"), (24, 48, "slide 2")]


def test_markdown_hits_carry_their_heading_path(tmp_path: Path) -> None:
    (tmp_path / "rules.md").write_text(
        "# 就業規則\n\n## 第3章 休暇\n\n### 3.2 申請手続き\n\n有給休暇は前日までに所属長へ申請する。\n\n"
        "## 第4章 服務\n\n```\n# コードの中は見出しではない\n```\n社員は誠実に職務を行う。\n",
        encoding="utf-8",
    )
    index = HybridIndex.build([tmp_path], tmp_path / "idx", model=FAKE_MODEL, config=_small())
    hit = index.search("有給休暇の申請", k=1, alpha=0)[0]
    assert hit.location == {"heading": ["第3章 休暇", "3.2 申請手続き"], "label": "第3章 休暇 > 3.2 申請手続き"}
    assert index.search("誠実に職務", k=1, alpha=0)[0].location["heading"] == ["第4章 服務"]
    assert hit.to_dict()["location"]["label"] == "第3章 休暇 > 3.2 申請手続き"


def test_a_hit_names_the_section_of_its_answering_sentence(tmp_path: Path) -> None:
    """A short document whose two chapters make one chunk: the hit names the chapter that answers."""
    (tmp_path / "guide.md").write_text(
        "# 施設利用案内\n\n## 第3章 申請手続き\n\n会議室の予約は利用日の3日前までに総務課へ申請してください。\n\n"
        "## 第4章 料金\n\n会議室の利用料金は1時間あたり2000円です。\n",
        encoding="utf-8",
    )
    with HybridIndex.build([tmp_path], tmp_path / "idx", model=FAKE_MODEL) as index:
        booking, fee = index.search("会議室の予約の申請", k=1, alpha=0)[0], index.search("利用料金は", k=1, alpha=0)[0]
    assert booking.id == fee.id  # one chunk
    assert booking.location == {"heading": ["第3章 申請手続き"], "label": "第3章 申請手続き"}
    assert fee.location == {"heading": ["第4章 料金"], "label": "第4章 料金"}
    answer = booking.text[booking.answer_start - booking.start : booking.answer_end - booking.start]
    assert answer == "会議室の予約は利用日の3日前までに総務課へ申請してください。"
    assert "2000円" in fee.text[fee.answer_start - fee.start : fee.answer_end - fee.start]


def test_a_format_2_docstore_reads_without_locations(tmp_path: Path) -> None:
    path = tmp_path / "docs.sqlite"
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(FORMAT_2_SCHEMA)
        db.execute("INSERT INTO documents VALUES (0, 'd', 'a.txt', '/a.txt', '', '', 'utf-8', '', 0, 3, '{}', 'abc')")
        db.execute("INSERT INTO chunks VALUES (0, 'd-1', 0, 0, 0, 3)")
    store = DocStore(path, ValueError)
    try:
        chunk = store.chunks([0])[0]
    finally:
        store.close()
    assert (chunk.text, chunk.location) == ("abc", {})


def _small() -> IndexConfig:
    return IndexConfig(chunk=ChunkConfig(size=40, overlap=0))


def test_a_span_over_many_places_keeps_only_its_own_location() -> None:
    sections = [Region(10 * n, {"heading": [f"{n}章", f"{n}.1 節"]}) for n in range(MAX_PARTS + 1)]
    found = Locator(sections)(0, 10 * (MAX_PARTS + 1))
    assert "parts" not in found and found["label"] == "0章 > 0.1 節"
    assert len(Locator(sections)(0, 10 * MAX_PARTS)["parts"]) == MAX_PARTS
