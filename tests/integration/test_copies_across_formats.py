"""One text in two formats is one hit: a 規程 in Word and the PDF LibreOffice exports from it, a .md
and a .txt of one text. They chunk differently, so `grouping.group` compares their documents when it
is given them (`get_document`: the backend's `get`, as `Searcher` gives it); next year's version of
the 規程, one article rewritten, stays a document of its own."""

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FAKE_MODEL
from office_files import NEEDS_SOFFICE, SOFFICE, export_pdf, regulation_sentences, write_regulation_docx

from hybridsearch import HybridIndex
from hybridsearch.config import ChunkConfig, IndexConfig
from hybridsearch.grouping import (
    MAX_DOCUMENT_CHARS,
    NOISE,
    READ_BUDGET,
    SAME_DOCUMENT,
    DocumentGetter,
    Grouped,
    difference,
    group,
    pool_size,
    same_document,
)
from hybridsearch.loaders import iter_documents
from hybridsearch.schema import StoredChunk

ARTICLES = regulation_sentences(45, seed=11)
#: next year's 第23条, rewritten (about 2 % of the 規程's letters change)
REWRITTEN = "第23条　在宅勤務は、週三日を上限とし、所属長が業務の状況を見て個別に許可するものとする。"
NEXT_YEAR = [*ARTICLES[:22], REWRITTEN, *ARTICLES[23:]]
#: the 規程 with two letters of one article changed (「について、」 → 「につき、」)
RETOUCHED = [*ARTICLES[:20], ARTICLES[20].replace("について、", "につき、", 1), *ARTICLES[21:]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rules.docx and the PDF LibreOffice exports from it; next-year.docx (第23条 rewritten) and
    retouched.docx (two letters changed), each with its PDF."""
    if SOFFICE is None:
        pytest.skip(NEEDS_SOFFICE)
    folder = tmp_path_factory.mktemp("exported")
    sources = [
        write_regulation_docx(folder / "rules.docx", ARTICLES),
        write_regulation_docx(folder / "next-year.docx", NEXT_YEAR),
        write_regulation_docx(folder / "retouched.docx", RETOUCHED),
    ]
    export_pdf(sources, folder)
    return folder


def text(path: Path) -> str:
    (document,) = iter_documents([path])
    return document.text


@pytest.fixture
def indexed(exported: Path, tmp_path: Path) -> Iterator[HybridIndex]:
    """An index of rules.docx and rules.pdf."""
    with index_of(exported, ["rules.docx", "rules.pdf"], tmp_path) as index:
        yield index


def index_of(folder: Path, names: list[str], tmp_path: Path) -> HybridIndex:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in names:
        shutil.copy(folder / name, docs / name)
    return HybridIndex.build(docs, tmp_path / "index", model=FAKE_MODEL)


def ranked(index: HybridIndex, query: str, k: int = 10) -> list[StoredChunk]:
    """The chunks of the fused ranking's first `pool_size(k)` candidates, in order, as `Searcher` hands
    them to `group`."""
    hits = index.search(query, k=pool_size(k), collapse=False)
    return [chunk for hit in hits if isinstance(chunk := index.get(hit.id), StoredChunk)]


def articles(chunk: StoredChunk) -> set[str]:
    """The 第N条 that start in the chunk."""
    return set(re.findall(r"第\d+条", chunk.text))


def name(chunk: StoredChunk) -> str:
    return Path(chunk.path).name


def test_an_exported_pdf_is_one_text_with_its_docx_and_next_years_version_is_not(exported: Path) -> None:
    docx, pdf = text(exported / "rules.docx"), text(exported / "rules.pdf")
    assert "第45条" in pdf and "1. 申請書を提出する" in pdf  # Word draws the list numbers: only the PDF has them
    assert "申請書を提出する" in docx and "1. 申請書を提出する" not in docx
    assert difference(docx, pdf) <= 3 and same_document(docx, pdf)  # the three list numbers
    assert same_document(text(exported / "next-year.docx"), text(exported / "next-year.pdf"))
    rewritten = text(exported / "next-year.docx")
    for copy in (docx, pdf):
        assert difference(copy, rewritten) > max(NOISE, (1 - SAME_DOCUMENT) * len(copy)) > 0
        assert not same_document(copy, rewritten)
    retouched = text(exported / "retouched.pdf")  # two letters changed, three list numbers drawn
    assert difference(docx, retouched) <= 5 and same_document(docx, retouched)


def test_the_pdf_folds_into_the_docx_hit_whatever_the_chunking(indexed: HybridIndex) -> None:
    for article in ARTICLES:
        query = article.split("　", 1)[1]
        chunks = ranked(indexed, query)
        assert len(group(chunks, 10, "document", True)) == 2  # by chunks alone: both formats, every time
        (hit,) = group(chunks, 10, "document", True, get_document=indexed.get)
        assert {name(copy) for copy in hit.copies} == {"rules.docx", "rules.pdf"} - {name(hit.chunk)}
        assert hit.more == len(chunks) - 2  # the other chunks of both formats
        kept = group(chunks, 10, None, True, get_document=indexed.get)
        for first, entry in enumerate(kept):
            for later in kept[first + 1 :]:  # no passage twice: hits of the two formats share no two articles
                assert len(articles(entry.chunk) & articles(later.chunk)) < 2 or name(entry.chunk) == name(later.chunk)
            for copy in entry.copies:
                assert name(copy) != name(entry.chunk) and articles(copy) & articles(entry.chunk)
                assert chunks.index(copy) > entry.position  # the better-ranked chunk is kept


def test_the_better_ranked_copy_is_kept_whichever_its_format(indexed: HybridIndex) -> None:
    documents = {chunk.document_id for chunk in ranked(indexed, "手続き")}
    stored = [indexed.get(document) for document in sorted(documents)]
    chunks = [chunk for document in stored for chunk_id, _, _ in getattr(document, "chunks", ())
              if isinstance(chunk := indexed.get(chunk_id), StoredChunk)]  # fmt: skip
    formats = {suffix: [chunk for chunk in chunks if chunk.path.endswith(suffix)] for suffix in ("docx", "pdf")}
    pairs = [
        (docx, pdf)
        for docx in formats["docx"]
        for pdf in formats["pdf"]
        if len(articles(docx) & articles(pdf)) >= 2 and len(group([docx, pdf], 10, None, True)) == 2
    ]
    assert pairs  # one passage, chunked apart: two hits by chunks alone
    for docx, pdf in pairs:
        for first, second in ((docx, pdf), (pdf, docx)):
            (hit,) = group([first, second], 10, None, True, get_document=indexed.get)
            assert hit.chunk == first and hit.copies == [second]


def test_next_years_version_is_another_document_and_its_rewritten_article_a_hit(exported: Path, tmp_path: Path) -> None:
    with index_of(exported, ["rules.docx", "rules.pdf", "next-year.docx"], tmp_path) as index:
        chunks = ranked(index, "在宅勤務は週三日を上限とし個別に許可する")
        hits = group(chunks, 10, "document", True, get_document=index.get)
        assert sorted(name(hit.chunk).split(".")[0] for hit in hits) == ["next-year", "rules"]
        rewritten = next(hit for hit in hits if name(hit.chunk) == "next-year.docx")
        assert "週三日" in rewritten.chunk.text and not rewritten.copies
        rules = next(hit for hit in hits if name(hit.chunk) != "next-year.docx")
        assert {name(copy) for copy in rules.copies} == {"rules.docx", "rules.pdf"} - {name(rules.chunk)}
        plain = group(chunks, 10, None, True, get_document=index.get)
        assert any("週三日" in entry.chunk.text for entry in plain)
        assert not any("週三日" in copy.text for entry in plain for copy in entry.copies)


MARKDOWN = "# 就業規程\n\n" + "".join(
    f"## 第{n // 9 + 1}章　その{n // 9 + 1}\n\n" * (n % 9 == 0) + f"{article}\n\n"
    for n, article in enumerate(ARTICLES[:27])
)


def wrapped(text: str, width: int = 38) -> str:
    """`text` without Markdown marks, hard-wrapped every `width` characters as a plain-text file is."""
    lines = [line.lstrip("# ") for line in text.splitlines() if line.strip()]
    return "\n".join(line[start : start + width] for line in lines for start in range(0, len(line), width)) + "\n"


def test_a_markdown_file_and_its_plain_text_are_one_hit(tmp_path: Path) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / "rules.md").write_text(MARKDOWN, encoding="utf-8")
    (folder / "rules.txt").write_text(wrapped(MARKDOWN), encoding="utf-8")
    assert same_document(text(folder / "rules.md"), text(folder / "rules.txt"))
    config = IndexConfig(chunk=ChunkConfig(size=300, overlap=40))
    with HybridIndex.build(folder, tmp_path / "index", model=FAKE_MODEL, config=config) as index:
        apart = 0
        for article in ARTICLES[:27]:
            chunks = ranked(index, article.split("　", 1)[1])
            apart += len(group(chunks, 10, "document", True)) == 2
            (hit,) = group(chunks, 10, "document", True, get_document=index.get)
            assert {name(copy) for copy in hit.copies} == {"rules.md", "rules.txt"} - {name(hit.chunk)}
        assert apart > 0  # their chunks differ: by chunks alone, the two files are two hits


def chunk(document: str, text: str, end: int | None = None) -> StoredChunk:
    return StoredChunk(
        id=f"{document}-{len(text)}", document_id=document, ordinal=0, start=0, end=len(text) if end is None else end,
        text=text, path=f"{document}.txt", record="", title="", metadata={},
    )  # fmt: skip


@dataclass(frozen=True)
class Text:
    text: str
    path: str = "rules.txt"
    title: str = ""


PASSAGE = "経費精算の手順。出張から戻ったら五営業日以内に精算書を提出する。領収書は原本を添付する。"
#: each shares over half of PASSAGE's 3-grams and is not 0.9-similar to it or to the other: their
#: documents are compared
NEIGHBOUR = PASSAGE + "上長の承認の後、経理部が内容を確認し、翌月の給与と一緒に振り込む。"
OTHER = PASSAGE + "精算書の様式は総務部のサイトから取得し、押印は要らない。"


def test_documents_are_read_once_each_and_never_when_too_long_or_over_the_budget() -> None:
    read: list[str] = []

    def reading(texts: dict[str, str]) -> DocumentGetter:
        read.clear()

        def get(document_id: str) -> Text:
            read.append(document_id)
            return Text(texts[document_id])

        return get

    unrelated = [chunk("a", PASSAGE), chunk("b", "社員食堂の営業時間は十一時から十四時までです。")]
    assert len(group(unrelated, 10, None, True, get_document=reading({}))) == 2 and not read  # nothing in common

    texts = {"a": PASSAGE, "b": NEIGHBOUR, "c": OTHER}
    pairs = [chunk("a", PASSAGE), chunk("b", NEIGHBOUR), chunk("c", OTHER)]
    group(pairs, 10, None, True, get_document=reading(texts))
    assert sorted(read) == ["a", "b", "c"]  # each once, though compared twice

    far = [chunk("a", PASSAGE), chunk("b", NEIGHBOUR, end=MAX_DOCUMENT_CHARS + 1)]
    assert len(group(far, 10, None, True, get_document=reading(texts))) == 2 and read == []  # too long to read

    huge = "契" * READ_BUDGET  # read, too long to compare, and it spends the whole budget
    assert len(huge) > MAX_DOCUMENT_CHARS
    over = {"a": huge, "b": huge, "c": huge}
    assert len(group(pairs, 10, None, True, get_document=reading(over))) == 3 and read == ["a"]


def test_without_documents_nothing_changes() -> None:
    chunks = [chunk("a", PASSAGE), chunk("b", NEIGHBOUR), chunk("c", PASSAGE)]
    kept: list[Grouped] = group(chunks, 10, None, True)
    assert [(entry.position, [copy.document_id for copy in entry.copies]) for entry in kept] == [(0, ["c"]), (1, [])]
    assert group(chunks, 10, None, False, get_document=lambda document_id: Text(PASSAGE)) == group(
        chunks, 10, None, False
    )


def test_one_text_allows_one_percent_or_noise_letters() -> None:
    def allowed(longer: int) -> int:
        return max(NOISE, int((1 - SAME_DOCUMENT) * longer))

    for sentences in (ARTICLES[:5], regulation_sentences(120, seed=3)):  # about 300 letters, about 7,000
        body = "".join(sentences)
        letters = len(body) - sum(body.count(mark) for mark in "　、。")
        most = allowed(letters)
        while most + 1 <= allowed(letters + most + 1):
            most += 1
        assert most == (NOISE if letters < 3000 else letters // 99)
        for extra, one in ((most, True), (most + 1, False)):
            added = body + "附則" + "あ" * (extra - 2) + "。"  # a sentence of `extra` letters
            assert difference(body, added) == extra and same_document(body, added) is one


def test_two_documents_from_one_template_are_never_one_text() -> None:
    """正社員 and 契約社員 rules written from one template differ in the few letters people ask about."""
    regular = "".join(f"第{n}条　正社員の年次有給休暇は二十日を付与する。様式{n}号で申請する。" for n in range(1, 13))
    contract = regular.replace("正社員の年次有給休暇は二十日", "契約社員の年次有給休暇は十日", 1)  # a few letters
    texts = {"a": Text(regular, "正社員就業規則.txt"), "b": Text(contract, "契約社員就業規則.pdf")}
    pairs = [chunk("a", regular[:200]), chunk("b", contract[:200])]
    assert len(group(pairs, 10, None, True, get_document=texts.__getitem__)) == 2  # two names: two documents
    texts["b"] = Text(contract, "正社員就業規則.pdf")  # one name in two formats, a few letters apart: one text
    assert len(group(pairs, 10, None, True, get_document=texts.__getitem__)) == 1
