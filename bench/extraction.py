"""Extracting text from PDF and Office files: speed per format and library, PDF quality, peak memory on hostile files.

    .venv/bin/pip install -e '.[bench]'      # pdfminer.six and pypdf, to compare with pypdfium2
    .venv/bin/python bench/extraction.py [--pages 30] [--repeats 3]

Every file is written here (tests/office_files.py) from a generated 規程 whose sentences wrap
across lines and pages under a running header and page numbers. PDFs are written three ways:
reportlab with a CID font that is not embedded, reportlab with a TrueType font embedded as a subset
(IPAGothic, Debian fonts-ipafont), and LibreOffice exporting a .docx (Debian libreoffice-writer-nogui
and fonts-noto-cjk), which is what most real PDFs are; a way whose tools are missing is left out.
Each PDF library's lines go through the same `reading_text` (header and footer removal, line
joining), so the quality columns compare what the libraries extract: the share of the 規程's
sentences found verbatim in the text, as it is and after NFKC (which search applies to every term,
so 「第1条　」 and 「第1条 」 match alike). Peak memory is each child process's VmHWM.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from office_files import (  # noqa: E402
    regulation_sentences,
    write_docx,
    write_long_sheet,
    write_pdf,
    write_pptx,
    write_xlsx,
    write_zip_bomb,
)

from hybridsearch.loaders import iter_documents  # noqa: E402
from hybridsearch.loaders.pdf import reading_text  # noqa: E402

IPA_GOTHIC = Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf")
PageLines = list[list[str]]


def pypdfium2_lines(path: Path) -> PageLines:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(path)
    try:
        pages = []
        for page in pdf:
            textpage = page.get_textpage()
            pages.append(textpage.get_text_range().replace("\r\n", "\n").split("\n"))
            textpage.close()
            page.close()
        return pages
    finally:
        pdf.close()


def pdfminer_lines(path: Path) -> PageLines:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer

    return [
        [line.get_text().rstrip("\n") for box in page if isinstance(box, LTTextContainer) for line in box]
        for page in extract_pages(path)
    ]


def pypdf_lines(path: Path) -> PageLines:
    from pypdf import PdfReader

    return [page.extract_text().splitlines() for page in PdfReader(path).pages]


LIBRARIES: dict[str, Callable[[Path], PageLines]] = {
    "pypdfium2": pypdfium2_lines,
    "pdfminer.six": pdfminer_lines,
    "pypdf": pypdf_lines,
}


def pdf_files(folder: Path, sentences: list[str], pages: int) -> dict[str, Path]:
    """The same 規程 as PDFs written each way whose tools are here."""
    per_page = len(sentences) // pages
    paged = [sentences[i * per_page : (i + 1) * per_page] for i in range(pages)]
    found = {"reportlab, CID font": write_pdf(folder / "cid.pdf", paged, header="社内規程集", footer=True)}
    if IPA_GOTHIC.exists():
        found["reportlab, embedded subset"] = write_pdf(
            folder / "subset.pdf", paged, header="社内規程集", footer=True, embed_font=str(IPA_GOTHIC)
        )
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office:
        source = write_docx(folder / "export.docx", [(1, "社内規程集", sentences)])
        subprocess.run(
            [office, "--headless", "--convert-to", "pdf", "--outdir", str(folder), str(source)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        found["LibreOffice export"] = folder / "export.pdf"
    return found


def timed(work: Callable[[], object], repeats: int) -> tuple[object, float]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return result, statistics.median(times)


def pdf_rows(folder: Path, pages: int, repeats: int) -> list[dict[str, object]]:
    sentences = regulation_sentences(10 * pages)
    rows = []
    for way, path in pdf_files(folder, sentences, pages).items():
        for library, lines in LIBRARIES.items():
            extracted, seconds = timed(lambda: lines(path), repeats)  # noqa: B023 - called at once
            text, _ = reading_text(extracted)  # type: ignore[arg-type]
            normalised = unicodedata.normalize("NFKC", text)
            found = sum(sentence in text for sentence in sentences)
            found_normalised = sum(unicodedata.normalize("NFKC", sentence) in normalised for sentence in sentences)
            rows.append({
                "pdf": way, "library": library, "pages": len(extracted),  # type: ignore[arg-type]
                "pages_per_s": round(len(extracted) / seconds), "chars_per_s": round(len(text) / seconds),  # type: ignore[arg-type]
                "verbatim": round(found / len(sentences), 3),
                "verbatim_nfkc": round(found_normalised / len(sentences), 3),
            })  # fmt: skip
    return rows


def office_rows(folder: Path, repeats: int) -> list[dict[str, object]]:
    """The loaders of hsearch on a Word file of 300 paragraphs, a workbook of 10,000 rows, a deck of 100 slides."""
    sentences = regulation_sentences(300)
    files = {
        ".docx (python-docx)": (
            write_docx(folder / "a.docx", [(2, f"第{i + 1}章", sentences[i * 10 : (i + 1) * 10]) for i in range(30)]),
            "paragraphs", 330,
        ),
        ".xlsx (openpyxl, read-only)": (
            write_xlsx(folder / "a.xlsx", {"規程": [[i, s, "有効"] for i, s in enumerate(sentences * 34)][:10_000]}),
            "rows", 10_000,
        ),
        ".pptx (python-pptx)": (
            write_pptx(folder / "a.pptx", [(f"第{i + 1}条", [s], s) for i, s in enumerate(sentences[:100])]),
            "slides", 100,
        ),
    }  # fmt: skip
    rows = []
    for name, (path, unit, count) in files.items():
        documents, seconds = timed(lambda: list(iter_documents([path])), repeats)  # noqa: B023 - called at once
        characters = sum(len(document.text) for document in documents)  # type: ignore[attr-defined]
        rate = {f"{unit}_per_s": round(count / seconds), "chars_per_s": round(characters / seconds)}
        rows.append({"format": name, unit: count} | rate)
    return rows


_PEAK = """
import json, sys
from hybridsearch.loaders import iter_documents
warnings = []
documents = list(iter_documents(sys.argv[1:], warn=warnings.append))
peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM')).split()[1]
print(json.dumps([int(peak) // 1024, sum(len(d.text) for d in documents), warnings[-1] if warnings else ""]))
"""


def peak_rows(folder: Path) -> list[dict[str, object]]:
    """Peak resident memory of a process that loads one hostile file (and of one that loads a tiny text)."""
    (folder / "tiny.txt").write_text("火星は赤い。", encoding="utf-8")
    files = {
        "tiny .txt (baseline)": folder / "tiny.txt",
        ".docx zip bomb (2 GB declared)": write_zip_bomb(folder / "bomb.docx"),
        ".xlsx of 1,000,000 rows": write_long_sheet(folder / "long.xlsx", 1_000_000),
    }
    rows = []
    for name, path in files.items():
        output = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, check=True)
        peak, characters, warning = json.loads(output.stdout)
        rows.append({"file": name, "file_mb": round(path.stat().st_size / 2**20, 1), "peak_mb": int(peak),
                     "chars_read": int(characters), "warning": warning[:100]})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for row in pdf_rows(Path(folder), args.pages, args.repeats):
            print(json.dumps(row, ensure_ascii=False))
        for row in office_rows(Path(folder), args.repeats):
            print(json.dumps(row, ensure_ascii=False))
        for row in peak_rows(Path(folder)):
            print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
