"""Synonyms for a query's BM25 terms, applied at search time (the Solr / Elasticsearch file format):

    # a comment; blank lines are skipped
    夏休み, 夏季休暇, 夏期休暇     equivalent: a query with any of them also looks for the others
    給料, 賃金 => 給与              explicit: 給料 or 賃金 in a query is looked for as 給与 instead

Each side is a comma-separated list of words or phrases (`\\,` is a comma inside one). A phrase is
read by the index's own tokenizer, so it matches in every spelling and inflection the tokenizer
folds together (問合せ and 問い合わせ are one word already). Only the BM25 side changes: the dense
model reads meaning by itself. The file is read again when it changes, so an edit needs no
`--rebuild`; if an edit breaks it (or the file is gone), searches go on with the last good version (or
none) and a warning is logged.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

__all__ = [
    "MAX_SYNONYMS_BYTES",
    "Expansion",
    "SynonymFile",
    "SynonymRule",
    "parse_synonyms",
    "read_synonyms",
    "synonyms_option",
]

logger = logging.getLogger(__name__)

#: The largest synonyms file read (a generous table of a few hundred thousand lines).
MAX_SYNONYMS_BYTES = 20 * 1024 * 1024

_UNESCAPED_COMMA = re.compile(r"(?<!\\),")

#: A token as the tokenizer tags it: (term, is a content word, ends a run of words).
Tagged = tuple[str, bool, bool]
#: Where a replaced phrase stood: it ends the run, so no word pair spans it.
_GAP: Tagged = ("", False, True)


@dataclass(frozen=True)
class SynonymRule:
    """One line: `inputs` are looked for in a query; the query then also looks for `outputs`
    (equivalent synonyms: both are the whole group) or only for them (`replace`, written `=>`)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    replace: bool


def parse_synonyms(text: str, source: str = "synonyms") -> list[SynonymRule]:
    """The rules of a synonyms file's text; `InputError` naming `source` and the line for a bad line."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sides = line.split("=>")
        if len(sides) > 2:
            raise InputError(f"{source} line {number}: '=>' may appear once in a rule.")
        groups = [_phrases(side) for side in sides]
        if any(not group for group in groups):
            raise InputError(f"{source} line {number}: each side of '=>' needs a word or phrase.")
        if len(groups) == 1 and len(groups[0]) < 2:
            raise InputError(f"{source} line {number}: give two or more words separated by commas, or 'A => B'.")
        inputs, outputs = groups[0], groups[-1]
        rules.append(SynonymRule(inputs, outputs, replace=len(groups) == 2))
    return rules


def _phrases(side: str) -> tuple[str, ...]:
    phrases = (part.replace("\\,", ",").strip() for part in _UNESCAPED_COMMA.split(side))
    return tuple(dict.fromkeys(phrase for phrase in phrases if phrase))


def read_synonyms(path: str | Path) -> list[SynonymRule]:
    """The rules of a synonyms file (UTF-8, with or without a BOM); `InputError` if it cannot be read."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SYNONYMS_BYTES + 1)
    except OSError as error:
        raise InputError(f"Cannot read the synonyms file {path}: {error.strerror or error}.") from None
    if len(data) > MAX_SYNONYMS_BYTES:
        raise InputError(f"The synonyms file {path} is over {MAX_SYNONYMS_BYTES // 2**20} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"The synonyms file {path} is not UTF-8 (byte {error.start}); save it as UTF-8.") from None
    return parse_synonyms(text, str(path))


def synonyms_option(text: str) -> str | None:
    """What `--synonyms FILE` stores: the file's absolute path, once it reads (None for '')."""
    if not text:
        return None
    read_synonyms(text)
    return str(Path(text).resolve())


class SynonymFile:
    """A synonyms file read when first needed and again whenever it changes (its size or time)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._rules: list[SynonymRule] | None = None

    def rules(self) -> tuple[list[SynonymRule], bool]:
        """The current rules, and whether they were (re)read by this call. A file that cannot be read
        or does not parse is a logged warning (once per change of the file), never a failed search:
        the last good rules stay, or none when there were none."""
        try:
            found = self.path.stat()
            stamp: tuple[int, int] | None = (found.st_mtime_ns, found.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if self._rules is not None and stamp == self._stamp:
                return self._rules, False
            try:
                self._rules = read_synonyms(self.path)
            except InputError as error:
                kept = "its last good version" if self._rules else "no synonyms"
                fix = "fix the file, or set another with hsearch index PATH --index INDEX --synonyms FILE ('' for none)"
                logger.warning("%s Searching with %s; %s.", error, kept, fix)
                self._rules = self._rules or []
            self._stamp = stamp
            return self._rules, True


class Expansion:
    """The rules as one tokenizer reads them: each input phrase as the terms of its tokens (matched
    against a query's tokens in a row), each output phrase as the BM25 terms it adds."""

    def __init__(
        self,
        rules: list[SynonymRule],
        tag: Callable[[str], list[Tagged]],
        terms_of: Callable[[list[Tagged]], list[str]],
    ) -> None:
        # each input phrase as the terms of its tokens, filed under its first term (a query looks up
        # only the phrases that start at each of its tokens); an equivalent phrase adds its words but
        # not its word pairs, so a chunk in the query's own wording, which matches its pairs too,
        # stays ahead of one in another; a replacing one adds all its terms
        self._starting: dict[str, list[tuple[tuple[str, ...], list[str], bool]]] = {}
        for rule in rules:
            tagged = {phrase: tag(phrase) for phrase in rule.outputs}
            added = [
                term
                for phrase in rule.outputs
                for term in (terms_of(tagged[phrase]) if rule.replace else _words(tagged[phrase]))
            ]
            for phrase in rule.inputs:
                tokens = tag(phrase)
                if not any(content for _, content, _ in tokens):
                    logger.warning("synonym %r has no word to look for (only particles or symbols); left out", phrase)
                    continue
                sequence = tuple(term for term, _, _ in tokens)
                self._starting.setdefault(sequence[0], []).append((sequence, added, rule.replace))

    def apply(self, tagged: list[Tagged]) -> tuple[list[Tagged], list[str]]:
        """The query's tokens (a replaced phrase's cut out) and the terms its synonyms add."""
        terms = [term for term, _, _ in tagged]
        added: list[str] = []
        replaced: set[int] = set()
        for start, term in enumerate(terms):
            for sequence, adds, replace in self._starting.get(term, ()):
                if tuple(terms[start : start + len(sequence)]) == sequence:
                    added += adds
                    if replace:
                        replaced.update(range(start, start + len(sequence)))
        kept = [_GAP if position in replaced else token for position, token in enumerate(tagged)]
        return kept, added


def _words(tagged: list[Tagged]) -> list[str]:
    return [term for term, content, _ in tagged if content]
