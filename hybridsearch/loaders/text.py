"""Plain text in any common Japanese encoding, and the decoding every text-based loader shares.

Tried in order with strict decoding: byte-order marks, ISO-2022-JP (when its escapes occur), UTF-8,
then CP932 and EUC-JP; charset-normalizer settles the cases strict decoding cannot (a file valid as
both Shift_JIS and EUC-JP). A file that is Japanese text except for a few corrupt bytes (at most 1 %)
is read with those bytes replaced, and says so.
"""

from __future__ import annotations

import codecs

from ..locations import article_headings, heading_regions
from ..schema import Document
from .base import FileInfo, LoadContext, SkipFile

__all__ = ["decode_bytes", "load_text"]

_JAPANESE_LEGACY = ("cp932", "euc_jp")
_ISO2022_MARKERS = (b"\x1b$B", b"\x1b$@", b"\x1b(J", b"\x1b(B", b"\x1b$(Q", b"\x1b$(D")
_CONTROL_OK = frozenset("\t\n\r\f\v")


def load_text(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    """A .txt file: one document, its decoded text; its 第N章/第N条 lines are its heading paths."""
    text, encoding = decoded(data, file)
    return [file.document(text, encoding=encoding, regions=heading_regions(article_headings(text)))]


def decoded(data: bytes, file: FileInfo) -> tuple[str, str]:
    """`decode_bytes`, warning when corrupt bytes had to be replaced."""
    text, encoding = decode_bytes(data)
    if "replaced" in encoding:
        file.warn(f"{file.path}: read as {encoding}")
    return text, encoding


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a file's bytes, line breaks as \\n; raises `SkipFile` for empty, binary or
    undecodable data."""
    if not data.strip():
        raise SkipFile("empty file")
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return _checked(_strict(data, encoding), encoding)
    if b"\x00" in data:
        raise SkipFile("binary file (contains NUL bytes)")
    # ISO-2022-JP is 7-bit, hence also valid UTF-8: its escape sequences must be looked for first
    for encoding in (*(("iso2022_jp_ext",) if any(m in data for m in _ISO2022_MARKERS) else ()), "utf-8"):
        text = _strict(data, encoding)
        if text is not None:
            return _checked(text, encoding)
    fits = {encoding: text for encoding in _JAPANESE_LEGACY if (text := _strict(data, encoding)) is not None}
    if len(fits) == 1:
        encoding, text = next(iter(fits.items()))
        return _checked(text, encoding)
    return _detect(data, list(fits) or None)


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(data: bytes, candidates: list[str] | None) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=candidates).best()
    if best is not None:
        return _checked(str(best), best.encoding)
    return _checked(*_mostly_japanese(data))


def _mostly_japanese(data: bytes) -> tuple[str, str]:
    """UTF-8, CP932 or EUC-JP text with a few corrupt bytes (at most 1 %), those bytes replaced by U+FFFD."""
    best: tuple[int, str, str] | None = None
    for encoding in ("utf-8", *_JAPANESE_LEGACY):
        text = data.decode(encoding, errors="replace")
        bad = text.count("\ufffd") - (data.count("\ufffd".encode()) if encoding == "utf-8" else 0)
        if best is None or bad < best[0]:
            best = (bad, text, encoding)
    bad, text, encoding = best  # type: ignore[misc]
    if bad > max(1, len(text) // 100):
        raise SkipFile("undecodable (not UTF-8, UTF-16, Shift_JIS/CP932, EUC-JP or ISO-2022-JP)")
    return text, f"{encoding}, {bad} corrupt byte sequence(s) replaced"


def _checked(text: str | None, encoding: str) -> tuple[str, str]:
    if text is None:
        raise SkipFile(f"undecodable despite its {encoding} byte-order mark")
    sample = text[:20000]
    controls = sum(1 for ch in sample if ch < " " and ch not in _CONTROL_OK)
    if controls > max(8, len(sample) // 100):
        raise SkipFile(f"binary file ({controls} control characters in the first {len(sample)})")
    if not text.strip():
        raise SkipFile("no text")
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding
