"""Old Office files (.doc, .xls, .ppt): converted by LibreOffice, when it is installed, to .docx,
.xlsx or .pptx and read by those loaders, so a hit names its heading path, sheet and cells, or slide
as in the modern formats; the document keeps the original's path and type (`doc`, `xls`, `ppt`).

Each conversion runs `soffice --headless --convert-to` on a copy of the file's bytes in a private
temporary folder, with a fresh LibreOffice profile of its own (two conversions at once never share
one), no shell, and the time left of the file's `--max-file-seconds`; past it the whole process
group is killed. The folder, profile included, is removed afterwards. Macros never run: see
`_PROFILE_SETTINGS`.

Without LibreOffice such a file is not an error of the run: it is counted with the types no loader
reads, and one warning per run says which packages to install. A file that LibreOffice cannot read
(damaged, or password protected: the reason says which) is skipped with a reason. A .docx saved
under an old name (its bytes a zip package) is read by the modern loader directly; Word's RTF and
HTML files named .doc, and HTML tables named .xls, are what LibreOffice converts as well.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from ..schema import Document
from .base import FileInfo, LoadContext, Loader, SkipFile, Unsupported, Warn
from .slides import load_pptx
from .word import load_docx
from .workbook import load_xlsx

__all__ = ["LIBREOFFICE_PACKAGES", "convert", "find_soffice", "load_legacy"]

#: the Debian/Ubuntu packages that convert .doc, .xls and .ppt (no desktop needed)
LIBREOFFICE_PACKAGES = "libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui"

#: old suffix → (the modern suffix, LibreOffice's export filter to it, the loader of the result, what it is)
_TARGETS: dict[str, tuple[str, str, Loader, str]] = {
    ".doc": (".docx", "MS Word 2007 XML", load_docx, "Word 97–2003 document"),
    ".xls": (".xlsx", "Calc MS Excel 2007 XML", load_xlsx, "Excel 97–2003 workbook"),
    ".ppt": (".pptx", "Impress MS PowerPoint 2007 XML", load_pptx, "PowerPoint 97–2003 deck"),
}
#: where LibreOffice lives when it is not on PATH (the macOS and Windows installers put it there)
_KNOWN_PLACES = (
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
    r"C:\Program Files\LibreOffice\program\soffice.exe",
)
_OPTIONS = ("--headless", "--norestore", "--nolockcheck", "--nologo", "--nodefault")

# What guarantees that no macro runs: `--convert-to` opens a document read-only, hidden and
# silent, with no interaction handler and no MacroExecutionMode (LibreOffice's
# desktop/source/app/dispatchwatcher.cxx), which is NEVER_EXECUTE: checked with a document whose
# Open event runs a Basic macro, which did not run even at macro security level Low. The profile
# written below makes sure of it whatever a load asks: DisableMacrosExecution turns every macro
# off (checked: the same macro stays off when the load asks for ALWAYS_EXECUTE_NO_WARN), the
# security level is Very High with no trusted locations, and VBA code is not even imported. Links
# to other files are never updated and linked pictures from untrusted documents are not fetched.
_PROFILE_SETTINGS = {
    "/org.openoffice.Office.Common/Security/Scripting": {
        "DisableMacrosExecution": "true",
        "MacroSecurityLevel": "3",
        "BlockUntrustedRefererLinks": "true",
    },
    "/org.openoffice.Office.Writer/Filter/Import/VBA": {"Load": "false", "Executable": "false"},
    "/org.openoffice.Office.Calc/Filter/Import/VBA": {"Load": "false", "Executable": "false"},
    "/org.openoffice.Office.Impress/Filter/Import/VBA": {"Load": "false"},
    "/org.openoffice.Office.Writer/Content/Update": {"Link": "0"},  # never (sw's UpdateLinks)
    "/org.openoffice.Office.Calc/Content/Update": {"Link": "1"},  # never (sc's ScLkUpdMode)
}

#: what a .doc, .xls or .ppt file starts with: the Compound File signature
_COMPOUND_FILE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: the warning channels (one per run) already told that LibreOffice is missing
_TOLD: weakref.WeakSet[Warn] = weakref.WeakSet()


def load_legacy(data: bytes, file: FileInfo, context: LoadContext) -> list[Document]:
    """A .doc, .xls or .ppt file: converted by LibreOffice and read by the .docx, .xlsx or .pptx loader."""
    suffix = file.suffix.lower()
    modern, _, loader, _ = _TARGETS[suffix]
    if data.startswith(b"PK"):  # a modern file under an old name: no conversion needed
        return loader(data, file, context)
    if not data.startswith(_COMPOUND_FILE):
        # only the binary format goes to LibreOffice: HTML or RTF under an old name may make it fetch
        # addresses (a stylesheet link), and text or random bytes come back as garbled text
        raise SkipFile(f"not an Office 97–2003 {suffix} file (its content is text or another format); not indexed")
    soffice = find_soffice()
    if soffice is None:
        _tell_missing(context.warn)
        raise Unsupported(f"reading {suffix} files needs LibreOffice")
    return loader(convert(data, suffix, context, soffice), file, context)


def find_soffice() -> str | None:
    """LibreOffice's `soffice` (on PATH, or where the macOS and Windows installers put it), or None."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    return found or next((place for place in _KNOWN_PLACES if os.path.isfile(place)), None)


def convert(data: bytes, suffix: str, context: LoadContext, soffice: str) -> bytes:
    """The bytes of `data` (a `suffix` file: ".doc", ".xls", ".ppt") converted by LibreOffice to
    the modern format, within the time left of the file's limit; `SkipFile` says why not."""
    modern, export_filter, _, kind = _TARGETS[suffix]
    context.check_time()
    left = context.config.max_file_seconds - (time.monotonic() - context.started)
    with tempfile.TemporaryDirectory(prefix="hsearch-legacy-") as folder:  # private: mode 0700
        work = Path(folder)
        source, out, profile = work / f"document{suffix}", work / "out", work / "profile"
        source.write_bytes(data)
        _write_profile(profile)
        command = [
            soffice, f"-env:UserInstallation={profile.as_uri()}", *_OPTIONS,
            "--convert-to", f"{modern.lstrip('.')}:{export_filter}", "--outdir", str(out), str(source),
        ]  # fmt: skip
        said = _run(command, left, context)
        result = out / f"document{modern}"
        if not result.is_file():
            raise SkipFile(_failure(data, kind, said))
        return result.read_bytes()


def _run(command: list[str], seconds: float, context: LoadContext) -> str:
    """Run `command` in a process group of its own, killed whole past `seconds`; what it printed."""
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        printed, _ = process.communicate(timeout=max(seconds, 0.1))
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        raise SkipFile(
            f"LibreOffice took over {context.config.max_file_seconds:g} s to convert it (the limit per file, "
            "--max-file-seconds); not indexed"
        ) from None
    finally:
        _kill_group(process)  # whatever it left behind
    return printed.decode("utf-8", "replace")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # Windows: no process groups; LibreOffice's launcher only
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _write_profile(profile: Path) -> None:
    """A fresh LibreOffice user profile holding only `_PROFILE_SETTINGS`."""
    items = "".join(
        f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse"><value>{value}</value></prop></item>\n'
        for path, settings in _PROFILE_SETTINGS.items()
        for name, value in settings.items()
    )
    user = profile / "user"
    user.mkdir(parents=True)
    (user / "registrymodifications.xcu").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n' + items + "</oor:items>\n",
        encoding="utf-8",
    )


def _failure(data: bytes, kind: str, said: str) -> str:
    """Why LibreOffice made nothing of `data`: password protected, or damaged (with what it said)."""
    if encrypted(data):
        return "encrypted (password protected); not indexed"
    lines = [
        line.strip().removeprefix("Error: ") for line in said.splitlines() if line.strip() and "javaldx" not in line
    ]
    detail = f" ({lines[-1]})" if lines else ""
    return f"LibreOffice could not convert it{detail}: damaged, or not a {kind}; not indexed"


def _tell_missing(warn: Warn) -> None:
    """Warn once per run (per warning channel) that .doc, .xls and .ppt files need LibreOffice."""
    try:
        if warn in _TOLD:
            return
        _TOLD.add(warn)
    except TypeError:  # a channel that cannot be weakly referenced (a builtin's method): told each time
        pass
    warn(
        "reading .doc, .xls and .ppt files needs LibreOffice, which is not installed (no soffice on PATH); "
        "they are counted as not read. Install it, e.g. on Debian or Ubuntu: "
        f"apt install {LIBREOFFICE_PACKAGES}"
    )


# ---- password protection: just enough of a Compound File (MS-CFB) to read its streams' first bytes


def encrypted(data: bytes) -> bool:
    """Whether `data`, a Compound File, says it is password protected: an encrypted .docx/.xlsx/.pptx
    package, a .doc whose FIB is marked encrypted, a .xls with a FILEPASS record, a .ppt whose
    current-user record carries the encrypted token."""
    try:
        compound = _Compound(data)
        if "EncryptedPackage" in compound.streams:
            return True
        word = compound.read("WordDocument", 12)
        if len(word) == 12 and _u16(word, 0) in (0xA5EC, 0xA5DC) and _u16(word, 10) & 0x0100:
            return True
        if _has_filepass(compound.read("Workbook", 4096) or compound.read("Book", 4096)):
            return True
        user = compound.read("Current User", 16)
        return len(user) == 16 and _u32(user, 12) == 0xF3D1C4DF
    except (ValueError, IndexError, struct.error):
        return False


_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MARKERS = 0xFFFFFFFA  # sector numbers from here up end a chain or mark free and FAT sectors


class _Compound:
    """A Compound File's directory and sector chains (ValueError when they are malformed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        shift = _u16(data, 0x1E)
        if len(data) < 512 or not data.startswith(_OLE) or shift not in (9, 12):
            raise ValueError("not a Compound File")
        self.size = 1 << shift
        sectors = len(data) // self.size
        needed = sectors // (self.size // 4) + 1  # FAT sectors enough to chain every sector of the file
        listed = [_u32(data, 0x4C + 4 * i) for i in range(109)]
        difat, read = _u32(data, 0x44), 0
        while difat < _MARKERS and read < _u32(data, 0x48) and len(listed) < needed:
            block = self._sector(difat)
            listed += _u32s(block)[:-1]
            difat, read = _u32(block, self.size - 4), read + 1
        self.fat: list[int] = []
        for number in listed[: min(_u32(data, 0x2C), needed)]:
            if number < _MARKERS:
                self.fat += _u32s(self._sector(number))
        self.streams: dict[str, tuple[int, int]] = {}
        root = (0, 0)
        directory = self._chain(_u32(data, 0x30), sectors * self.size)
        for offset in range(0, len(directory) - 127, 128):
            entry = directory[offset : offset + 128]
            length, kind = _u16(entry, 0x40), entry[0x42]
            name = entry[: max(length - 2, 0)].decode("utf-16-le", "replace")
            if kind == 5 and offset == 0:
                root = (_u32(entry, 0x74), _u32(entry, 0x78))
            elif kind == 2:
                self.streams.setdefault(name, (_u32(entry, 0x74), _u32(entry, 0x78)))
        self.cutoff = _u32(data, 0x38)
        self.mini_fat = _u32s(self._chain(_u32(data, 0x3C), sectors * self.size))
        self.mini = self._chain(root[0], root[1]) if root[1] else b""

    def read(self, name: str, size: int) -> bytes:
        """The first `size` bytes of stream `name` (fewer if it is shorter; b"" if there is none)."""
        if name not in self.streams:
            return b""
        start, length = self.streams[name]
        size = min(size, length)
        if length >= self.cutoff:
            return self._chain(start, size)[:size]
        parts: list[bytes] = []
        number = start
        for _ in range(len(self.mini_fat) + 1):  # a chain longer than the table loops
            if number >= _MARKERS or sum(map(len, parts)) >= size:
                break
            parts.append(self.mini[number * 64 : number * 64 + 64])
            number = self.mini_fat[number] if number < len(self.mini_fat) else _MARKERS
        return b"".join(parts)[:size]

    def _chain(self, start: int, size: int) -> bytes:
        """At least `size` bytes of the chain of sectors from `start` (all of it if shorter)."""
        parts: list[bytes] = []
        number = start
        for _ in range(len(self.fat) + 1):
            if number >= _MARKERS or len(parts) * self.size >= size:
                break
            parts.append(self._sector(number))
            number = self.fat[number] if number < len(self.fat) else _MARKERS
        return b"".join(parts)

    def _sector(self, number: int) -> bytes:
        offset = (number + 1) * self.size
        if offset + self.size > len(self.data):
            raise ValueError(f"sector {number} lies past the end of the file")
        return self.data[offset : offset + self.size]


def _has_filepass(book: bytes) -> bool:
    """Whether a workbook stream's first records hold FILEPASS (it follows the globals' BOF)."""
    offset = 0
    while offset + 4 <= len(book):
        kind, length = _u16(book, offset), _u16(book, offset + 2)
        if kind == 0x002F:
            return True
        if kind in (0x000A, 0x0085):  # EOF, BOUNDSHEET: past where FILEPASS would be
            return False
        offset += 4 + length
    return False


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "little") if offset + 2 <= len(data) else 0


def _u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "little") if offset + 4 <= len(data) else _MARKERS


def _u32s(block: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(block) // 4}I", block[: len(block) // 4 * 4]))
