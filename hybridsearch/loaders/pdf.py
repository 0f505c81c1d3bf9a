"""PDF (pypdfium2): the text layer of each page as a reader sees it, with page locations.

Lines that wrap inside a paragraph are joined (no space between Japanese characters, one between Latin
words), also across a page break; running headers, footers and page numbers repeated on the pages are
left out; each page is a region, so a chunk's location names its first and last page, and under the
第N章/第N節/第N条 lines of the text (as in .docx and .txt) its heading path too. A file is
read up to `MAX_PAGES` pages, and a page whose text repeats an earlier page's is left out (a page
tree may list one page thousands of times); warnings say so. With `--ocr`, pages without a text layer
are read by Tesseract (`ocr`) and their regions say so: {"page": 3, "ocr": True}.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from ..locations import Region, article_headings, heading_regions, with_headings
from ..schema import Document
from . import ocr
from .base import FileInfo, LoadContext, SkipFile

__all__ = ["MAX_PAGES", "load_pdf", "reading_text"]

#: pages read from one PDF at most (the rest is a warning)
MAX_PAGES = 10_000

_EDGE_LINES = 2  # lines at the top and bottom of a page that may be a running header or footer
_RUNNING_SHARE = 0.6  # a line on at least this share of pages (3 or more) is a running header/footer
_FULL_LINE = 0.8  # a line at least this share of the page's typical width wraps into the next
_PAGE_NUMBER = re.compile(r"[-–—‐\s(（]*(?:p\.?\s*)?\d{1,4}(?:\s*/\s*\d{1,4})?\s*(?:ページ|頁)?[-–—‐\s)）]*", re.I)
_DIGITS = re.compile(r"\d+")
_TERMINATORS = tuple("。！？!?」』）")


def load_pdf(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    """A PDF: one document of its text layer, one region per page; info fields as metadata."""
    try:
        import pypdfium2 as pdfium
    except ImportError:
        raise SkipFile("reading PDF needs pypdfium2, which this install lacks: pip install pypdfium2") from None
    if b"%PDF-" not in data[:1024]:
        raise SkipFile("not a PDF (no %PDF- header)")
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if "password" in str(error).lower():
            raise SkipFile("encrypted PDF (password protected); not indexed") from None
        raise SkipFile(f"unreadable PDF ({error})") from None
    try:
        count = len(pdf)
        pages = _text_layers(pdf, count, file, context)
        scanned = [number for number, lines in enumerate(pages) if not _has_text(lines)]
        why_not = _read_scans(pdf, pages, scanned, file, context) if scanned else ""
        repeated = _drop_repeated(pages, file)
        info = pdf.get_metadata_dict(skip_empty=True)
    except pdfium.PdfiumError as error:
        raise SkipFile(f"unreadable PDF ({error})") from None
    finally:
        pdf.close()
    text, starts = reading_text(pages)
    if not text.strip():
        raise SkipFile(
            "no text found" + (f"; scanned PDF? {why_not}" if why_not else ", also by OCR" if scanned else "")
        )
    empty = sum(1 for lines in pages if not _has_text(lines)) - repeated
    if empty:
        unread = (
            f"(scanned?); they are not indexed: {why_not}" if why_not else "and OCR read none; they are not indexed"
        )
        file.warn(f"{file.path}: {empty} of {len(pages)} pages have no text layer {unread}")
    read = {number for number in scanned if _has_text(pages[number])}
    pages_read = [
        Region(start, {"page": number + 1, "ocr": True} if number in read else {"page": number + 1})
        for number, start in enumerate(starts)
        if start is not None
    ]
    title = _title(info.get("Title", ""))
    regions = with_headings(pages_read, heading_regions(article_headings(text), title))
    metadata = {"pages": count} | _info_fields(info)
    return [file.document(text, title=title, metadata=metadata, regions=regions)]


def _text_layers(pdf: object, count: int, file: FileInfo, context: LoadContext) -> list[list[str]]:
    """The lines of the text layer of the first `MAX_PAGES` pages."""
    if count > MAX_PAGES:
        file.warn(f"{file.path}: read its first {MAX_PAGES:,} of {count:,} pages; the rest is not indexed")
    pages = []
    for number in range(min(count, MAX_PAGES)):
        context.check_time()
        pages.append(_page_lines(pdf, number))
    return pages


def _read_scans(pdf: object, pages: list[list[str]], scanned: list[int], file: FileInfo, context: LoadContext) -> str:
    """Put in `pages` the lines OCR reads on the pages `scanned` (those without a text layer) with
    --ocr, and say why it read none ("" when it ran)."""
    if not context.config.ocr:
        return "OCR is not run (--ocr reads pages without a text layer with Tesseract)"
    missing = ocr.unavailable()
    if missing:
        return f"--ocr cannot run: {missing}"
    found = ocr.ocr_pages(pdf, scanned, context)
    for number, lines in found.lines.items():
        pages[number] = lines
    seconds = f"{context.config.max_file_seconds:g} s"
    if found.late and not found.lines:
        return f"OCR of its {len(scanned)} scanned pages needs more than {seconds} (--max-file-seconds)"
    if found.late:
        late = _page_list(sorted(found.late))
        file.warn(f"{file.path}: OCR ran out of the file's {seconds} (--max-file-seconds) before {late}; not indexed")
    if found.slow:
        file.warn(f"{file.path}: OCR took over {ocr.PAGE_SECONDS:g} s on {_page_list(found.slow)}; not indexed")
    if found.failed:
        failed = sorted(found.failed)
        file.warn(f"{file.path}: OCR could not read {_page_list(failed)} ({found.failed[failed[0]]}); not indexed")
    return ""


def _drop_repeated(pages: list[list[str]], file: FileInfo) -> int:
    """Empty in `pages` each page repeating an earlier page's text, and count them."""
    seen: set[tuple[str, ...]] = set()
    repeated = 0
    for number, lines in enumerate(pages):
        key = tuple(lines)
        if key in seen and _has_text(lines):
            repeated += 1
            pages[number] = []
        seen.add(key)
    if repeated:
        file.warn(f"{file.path}: {repeated:,} pages repeat an earlier page's text; they are read once")
    return repeated


def _has_text(lines: Sequence[str]) -> bool:
    return any(line.strip() for line in lines)


def _page_list(numbers: Sequence[int]) -> str:
    """ "page 3" or "3 pages (3, 5, 9 …)" of 0-based page numbers."""
    if len(numbers) == 1:
        return f"page {numbers[0] + 1}"
    shown = ", ".join(str(number + 1) for number in numbers[:5])
    return f"{len(numbers)} pages ({shown}{' …' if len(numbers) > 5 else ''})"


def _page_lines(pdf: object, number: int) -> list[str]:
    page = pdf[number]  # type: ignore[index]
    textpage = page.get_textpage()
    try:
        return re.split(r"\r\n|\r|\n", textpage.get_text_range())
    finally:
        textpage.close()
        page.close()


def reading_text(pages: Sequence[Sequence[str]]) -> tuple[str, list[int | None]]:
    """(text, where each page's text starts in it, None for a page without text) from each page's
    lines: running headers and footers dropped, wrapped lines joined."""
    kept = _without_running_lines([[_tidy(line.rstrip()) for line in lines] for lines in pages])
    parts: list[str] = []
    starts: list[int | None] = []
    length = 0
    previous = ""  # the last line written, while it may continue
    for lines in kept:
        typical = _typical_width(lines)
        starts.append(None)
        for line in lines:
            if not line.strip():
                previous = ""
                continue
            if parts:
                joint = _joint(previous, line) if previous else "\n"
                parts.append(joint)
                length += len(joint)
            if starts[-1] is None:
                starts[-1] = length
            parts.append(line)
            length += len(line)
            previous = line if _width(line) >= _FULL_LINE * typical and not line.endswith(_TERMINATORS) else ""
        previous = previous if lines and lines[-1].strip() else ""
    return "".join(parts), starts


def _tidy(line: str) -> str:
    """A line without the spaces an extractor infers from the gap typesetting leaves between Japanese
    and Latin letters or digits (「第 1 条」 → 「第1条」): spacing on the page, not in the text."""
    return _GAP.sub("", line) if " " in line else line


_GAP = re.compile(f"(?<=[{ocr.JAPANESE}]) (?=[0-9A-Za-z])|(?<=[0-9A-Za-z]) (?=[{ocr.JAPANESE}])")


def _without_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Pages without page numbers and without lines (digits aside) repeated at the top or bottom of most pages."""
    edges = [_edge_positions(lines) for lines in pages]
    counts = Counter(key for lines, positions in zip(pages, edges) for key in {_key(lines[i]) for i in positions})
    running = {key for key, count in counts.items() if len(pages) >= 3 and count >= _RUNNING_SHARE * len(pages)}
    kept = []
    for lines, positions in zip(pages, edges):
        dropped = {
            i for i in positions if _key(lines[i]) in running or (len(pages) > 1 and _PAGE_NUMBER.fullmatch(lines[i]))
        }
        kept.append([line for i, line in enumerate(lines) if i not in dropped])
    return kept


def _edge_positions(lines: list[str]) -> list[int]:
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:_EDGE_LINES] + filled[-_EDGE_LINES:]))


def _key(line: str) -> str:
    return _DIGITS.sub("#", " ".join(line.split()))


def _wide(character: str) -> bool:
    """A full-width character (kanji, kana, full-width punctuation): it takes two columns."""
    return unicodedata.east_asian_width(character) in "WF"


def _width(line: str) -> int:
    return sum(2 if _wide(ch) else 1 for ch in line)


def _typical_width(lines: Sequence[str]) -> float:
    """The width of a full line of the page: the 90th percentile of its lines' widths, but at least
    half the widest (on a page of a few lines, short ones such as a title and a 第3章 heading would
    otherwise count as full and run into the next line)."""
    widths = sorted(_width(line) for line in lines if line.strip())
    return max(widths[int(0.9 * (len(widths) - 1))], widths[-1] / 2) if widths else 0.0


def _joint(line: str, following: str) -> str:
    """What joins a wrapped line to the next: nothing between Japanese text, a space between Latin words."""
    last, first = line[-1], following.lstrip()[:1]
    if _wide(last) or _wide(first or " "):
        return ""
    return "" if last == "-" else " "


def _title(title: str) -> str:
    """The info Title, unless it is only a file name (「Microsoft Word - 文書1.docx」)."""
    title = title.removeprefix("Microsoft Word - ").strip()
    return "" if re.search(r"\.(docx?|xlsx?|pptx?|pdf|txt)$", title, re.I) else title


def _info_fields(info: dict[str, str]) -> dict[str, str]:
    fields = {}
    if info.get("Author", "").strip():
        fields["author"] = info["Author"].strip()
    for name, key in (("CreationDate", "created"), ("ModDate", "modified")):
        date = _pdf_date(info.get(name, ""))
        if date:
            fields[key] = date
    return fields


_DATE = re.compile(r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?")


def _pdf_date(value: str) -> str:
    """ISO text of a PDF date (D:20260401090000+09'00' → 2026-04-01T09:00:00); "" if it is not one."""
    match = _DATE.match(value.strip())
    if not match:
        return ""
    defaults = ("", "01", "01", "00", "00", "00")
    year, month, day, hour, minute, second = (part or default for part, default in zip(match.groups(), defaults))
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}"
