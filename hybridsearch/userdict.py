"""A user dictionary: words MeCab should keep whole (勤怠ネット, 経費精算システム), in the format
Elasticsearch's kuromoji reads (everything after the word is optional):

    # word, segmentation, reading, part of speech
    勤怠ネット
    経費精算システム,経費精算 システム,ケイヒセイサン システム,カスタム名詞

Each word becomes one MeCab entry, a proper noun whose cost makes it win wherever it appears (as a
kuromoji user word does); a segmentation with spaces makes BM25 index those parts instead of the
whole word, each read as the tokenizer reads it (so 申込 matches 申し込み, and 経費精算 the query
経費精算 however MeCab cuts it). The words are stored in the index's configuration, so queries are always read with the
dictionary the documents were read with, and a changed dictionary asks for `--rebuild`. They are
compiled once per dictionary into the user cache, in a child process (MeCab's compiler ends the
process it runs in on an error).
"""

from __future__ import annotations

import csv
import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import HybridSearchError, IndexAccessError, InputError
from .textnorm import normalize

__all__ = [
    "MAX_USER_WORDS",
    "UserWord",
    "compiled_dictionary",
    "parse_user_dictionary",
    "read_user_dictionary",
    "user_dictionary_option",
]

#: A user word: its surface (normalised), its reading, then the parts BM25 indexes it as.
UserWord = tuple[str, ...]

#: The most words a user dictionary may hold (they are stored in the index's manifest).
MAX_USER_WORDS = 100_000
#: A user word's MeCab cost: low enough to win over the system dictionary's words wherever it appears.
WORD_COST = -10000
#: The UniDic features of a user word after its part of speech and before its readings.
_PROPER_NOUN = ("名詞", "固有名詞", "一般", "*", "*", "*")


def parse_user_dictionary(text: str, source: str = "user dictionary") -> tuple[UserWord, ...]:
    """The words of a user dictionary's text, each (surface, reading, *parts); `InputError` naming
    `source` and the line for a bad one."""
    words: dict[str, UserWord] = {}
    for number, line in enumerate(text.splitlines(), 1):
        try:
            row = next(csv.reader([line], strict=True), [])
        except csv.Error as error:
            raise InputError(f"{source} line {number}: not a CSV line ({error}).") from None
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        surface = normalize(row[0].strip())
        if not surface or any(character.isspace() for character in surface):
            raise InputError(f"{source} line {number}: a word must be one run of characters without spaces.")
        parts = tuple(normalize(part) for part in row[1].split()) if len(row) > 1 and row[1].strip() else (surface,)
        if "".join(parts) != surface:
            raise InputError(f"{source} line {number}: the segmentation {' '.join(parts)!r} must spell {surface!r}.")
        reading = "".join(row[2].split()) if len(row) > 2 and row[2].strip() else surface
        words[surface] = (surface, reading, *parts)
        if len(words) > MAX_USER_WORDS:
            raise InputError(f"{source}: more than {MAX_USER_WORDS:,} words.")
    return tuple(words.values())


def read_user_dictionary(path: str | Path) -> tuple[UserWord, ...]:
    """The words of a user dictionary file (UTF-8, with or without a BOM); `InputError` if unusable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"Cannot read the user dictionary {path}: {error.strerror or error}.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"The user dictionary {path} is not UTF-8 (byte {error.start}); save it as UTF-8.") from None
    return parse_user_dictionary(text, str(path))


def user_dictionary_option(text: str) -> tuple[UserWord, ...]:
    """What `--user-dictionary FILE` stores: the file's words (none for '')."""
    return read_user_dictionary(text) if text else ()


def compiled_dictionary(words: tuple[UserWord, ...]) -> Path:
    """The compiled MeCab user dictionary of `words`, built into the user cache on first use."""
    from .encoders.embedded_model import cache_dir

    digest = hashlib.sha256(repr(words).encode("utf-8", "surrogatepass")).hexdigest()[:20]
    target = cache_dir() / "user-dictionaries" / f"{digest}.dic"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as work:
            source, built = Path(work) / "user.csv", Path(work) / "user.dic"
            with source.open("w", encoding="utf-8", newline="") as file:
                csv.writer(file, lineterminator="\n").writerows(_entry(word) for word in words)
            _compile(source, built)
            os.replace(built, target)
    except OSError as error:
        raise IndexAccessError(
            f"Cannot write the compiled user dictionary to {target.parent} ({error.strerror or error}); "
            "set HSEARCH_CACHE to a writable folder."
        ) from None
    return target


def _entry(word: UserWord) -> list[str | int]:
    """A MeCab CSV row for a UniDic dictionary (context ids left to the compiler's rewrite rules)."""
    surface, reading = word[0], word[1]
    features = [*_PROPER_NOUN, reading, surface, surface, reading, surface, reading, "固"]
    return [surface, "", "", WORD_COST, *features, "*", "*", "*", "*", reading, reading, reading, reading,
            "*", "*", "0", "*", "*"]  # fmt: skip


def _compile(source: Path, built: Path) -> None:
    import unidic_lite

    arguments = " ".join(
        shlex.quote(str(part))
        for part in ["mecab-dict-index", "-d", unidic_lite.DICDIR, "-u", built, "-f", "utf-8", "-t", "utf-8", source]
    )
    command = [sys.executable, "-c", "import sys, fugashi; fugashi.build_dictionary(sys.argv[1])", arguments]
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=600, cwd=source.parent)
    if done.returncode != 0 or not built.is_file():
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise HybridSearchError(f"Compiling the user dictionary failed: {detail}")
