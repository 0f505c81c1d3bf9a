"""What a file's leading bytes say it is, checked against its suffix before any loader reads it.

A PDF named `.md`, a Word file named `.txt`, a picture or a program under a document's name would
otherwise be read as text (PDF syntax, zip bytes) or handed to the wrong parser; such a file is
skipped with a reason that names what it really is.
"""

from __future__ import annotations

__all__ = ["mismatch"]

_PDF = "a PDF document"
_ZIP = "a zip package (an Office file or an archive)"
_OLE = "a legacy or encrypted Office file (Compound File)"

#: leading bytes → what they are
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", _PDF),
    (b"PK\x03\x04", _ZIP),
    (b"PK\x05\x06", _ZIP),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", _OLE),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"\xcf\xfa\xed\xfe", "an executable (Mach-O)"),
    (b"\xfe\xed\xfa\xcf", "an executable (Mach-O)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

#: what each kind of file may be besides text (Office loaders explain an OLE file themselves; an old
#: .doc/.xls/.ppt is a Compound File, or a modern package under an old name; Word's RTF and HTML
#: files named .doc, and HTML tables named .xls, are text and pass as they are)
_EXPECTED = {
    ".pdf": {_PDF},
    ".doc": {_OLE, _ZIP},
    ".xls": {_OLE, _ZIP},
    ".ppt": {_OLE, _ZIP},
    ".docx": {_ZIP, _OLE},
    ".xlsx": {_ZIP, _OLE},
    ".xlsm": {_ZIP, _OLE},
    ".pptx": {_ZIP, _OLE},
}


def mismatch(data: bytes, suffix: str) -> str:
    """Why a file ending in `suffix` whose bytes are `data` is not what its name says ("" when it may be)."""
    found = _kind(data)
    if found is None or found in _EXPECTED.get(suffix.lower(), set()):
        return ""
    return f"its content is {found}, not a {suffix.lower()} file; not indexed"


def _kind(data: bytes) -> str | None:
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "a WebP image"
    if data.startswith(b"MZ") and len(data) >= 64:  # a Windows program names its PE header at 0x3C
        header = int.from_bytes(data[60:64], "little")
        if data[header : header + 4] == b"PE\x00\x00":
            return "an executable (Windows)"
    return None
