"""Quality and a confidence threshold from a user's own questions, on an index that exists.

A questions file pairs each question with the documents that answer it: JSONL, one object a line,

    {"query": "結婚したら休暇は何日？", "expected": ["規程/就業規則.docx"]}

(`expected` a string or a list; `[]`: no document answers it; an optional `id` names the question),
or TSV, `question<TAB>expected[<TAB>expected…]` (`-` alone: no document answers it; a first line
whose first column is `query`, `question`, `質問`… is a header). An expected entry names every
document whose path is it or ends with `/` + it, whose absolute path is it, whose `document_id` is
it, the document of the chunk with that id, or, as `path#record`, one row of a CSV/JSONL file.

Each question is searched as every door searches (`HybridIndex.respond`, the index's own alpha,
fusion and threshold; `group_by="document"`, so the first `K` hits are `K` documents), and scored
on documents: each expected entry counts once, at the first hit among the documents it names.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .access import Principal, can_read
from .backends import Location, open_writer
from .errors import HybridSearchError, IndexNotFoundError, InputError
from .evaluate import score_ranking
from .index import HybridIndex
from .request import SearchRequest, SearchResponse
from .schema import StoredChunk

__all__ = [
    "K",
    "MAX_WRONG_SHARE",
    "MIN_QUESTIONS",
    "MIN_WRONG",
    "QUESTION_METRICS",
    "Outcome",
    "Question",
    "QuestionsReport",
    "ThresholdChoice",
    "choose_threshold",
    "evaluate_questions",
    "load_questions",
    "store_threshold",
]

K = 10  # documents ranked per question
QUESTION_METRICS = ("ndcg@10", "recall@10", "mrr@10")
#: Calibration: the threshold lets at most this share of the wrong first hits pass …
MAX_WRONG_SHARE = 0.05
#: … and is fitted only on at least this many questions with a first hit, this many of them wrong.
MIN_QUESTIONS = 20
MIN_WRONG = 10
NONE_ANSWERS = "-"  # the TSV spelling of "no document answers this question"
_HEADER_WORDS = {"query", "queries", "question", "questions", "質問", "問い", "設問", "クエリ", "クエリー"}
_JSONL_KEYS = ("query", "expected", "id")


@dataclass(frozen=True)
class Question:
    """One question of a questions file: its text, what answers it (empty: nothing does), where it is."""

    text: str
    expected: tuple[str, ...]
    line: int
    id: str = ""


def load_questions(path: str | Path) -> list[Question]:
    """The questions of a JSONL or TSV file (by its suffix: .jsonl/.json/.ndjson or .tsv/.tab/.txt;
    else by its first line, JSONL when it opens with `{`). A line that cannot be read is an
    `InputError` naming the file and the line."""
    source = Path(path)
    try:
        lines = source.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise InputError(f"{source} is not UTF-8 text (byte {error.start}); save it as UTF-8.") from None
    except OSError as error:
        raise InputError(f"Cannot read questions file {source}: {error.strerror or error}.") from None
    suffix = source.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        jsonl = True
    elif suffix in (".tsv", ".tab", ".txt"):
        jsonl = False
    else:
        jsonl = next((line.lstrip() for line in lines if line.strip()), "").startswith("{")
    read = _jsonl_question if jsonl else _tsv_question
    questions: list[Question] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if not jsonl and not questions and _is_header(line):
            continue
        questions.append(read(line, number, source))
    if not questions:
        raise InputError(
            f"{source} holds no questions; write one a line: "
            '{"query": "…", "expected": ["path"]} (JSONL) or question<TAB>path (TSV).'
        )
    return questions


def _is_header(line: str) -> bool:
    return line.split("\t", 1)[0].strip().lower() in _HEADER_WORDS


def _tsv_question(line: str, number: int, source: Path) -> Question:
    text, *expected = (part.strip() for part in line.split("\t"))
    if not text:
        raise InputError(f"{source} line {number}: the question is empty; write question<TAB>path.")
    entries = tuple(entry for entry in expected if entry)
    if not entries:
        raise InputError(
            f"{source} line {number}: no expected document after the question; write question<TAB>path "
            f"(tab-separated; {NONE_ANSWERS} when no document answers it)."
        )
    if entries == (NONE_ANSWERS,):
        entries = ()
    return Question(text, entries, number)


def _jsonl_question(line: str, number: int, source: Path) -> Question:
    where = f"{source} line {number}"
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as error:
        raise InputError(f"{where}: not JSON ({error}).") from None
    if not isinstance(record, dict):
        raise InputError(f'{where}: a line is a JSON object, {{"query": "…", "expected": ["path"]}}.')
    unknown = sorted(set(record) - set(_JSONL_KEYS))
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; the keys are {', '.join(_JSONL_KEYS)}."
        )
    text, expected = record.get("query"), record.get("expected")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f'{where}: "query" must be the question as text (got {text!r}).')
    if isinstance(expected, str):
        expected = [expected]
    if not isinstance(expected, list) or not all(isinstance(e, str) and e.strip() for e in expected):
        raise InputError(
            f'{where}: "expected" is a path or id, or a list of them ([] when no document answers it); '
            f"got {expected!r}."
        )
    name = record.get("id", "")
    return Question(text.strip(), tuple(e.strip() for e in expected), number, str(name))


@dataclass(frozen=True)
class Outcome:
    """What one question got: the documents each of its known expected entries names (`targets`), the
    entries that name none (`unknown`), its hits' documents best first, its first hit's `source` and
    `confidence`, whether that hit is `right` (None: no hit), whether the response said no good match,
    and its `metrics` (None: it is left out of them, having no target)."""

    question: Question
    targets: tuple[frozenset[str], ...]
    unknown: tuple[str, ...]
    ranked: tuple[str, ...]
    first: str | None
    confidence: float | None
    right: bool | None
    no_good_match: bool
    metrics: dict[str, float] | None
    ranks: dict[str, int | None] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return bool(self.question.expected)

    @property
    def scored(self) -> bool:
        """Counted in the first-hit figures: a question no document answers, or one with a known target."""
        return not self.answerable or bool(self.targets)

    def to_dict(self) -> dict[str, Any]:
        """The question's line for `--per-query`."""
        return {
            "line": self.question.line, **({"id": self.question.id} if self.question.id else {}),
            "query": self.question.text, "expected": list(self.question.expected), "unknown": list(self.unknown),
            "first": self.first, "confidence": self.confidence, "right": self.right,
            "no_good_match": self.no_good_match, "ranks": self.ranks,
            **({} if self.metrics is None else self.metrics),
        }  # fmt: skip


@dataclass(frozen=True)
class QuestionsReport:
    """Every question's outcome on one index, with the settings it was searched with (`threshold`
    None: the model's confidence is not calibrated)."""

    location: str
    alpha: float
    fusion: str
    threshold: float | None
    outcomes: tuple[Outcome, ...]

    @property
    def scored(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.scored]

    @property
    def metrics(self) -> dict[str, float]:
        """The mean of each of `QUESTION_METRICS` over the questions with a known target."""
        rows = [outcome.metrics for outcome in self.outcomes if outcome.metrics is not None]
        return {name: sum(row[name] for row in rows) / len(rows) if rows else 0.0 for name in QUESTION_METRICS}

    def first_hits(self, right: bool) -> list[Outcome]:
        """The scored questions whose first hit is right (or wrong: a question no document answers
        has only wrong ones)."""
        return [outcome for outcome in self.scored if outcome.right is right]

    def confidences(self, right: bool) -> list[float]:
        return sorted(o.confidence for o in self.first_hits(right) if o.confidence is not None)


def evaluate_questions(
    index: HybridIndex,
    questions: Sequence[Question],
    *,
    need_confidence: bool = False,
    warn: Callable[[str], object] | None = None,
    progress: Callable[[int], object] | None = None,
    source: str = "",
    principal: Principal | None = None,
) -> QuestionsReport:
    """Search `index` for every question as its doors do, as `principal` (`access.py`), and score what
    it finds. `warn` hears of each expected entry that names no document `principal` may read (a
    typo, most likely); `need_confidence`: an `InputError` when the index's model has no calibrated
    confidence (before searching the rest)."""
    outcomes = []
    threshold: float | None = None
    alpha, fusion = index.config.alpha, str(index.config.fusion)
    with index.searcher() as searcher:  # every question reads the same generation
        readable = [document for document in searcher.backend.documents() if can_read(document.metadata, principal)]
        targets_of = _Targets(readable, index, principal)
        for number, question in enumerate(questions):
            targets, unknown = targets_of.resolve(question.expected)
            for entry in unknown:
                left = "the question is left out" if not targets else "it is scored on the others"
                if warn is not None:
                    warn(
                        f"{source} line {question.line}: {entry!r} names no document in {index.location} "
                        f"(a typo?); {left}."
                    )
            response = searcher.respond(SearchRequest(question.text, k=K, group_by="document", principal=principal))
            if number == 0:
                threshold, alpha, fusion = response.threshold, response.alpha, str(response.fusion)
                if need_confidence and threshold is None:
                    raise InputError(
                        f"The model of {index.location} ({index.model.name}) has no calibrated confidence, so "
                        "there is no threshold to calibrate (see hybridsearch/confidence.py)."
                    )
            outcomes.append(_outcome(question, targets, unknown, response))
            if progress is not None:
                progress(1)
    return QuestionsReport(index.location, alpha, fusion, threshold, tuple(outcomes))


class _Targets:
    """Expected entries → the ids of the documents each names."""

    def __init__(self, documents: Sequence[Any], index: HybridIndex, principal: Principal | None) -> None:
        self.documents = documents
        self.ids = {document.id for document in documents}
        self.index = index
        self.principal = principal

    def resolve(self, expected: Sequence[str]) -> tuple[dict[str, frozenset[str]], tuple[str, ...]]:
        """The entries that name documents, each with their ids (an entry naming the same documents as
        an earlier one counts once: it is left out), and the entries that name none."""
        targets: dict[str, frozenset[str]] = {}
        unknown = []
        for entry in expected:
            found = self.named(entry)
            if not found:
                unknown.append(entry)
            elif found not in targets.values():
                targets[entry] = found
        return targets, tuple(unknown)

    def named(self, entry: str) -> frozenset[str]:
        if entry in self.ids:
            return frozenset([entry])
        path, record = entry.replace("\\", "/"), None
        if "#" in path:
            path, record = path.rsplit("#", 1)
        found = frozenset(
            document.id
            for document in self.documents
            if (record is None or document.record == record) and _same_path(document, path)
        )
        if found or "-" not in entry:
            return found
        try:
            chunk = self.index.get(entry, principal=self.principal)
        except HybridSearchError:
            return frozenset()
        return frozenset([chunk.document_id]) if isinstance(chunk, StoredChunk) else frozenset()


def _same_path(document: Any, path: str) -> bool:
    stored = document.path.replace("\\", "/")
    return stored == path or stored.endswith("/" + path.lstrip("/")) or document.abs_path.replace("\\", "/") == path


def _outcome(
    question: Question, targets: dict[str, frozenset[str]], unknown: tuple[str, ...], response: SearchResponse
) -> Outcome:
    ranked = tuple(hit.document_id for hit in response.hits)
    first = response.hits[0] if response.hits else None
    # a hit holds its copies' documents too: the same text in another file answers as well
    held = [frozenset([hit.document_id, *(copy.document_id for copy in hit.copies)]) for hit in response.hits]
    ranks = first_ranks(held, targets)
    metrics = None
    if targets:
        found = score_ranking(_labels(ranked, ranks), dict.fromkeys(targets, 1))
        metrics = {name: found[name] for name in QUESTION_METRICS}
    return Outcome(
        question, tuple(targets.values()), unknown, ranked,
        first=None if first is None else first.source, confidence=None if first is None else first.confidence,
        right=None if first is None else any(not docs.isdisjoint(held[0]) for docs in targets.values()),
        no_good_match=response.no_good_match, metrics=metrics, ranks=ranks,
    )  # fmt: skip


def first_ranks(ranked: Sequence[str | frozenset[str]], targets: dict[str, frozenset[str]]) -> dict[str, int | None]:
    """The 1-based rank at which each target entry is first hit: the first ranked document (or one of
    a hit's documents, with its copies) it names that no earlier target took (None: none in the ranking)."""
    ranks: dict[str, int | None] = dict.fromkeys(targets)
    for rank, held in enumerate(ranked, 1):
        documents = frozenset([held]) if isinstance(held, str) else held
        entry = next((e for e, docs in targets.items() if ranks[e] is None and not docs.isdisjoint(documents)), None)
        if entry is not None:
            ranks[entry] = rank
    return ranks


def _labels(ranked: Sequence[str], ranks: dict[str, int | None]) -> list[str]:
    """The ranking as `score_ranking` reads it: each document as the target entry first hit there, else
    as its id behind a NUL (which no entry holds)."""
    at = {rank: entry for entry, rank in ranks.items() if rank is not None}
    return [at.get(rank, f"\0{document}") for rank, document in enumerate(ranked, 1)]


def quantiles(values: Sequence[float]) -> dict[str, float] | None:
    """min, p10, p25, median, p75, p90, max of `values` (linear interpolation), or None when empty."""
    if not values:
        return None
    ordered = sorted(values)

    def at(share: float) -> float:
        position = share * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    names = {"min": 0.0, "p10": 0.1, "p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.9, "max": 1.0}
    return {name: round(at(share), 4) for name, share in names.items()}


def histogram(values: Sequence[float], bins: int = 10) -> list[int]:
    """How many of `values` (in [0, 1]) fall in each of `bins` equal bins, the last closed."""
    counts = [0] * bins
    for value in values:
        counts[min(int(value * bins), bins - 1)] += 1
    return counts


@dataclass(frozen=True)
class ThresholdChoice:
    """A calibrated threshold (None: too little to fit one on, `reason` says why) and what it does to
    the first hits it was fitted on."""

    threshold: float | None
    reason: str
    right: int
    wrong: int
    right_kept: int = 0
    wrong_passed: int = 0


def choose_threshold(
    right: Sequence[float],
    wrong: Sequence[float],
    max_wrong_share: float = MAX_WRONG_SHARE,
    min_questions: int = MIN_QUESTIONS,
    min_wrong: int = MIN_WRONG,
) -> ThresholdChoice:
    """The lowest threshold (to 0.001) at which at most `max_wrong_share` of the wrong first hits'
    confidences reach it, so it keeps the most right first hits that share allows; None with a
    reason when there are fewer than `min_questions` first hits or `min_wrong` wrong ones."""
    total = len(right) + len(wrong)
    if total < min_questions:
        return ThresholdChoice(
            None, f"{total} question(s) with a first hit are too few to calibrate on (at least {min_questions}).",
            len(right), len(wrong),
        )  # fmt: skip
    if len(wrong) < min_wrong:
        return ThresholdChoice(
            None,
            f"{len(wrong)} wrong first hit(s) are too few to calibrate on (at least {min_wrong}); add questions "
            'no document answers ("expected": [] in JSONL, - in TSV): their first hits are all wrong.',
            len(right), len(wrong),
        )  # fmt: skip
    allowed = math.floor(max_wrong_share * len(wrong) + 1e-9)
    above = sorted(wrong, reverse=True)[allowed]  # the threshold must be over this one
    threshold = min(1.0, (math.floor(above * 1000 + 1e-9) + 1) / 1000)
    kept = sum(1 for c in right if c >= threshold)
    passed = sum(1 for c in wrong if c >= threshold)
    reason = (
        f"the lowest threshold at which at most {max_wrong_share:.0%} of the {len(wrong)} wrong first hits pass "
        f"({passed} pass); it keeps {kept} of the {len(right)} right first hits ({_share(kept, len(right))})."
    )
    return ThresholdChoice(threshold, reason, len(right), len(wrong), kept, passed)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def store_threshold(location: Location, threshold: float) -> None:
    """Store `threshold` as the index's `min_confidence` (a query default: its content stays as it is),
    as `writer.set_defaults` stores alpha and fusion."""
    with open_writer(location) as store:
        if store.config is None or store.model is None:
            raise IndexNotFoundError(f"No index at {location}; create one with: hsearch index PATH --index {location}")
        store.commit(replace(store.config, min_confidence=threshold), store.model, store.sources)
