"""OCR of PDF pages without a text layer (`--ocr`): Tesseract 5 with its Japanese data reads each page.

A page is rendered at `DPI` with pypdfium2 and handed, as a TIFF on stdin, to the `tesseract` command
(Debian packages tesseract-ocr and tesseract-ocr-jpn) in a process of its own, a few pages at a time,
each single-threaded (OMP_THREAD_LIMIT=1: on two cores, Tesseract's own threads made a page 1.6–2×
slower). A page may take `PAGE_SECONDS`, and no page runs past the file's time limit
(--max-file-seconds); a page that is too slow or that Tesseract cannot read is left out and
reported. Identical page images are read once. The lines come back without the spaces Tesseract
puts next to Japanese characters.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .base import LoadContext

__all__ = ["DPI", "INSTALL", "JAPANESE", "PAGE_SECONDS", "PageTexts", "japanese_spacing", "ocr_pages", "unavailable"]

#: resolution pages are rendered at for Tesseract (it reads body text best at about 300 dpi)
DPI = 300
#: the most pixels one rendered page has (a poster-sized page is rendered at a lower resolution)
MAX_PIXELS = 40_000_000
#: the seconds Tesseract may take to read one page
PAGE_SECONDS = 20.0
#: what a Debian or Ubuntu system needs for --ocr
INSTALL = "apt install tesseract-ocr tesseract-ocr-jpn"
#: Tesseract's page segmentation: 3 = find the columns and blocks of the page itself
_PSM = "3"
_LANGUAGE = "jpn"

#: kana, kanji, full-width forms: Japanese is written without spaces between words
JAPANESE = "\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff01-\uff60"
_SPACED = re.compile(f" +(?=[{JAPANESE}])|(?<=[{JAPANESE}]) +")


@dataclass
class PageTexts:
    """What OCR read of some pages: the lines of each page read (by 0-based page number), the
    pages that took longer than `PAGE_SECONDS`, the pages Tesseract failed on (with why), and the
    pages not read before the file's time (`max_file_seconds`) ran out."""

    lines: dict[int, list[str]] = field(default_factory=dict)
    slow: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    late: list[int] = field(default_factory=list)


def unavailable() -> str:
    """Why --ocr cannot run here ("" when it can): no `tesseract` command, or no Japanese data for it."""
    command = shutil.which("tesseract")
    if command is None:
        return f"the tesseract command is not installed ({INSTALL})"
    try:
        found = subprocess.run(
            [command, "--list-langs"], capture_output=True, timeout=30, check=False, env=_environment()
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"the tesseract command does not run ({error}); reinstall it ({INSTALL})"
    languages = found.stdout.decode("utf-8", "replace").split()
    if _LANGUAGE not in languages:
        return f"Tesseract has no Japanese data ({_LANGUAGE}.traineddata; {INSTALL})"
    return ""


def japanese_spacing(line: str) -> str:
    """`line` without the spaces next to Japanese characters: 「第1条 (目的) この 規程」 → 「第1条(目的)この規程」."""
    return _SPACED.sub("", line) if " " in line else line


def ocr_pages(pdf: Any, numbers: Sequence[int], context: LoadContext, workers: int = 0) -> PageTexts:
    """The text lines of pages `numbers` (0-based) of the open pypdfium2 document `pdf`, read by
    Tesseract in up to `workers` processes at once (0: one per CPU, at most 4); once the file's time
    is up, the pages left are `late` (what was read is kept)."""
    command = shutil.which("tesseract") or "tesseract"
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    found = PageTexts()
    deadline = context.started + context.config.max_file_seconds
    read: dict[str, Future[list[str] | str | None]] = {}  # a page image's digest → its reading
    waiting: deque[tuple[int, Future[list[str] | str | None]]] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="hsearch-ocr")

    def collect(number: int, reading: Future[list[str] | str | None]) -> None:
        result = reading.result()
        if result is None:  # the page's time ran out, or the file's
            (found.late if time.monotonic() >= deadline else found.slow).append(number)
        elif isinstance(result, str):
            found.failed[number] = result
        else:
            found.lines[number] = result

    try:
        for position, number in enumerate(numbers):
            if time.monotonic() >= deadline:
                found.late.extend(numbers[position:])
                break
            image = _render(pdf, number)
            digest = hashlib.sha256(image).hexdigest()
            if digest not in read:
                read[digest] = pool.submit(_tesseract, command, image, deadline)
            waiting.append((number, read[digest]))
            while len(waiting) > workers or (waiting and waiting[0][1].done()):
                collect(*waiting.popleft())
        while waiting:
            collect(*waiting.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a running page stops at the file's deadline at the latest
    return found


def _render(pdf: Any, number: int) -> bytes:
    """Page `number` as a grayscale TIFF at `DPI` (less for a page larger than `MAX_PIXELS` at that),
    its resolution written in it for Tesseract."""
    page = pdf[number]
    try:
        width, height = page.get_size()  # in points, 1/72 inch
        scale = min(DPI / 72, (MAX_PIXELS / max(width * height, 1.0)) ** 0.5)
        bitmap = page.render(scale=scale, grayscale=True)
        try:
            image = bitmap.to_pil()
            buffer = io.BytesIO()
            image.save(buffer, format="TIFF", dpi=(scale * 72, scale * 72))  # uncompressed: nothing to pack
            return buffer.getvalue()
        finally:
            bitmap.close()
    finally:
        page.close()


def _environment() -> dict[str, str]:
    """This process's environment, Tesseract single-threaded: pages run side by side instead."""
    return os.environ | {"OMP_THREAD_LIMIT": "1"}


def _tesseract(command: str, image: bytes, deadline: float) -> list[str] | str | None:
    """The lines Tesseract reads in `image`; None when it ran out of time (its own, or the file's),
    or why it failed."""
    limit = min(PAGE_SECONDS, deadline - time.monotonic())
    if limit <= 0:
        return None
    arguments = [command, "stdin", "stdout", "-l", _LANGUAGE, "--psm", _PSM]
    try:
        done = subprocess.run(
            arguments, input=image, capture_output=True, timeout=limit, check=False, env=_environment()
        )
    except subprocess.TimeoutExpired:
        return None
    except OSError as error:
        return f"tesseract did not run ({error})"
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"tesseract exited with {done.returncode}" + (f": {message[-1]}" if message else "")
    text = done.stdout.decode("utf-8", "replace").replace("\f", "")
    return [japanese_spacing(line.strip()) for line in text.splitlines()]
