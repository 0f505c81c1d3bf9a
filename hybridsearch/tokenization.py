"""Text → BM25 terms with MeCab (fugashi + unidic-lite).

The text is normalised (`textnorm`), tagged, and content words are kept: particles (助詞),
auxiliaries (助動詞), symbols and whitespace are dropped, except unknown tokens that contain a
letter (rare kanji such as 𩸽, which unidic-lite would otherwise file under symbols). The term
is the surface form, UniDic's orthographic base form, or its lemma (`TermForm`).

Word pairs (`TokenizerConfig.word_pairs`): each two content words that follow each other with
only particles or auxiliaries between them are also one term, "A B" (a space never occurs inside
a MeCab word). MeCab cuts text into short units, so a compound (日本共産党 → 日本 / 共産 / 党), a
katakana name it does not know (サラザール → サラ / ザール) and a phrase with の (火星の衛星) all
come apart; the pair terms let a passage that keeps those words together outscore one that merely
contains them. Punctuation and symbols end a run, so no pair spans two sentences or clauses; the
middle dot of a name does not (ジョン・ニーダム → "ジョン ニーダム"), and neither does a line break,
so a title's last word pairs with its chunk's first (measured: bench/README.md).

A query whose words are all filtered out (say 「ですか?」) falls back to its unfiltered terms, so
a BM25 query is never empty.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import TermForm, TokenizerConfig
from .errors import EmptyQueryError, HybridSearchError
from .synonyms import Expansion, SynonymFile
from .textnorm import normalize
from .userdict import compiled_dictionary

if TYPE_CHECKING:
    import fugashi

__all__ = [
    "DROPPED_POS",
    "LIGHT_WORDS",
    "PAIR_SEPARATOR",
    "PARALLEL_MIN_TEXTS",
    "QUESTION_WORDS",
    "Tokenizer",
    "analyse",
    "count_terms",
    "serve_worker",
]

#: From this many texts on, `count_terms` tags in one process per CPU core.
PARALLEL_MIN_TEXTS = 4000
#: Texts each worker process tags at a time when many texts are tokenized in parallel.
TAG_BATCH = 500

#: UniDic top-level parts of speech that never become BM25 terms.
DROPPED_POS = frozenset({"助詞", "助動詞", "補助記号", "記号", "空白"})
#: Of those, the ones that end a run of words (no word pair spans them).
_BREAKING_POS = frozenset({"補助記号", "記号", "空白"})
#: The middle dot joins the parts of a name (ジョン・ニーダム), so it does not end a run of words.
_NAME_DOT = "・"
#: Joins the two words of a word-pair term.
PAIR_SEPARATOR = " "

#: Words that make a query a question (何, 誰, いつ…): they say what is asked, not what it is about.
#: Each as written and as UniDic's lemma spells it (いつ → 何時, どこ → 何処, どちら → 何方, いくら → 幾ら).
QUESTION_WORDS = frozenset(
    {"何", "なに", "なん", "誰", "だれ", "どこ", "何処", "いつ", "何時", "いつ頃", "何時頃", "どれ", "何れ",
     "どちら", "どっち", "どなた", "何方", "どの", "何の", "どう", "どんな", "なぜ", "何故", "いくつ", "幾つ",
     "いくら", "幾ら", "如何"}
)  # fmt: skip

#: Content words too light to mark in a hit (they still count for BM25): する, ある, いる, なる, できる,
#: いい, ない, こと, もの, よう, ため, 日, in each term form's spelling.
LIGHT_WORDS = frozenset(
    {"為る", "する", "居る", "いる", "有る", "ある", "成る", "なる", "出来る", "できる", "良い", "いい", "よい",
     "無い", "ない", "事", "こと", "物", "もの", "様", "よう", "為", "ため", "日"}
)  # fmt: skip

_LOANWORD_GLOSS = re.compile(r"-[A-Za-z][A-Za-z_ ]*$")  # UniDic lemma "コンピューター-computer"


_taggers = threading.local()  # a MeCab tagger is not thread-safe; one per thread and user dictionary


def _tagger(user_dictionary: Path | None) -> fugashi.Tagger:
    found: dict[Path | None, fugashi.Tagger] = _taggers.__dict__.setdefault("by_dictionary", {})
    tagger = found.get(user_dictionary)
    if tagger is None:
        import fugashi
        import unidic_lite

        arguments = f'-d "{unidic_lite.DICDIR}"' + (f' -u "{user_dictionary}"' if user_dictionary else "")
        tagger = found[user_dictionary] = fugashi.Tagger(arguments)
    return tagger


class Tokenizer:
    """Turns text into BM25 terms. Safe to share between threads: each thread tags with its own MeCab
    tagger, created on its first use and shared by every Tokenizer of that thread with the same user
    dictionary (`userdict`). Queries get the synonyms of `config.synonyms` (`synonyms`)."""

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        words = self.config.user_dictionary
        self._user_dictionary = compiled_dictionary(words) if words else None
        self._segmentations = {word[0]: word[2:] for word in words if word[2:] != (word[0],)}
        self._parts: dict[str, list[tuple[str, bool, bool]]] | None = None
        self._synonyms = SynonymFile(self.config.synonyms) if self.config.synonyms else None
        self._expansion: Expansion | None = None

    @property
    def tagger(self) -> fugashi.Tagger:
        return _tagger(self._user_dictionary)

    def document_terms(self, text: str) -> list[str]:
        """Content-word terms of a document chunk, then its word pairs (may be empty)."""
        return self.terms_of(self.tagged(text))

    def query_terms(self, text: str) -> list[str]:
        """Content-word terms of a query (question words dropped) and its word pairs, or all its
        words when no content word is left; then the terms its synonyms add."""
        own, added = self.expanded_query(text)
        return own + added

    def expanded_query(self, text: str) -> tuple[list[str], list[str]]:
        """A query's own terms (`query_terms` without synonyms, less a phrase a `=>` rule replaces) and
        the terms its synonyms add."""
        if not text.strip():
            raise EmptyQueryError("The query is empty; give some words to search for.")
        tagged = self.tagged(text)
        kept, added = self._with_synonyms(tagged)
        if self.config.drop_question_words:
            # a dropped question word joins its neighbours: 火星の何の衛星 → 火星 衛星
            kept = [word for word in kept if not (word[1] and word[0] in QUESTION_WORDS)]
        return self.terms_of(kept) or ([] if added else [term for term, _, _ in tagged]), added

    def _with_synonyms(self, tagged: list[tuple[str, bool, bool]]) -> tuple[list[tuple[str, bool, bool]], list[str]]:
        """The query's tokens once its synonym rules apply (a replaced phrase cut out), and the terms they add."""
        if self._synonyms is None:
            return tagged, []
        rules, changed = self._synonyms.rules()
        if changed or self._expansion is None:
            self._expansion = Expansion(rules, self.tagged, self.terms_of)
        return self._expansion.apply(tagged)

    def terms_of(self, tagged: list[tuple[str, bool, bool]]) -> list[str]:
        """The content words of tagged tokens, then (with `word_pairs`) the pairs within each run."""
        words = [term for term, content, _ in tagged if content]
        if not self.config.word_pairs:
            return words
        pairs, previous = [], None
        for term, content, breaks in tagged:
            if breaks:
                previous = None
            elif content:
                if previous is not None:
                    pairs.append(f"{previous}{PAIR_SEPARATOR}{term}")
                previous = term
        return words + pairs

    def term_spans(self, normalized: str, wanted: Collection[str] | None = None) -> list[tuple[str, int, int]]:
        """(term, start, end) of every content word of already-normalised text, offsets into it; with
        `wanted`, only the words whose term is one of those (found faster)."""
        spans, position = [], 0
        form = self.config.term_form
        # a word's term is its surface or a field of its raw feature record: skip the rest unparsed
        probe = re.compile("|".join(map(re.escape, sorted(wanted, key=len, reverse=True)))) if wanted else None
        for word in self.tagger(normalized):
            position += len(word.white_space)
            end = position + len(word.surface)
            if wanted is None or (probe and (word.surface in wanted or probe.search(word.feature_raw))):
                term, content, _ = analyse(word, form)
                if content and (wanted is None or term in wanted):
                    spans.append((term, position, end))
            position = end
        return spans

    def tagged(self, text: str) -> list[tuple[str, bool, bool]]:
        """(term, is a content word, ends a run of words) for each MeCab token of normalised `text`
        (with `terms_of`, what a subclass overrides to try another term rule: bench/ablate.py)."""
        tagged = self._analysed(normalize(text))
        if not self._segmentations:
            return tagged
        if self._parts is None:  # each part read as the tokenizer reads it, so a query of it alone matches
            self._parts = {word: [token for part in parts for token in self._analysed(part)]
                           for word, parts in self._segmentations.items()}  # fmt: skip
        split: list[tuple[str, bool, bool]] = []
        for token in tagged:  # a user word with a segmentation is indexed as its parts
            split += self._parts.get(token[0], [token])
        return split

    def _analysed(self, normalized: str) -> list[tuple[str, bool, bool]]:
        form = self.config.term_form
        return [analyse(word, form) for word in self.tagger(normalized)]


def analyse(word: Any, form: TermForm) -> tuple[str, bool, bool]:
    """(term, is a content word, ends a run of words) of one MeCab token; its features are parsed once."""
    surface: str = word.surface
    feature = word.feature
    pos = feature.pos1 or ""
    if word.is_unk:
        # unidic-lite tags unknown characters outside its dictionary, such as the rare kanji 𩸽 or the
        # 𠮷 of 𠮷野家, as symbols (補助記号); an unknown token with a letter in it is kept as a word
        content = any(ch.isalpha() for ch in surface) or pos not in DROPPED_POS
        return surface, content, not content and pos in _BREAKING_POS
    content = pos not in DROPPED_POS
    breaks = pos in _BREAKING_POS and surface != _NAME_DOT
    if form is TermForm.SURFACE:
        return surface, content, breaks
    value = feature.orthBase if form is TermForm.BASE else feature.lemma
    if not value or value == "*":
        return surface, content, breaks
    return (_LOANWORD_GLOSS.sub("", value) if form is TermForm.LEMMA else value), content, breaks


def count_terms(
    texts: Sequence[str], config: TokenizerConfig, progress: Callable[[int], None] | None = None
) -> list[Counter[str]]:
    """Each text's document-term counts, in order; many texts are tagged by a worker process per CPU
    core (`python -c`, so the caller's script is never imported again: no main guard is needed)."""
    workers = min(os.cpu_count() or 1, -(-len(texts) // TAG_BATCH))
    batches = [texts[start : start + TAG_BATCH] for start in range(0, len(texts), TAG_BATCH)]
    if len(texts) < PARALLEL_MIN_TEXTS or workers < 2 or not sys.executable:
        tokenizer, counted = Tokenizer(config), []
        for batch in batches:
            counted += _counts(tokenizer, batch)
            if progress:
                progress(len(batch))
        return counted
    return _in_workers(batches, config, workers, progress)


def _in_workers(
    batches: list[Sequence[str]], config: TokenizerConfig, workers: int, progress: Callable[[int], None] | None
) -> list[Counter[str]]:
    """Tag `batches` in `workers` child processes, a thread feeding each one batch at a time."""
    import queue
    import subprocess

    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    settings = _encode(asdict(config))
    results: list[list[Counter[str]] | None] = [None] * len(batches)
    todo: queue.Queue[int] = queue.Queue()
    for number in range(len(batches)):
        todo.put(number)
    done: queue.Queue[tuple[int, BaseException | None]] = queue.Queue()

    def feed(child: subprocess.Popen[bytes]) -> None:
        assert child.stdin is not None and child.stdout is not None
        try:
            child.stdin.write(settings)
            while True:
                try:
                    number = todo.get_nowait()
                except queue.Empty:
                    return
                child.stdin.write(_encode(list(batches[number])))
                child.stdin.flush()
                reply = child.stdout.readline()
                if not reply:
                    raise RuntimeError(f"a tokenizer worker stopped (exit status {child.wait()})")
                results[number] = [Counter(counts) for counts in _decode(reply)]  # as `_counts` returns them
                done.put((number, None))
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            done.put((-1, error))

    command = [sys.executable, "-c", "from hybridsearch.tokenization import serve_worker; serve_worker()"]
    # run in the package's parent folder: `-c` puts the working folder first on sys.path, and a
    # `hybridsearch` folder in the caller's working folder must not stand in for this package
    children = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=package_root)
        for _ in range(workers)
    ]
    threads = [threading.Thread(target=feed, args=(child,), daemon=True) for child in children]
    try:
        for thread in threads:
            thread.start()
        for _ in range(len(batches)):
            number, error = done.get()
            if error is not None:
                raise HybridSearchError(f"Tokenizing failed in a worker process: {error}") from error
            if progress:
                progress(len(batches[number]))
    finally:
        for child in children:
            if child.stdin is not None:
                child.stdin.close()
        for thread in threads:
            thread.join(timeout=5)
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
    return [counts for batch in results if batch is not None for counts in batch]


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"


def _decode(line: bytes) -> Any:
    return json.loads(line.decode("utf-8", "surrogatepass"))


def serve_worker() -> None:
    """A tokenizer worker: reads its settings, then batches of texts (a JSON list per line) from
    stdin, and writes each batch's term counts (a JSON list of objects per line) to stdout."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    tokenizer = Tokenizer(TokenizerConfig(**_decode(stdin.readline())))
    for line in stdin:
        stdout.write(_encode([dict(counts) for counts in _counts(tokenizer, _decode(line))]))
        stdout.flush()


def _counts(tokenizer: Tokenizer, texts: Sequence[str]) -> list[Counter[str]]:
    return [Counter(tokenizer.document_terms(text)) for text in texts]
