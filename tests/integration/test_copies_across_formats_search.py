"""End to end: a search over a 規程 in Word and the PDF LibreOffice exports from it shows the passage
once, the other format among the hit's copies (`Searcher._hits` hands `group` the documents' texts)."""

from pathlib import Path

import pytest
from conftest import FAKE_MODEL
from office_files import NEEDS_SOFFICE, SOFFICE, export_pdf, regulation_sentences, write_regulation_docx

from hybridsearch import HybridIndex

ARTICLES = regulation_sentences(45, seed=11)


@pytest.mark.skipif(SOFFICE is None, reason=NEEDS_SOFFICE)
def test_a_docx_and_its_pdf_are_one_hit(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    export_pdf([write_regulation_docx(docs / "rules.docx", ARTICLES)], docs)
    with HybridIndex.build(docs, tmp_path / "index", model=FAKE_MODEL) as index:
        for article in ARTICLES:
            query = article.split("　", 1)[1]
            (hit,) = index.search(query, k=10, group_by="document")
            assert [Path(copy.source).suffix for copy in hit.copies] == [
                ".pdf" if hit.path.endswith(".docx") else ".docx"
            ]
            hits = index.search(query, k=10)
            first, second = hits[0], hits[1]
            assert Path(first.path).suffix != Path(second.path).suffix or first.copies
            assert any(Path(copy.source).suffix != Path(first.path).suffix for copy in first.copies)
