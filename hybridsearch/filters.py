"""Filters on document metadata: equality, any-of, numeric/date ranges and path globs, ANDed.

    index.search("申請", where={"type": "md"})                                # equality
    index.search("申請", where={"type": ["md", "txt"]})                       # any of
    index.search("申請", where={"year": {"gte": 2020}, "mtime": {"lt": "2025-01-01"}})
    index.search("申請", where={"path": {"glob": "規程/**/*.md"}})
    hsearch query 申請 --where type=md --where 'year>=2020' --path '規程/**'

A field that holds a list (tags) matches when any of its items does. Values compare as numbers when
both sides are numbers (or text that reads as one: CSV cells, command-line values), else as text, so
ISO dates and times compare in time order (`{"date": {"lt": "2025"}}` keeps 2024-05-01). A glob
matches the whole value or any part of it that starts after a `/` (so `planets/*.md` matches
`docs/planets/mars.md`); `*` stays within one folder, `**` crosses folders. Filters apply before
each side picks its candidates, so a filtered search ranks exactly the matching chunks, with the
index's own BM25 statistics (IDF, average length); the ceiling the coverage fusion divides BM25 by is
the matching chunks' (so what a filter leaves out never weighs on what it keeps).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["Condition", "Filter", "MetadataTable", "WhereArg"]

Scalar = str | int | float | bool
_RANGES = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_OPERATORS = frozenset({"eq", "in", "glob", *_RANGES})
_CLI = re.compile(r"^(?P<field>[^=<>!]+?)(?P<op>>=|<=|=|>|<)(?P<value>.*)$", re.S)
_MAX_IN = 10_000


@dataclass(frozen=True)
class Condition:
    """One test on one field: `op` is eq, in, glob or a range (gt, gte, lt, lte); `values` its operands."""

    field: str
    op: str
    values: tuple[Scalar, ...]

    def describe(self) -> str:
        if self.op == "in":
            return f"{self.field} in {list(self.values)!r}"
        if self.op == "readable":
            return f"readable by {' or '.join(map(str, self.values))}"
        symbol = {"eq": "=", "glob": " glob ", **_RANGES}[self.op]
        return f"{self.field}{symbol}{self.values[0]!r}"


@dataclass(frozen=True)
class Filter:
    """Conditions that a chunk's document must all meet."""

    conditions: tuple[Condition, ...]

    @property
    def fields(self) -> set[str]:
        return {condition.field for condition in self.conditions}

    @property
    def key(self) -> tuple[Any, ...]:
        """What tells two filters apart (True, 1 and 1.0 are equal in Python, not as operands here)."""
        return tuple((c.field, c.op, tuple((type(v).__name__, v) for v in c.values)) for c in self.conditions)

    def describe(self) -> str:
        return " and ".join(condition.describe() for condition in self.conditions)

    @classmethod
    def parse(cls, where: WhereArg) -> Filter | None:
        """A Filter from a mapping (see the module doc), a Filter, or None (no filter)."""
        if where is None or isinstance(where, Filter):
            return where if where is None or where.conditions else None
        if not isinstance(where, Mapping):
            raise InputError(f"A filter is a mapping of field to value, e.g. {{'type': 'md'}} (got {where!r}).")
        conditions = [condition for field, spec in where.items() for condition in _conditions(field, spec)]
        return cls(tuple(conditions)) if conditions else None

    @classmethod
    def from_cli(cls, expressions: Sequence[str] = (), path_glob: str | None = None) -> Filter | None:
        """A Filter from `--where KEY=VALUE` (also `KEY=A|B`, `KEY>=V`, `KEY<V`…) and `--path GLOB`."""
        conditions = []
        for expression in expressions:
            match = _CLI.match(expression)
            if not match or not match["field"].strip():
                raise InputError(
                    f"Cannot read filter {expression!r}; write KEY=VALUE, KEY=A|B, KEY>=VALUE or KEY<VALUE."
                )
            field, op, value = match["field"].strip(), match["op"], match["value"]
            if op == "=":
                options = tuple(value.split("|"))
                conditions.append(Condition(field, "in" if len(options) > 1 else "eq", options))
            else:
                conditions.append(Condition(field, {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[op], (value,)))
        if path_glob is not None:
            conditions.append(Condition("path", "glob", (_checked_glob(path_glob, "path"),)))
        return cls(tuple(conditions)) if conditions else None


WhereArg = Filter | Mapping[str, Any] | None


def _conditions(field: Any, spec: Any) -> list[Condition]:
    if not isinstance(field, str) or not field:
        raise InputError(f"Filter field names are non-empty text (got {field!r}).")
    if isinstance(spec, Mapping):
        unknown = set(spec) - _OPERATORS
        if unknown or not spec:
            raise InputError(
                f"Unknown filter operator(s) {sorted(map(str, unknown))} for {field!r}; use {sorted(_OPERATORS)}."
                if unknown
                else f"The filter on {field!r} is empty; give an operator such as {{'gte': 10}}."
            )
        return [condition for op, value in spec.items() for condition in _conditions_of(field, op, value)]
    if isinstance(spec, list | tuple | set | frozenset):
        return _conditions_of(field, "in", spec)
    return _conditions_of(field, "eq", spec)


def _conditions_of(field: str, op: str, value: Any) -> list[Condition]:
    if op == "in":
        values = list(value) if isinstance(value, list | tuple | set | frozenset) else None
        if not values or len(values) > _MAX_IN or not all(_is_scalar(v) for v in values):
            raise InputError(
                f"The filter on {field!r} needs a non-empty list of at most {_MAX_IN} texts or numbers (got {value!r})."
            )
        return [Condition(field, "in", tuple(values))]
    if not _is_scalar(value):
        raise InputError(f"The filter on {field!r} compares with a text or a number, not {value!r}.")
    if op == "glob":
        if not isinstance(value, str):
            raise InputError(f"A glob on {field!r} is text such as 'docs/*.md' (got {value!r}).")
        value = _checked_glob(value, field)
    return [Condition(field, op, (value,))]


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool | np.integer | np.floating)


def _checked_glob(pattern: str, field: str) -> str:
    """A glob, checked; on the path, a Windows habit's backslashes are the folder separators they mean
    (総務\\規程\\** is 総務/規程/**): stored paths always use '/'."""
    if not pattern.strip():
        raise InputError("A path glob cannot be empty; try '*.md' or 'docs/**'.")
    return pattern.replace("\\", "/") if field == "path" else pattern


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` as a regex matching a whole value or any part of it after a `/`."""
    parts = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
            continue
        parts.append("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch))
        i += 1
    anchor = "" if pattern.startswith("/") else "(?:.*/)?"
    return re.compile(f"{anchor}{''.join(parts)}", re.S)


def _number(value: Any) -> float | None:
    """`value` as a number: numbers as they are, text that reads as a number, else None (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _keys(value: Any) -> list[tuple[str, Any]]:
    """Typed lookup keys of a value, so that True, 1 and "1" stay apart where they should: text is
    ("s", text) and also ("n", its number) when it reads as one (CSV cells, command-line values) and
    ("b", its truth) when it is true/false; numbers are ("n", float); bools ("b", bool)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return [("b", value)]
    if isinstance(value, int | float):
        return [("n", float(value))]
    if not isinstance(value, str):  # a stored value no loader writes (null, a nested list): matches nothing
        return []
    keys: list[tuple[str, Any]] = [("s", value)]
    number = _number(value)
    if number is not None:
        keys.append(("n", number))
    if value.lower() in ("true", "false"):
        keys.append(("b", value.lower() == "true"))
    return keys


class MetadataTable:
    """Documents' metadata as columns, to evaluate a Filter for all documents at once.

    Each field becomes a flat list of (document, item) pairs (a list-valued field has one pair per
    item), with each item's number (NaN when it is not one) and text beside it.
    """

    def __init__(self, documents: Sequence[Mapping[str, Any]]) -> None:
        self.size = len(documents)
        owners: dict[str, list[int]] = {}
        items: dict[str, list[Any]] = {}
        for row, metadata in enumerate(documents):
            for field, value in metadata.items():
                for item in value if isinstance(value, list) else [value]:
                    owners.setdefault(field, []).append(row)
                    items.setdefault(field, []).append(item)
        self._owners = {field: np.asarray(rows, dtype=np.int64) for field, rows in owners.items()}
        self._items = items
        self._lookup: dict[str, dict[Any, np.ndarray]] = {}
        self._numbers: dict[str, np.ndarray] = {}

    @property
    def fields(self) -> set[str]:
        return set(self._items)

    def fields_of(self, where: Filter | None = None) -> set[str]:
        """The fields the documents `where` keeps (None: all) have."""
        return self.fields if where is None else self._fields_kept(self.mask(where))

    def _fields_kept(self, keep: np.ndarray) -> set[str]:
        return {field for field, owners in self._owners.items() if keep[owners].any()}

    def values(self, limit: int, where: Filter | None = None) -> dict[str, list[Any]]:
        """The fields with at most `limit` distinct values, each with those values (most documents first):
        what a search page offers as choices. `where`: only the documents it keeps count."""
        keep = None if where is None else self.mask(where)
        found = {}
        for field, items in self._items.items():
            counts: dict[Any, int] = {}
            owners = self._owners[field]
            for position, item in enumerate(items):
                if not isinstance(item, str | int | float):  # bools are ints; anything else is not a choice
                    continue
                if keep is not None and not keep[owners[position]]:
                    continue
                counts[item] = counts.get(item, 0) + 1
                if len(counts) > limit:
                    break
            if len(counts) <= limit and (counts or keep is None):
                found[field] = sorted(counts, key=lambda value: (-counts[value], str(value)))
        return found

    def mask(self, where: Filter) -> np.ndarray:
        """One bool per document: does it meet every condition? A field that none of the documents a
        `readable` condition keeps has is unknown (the error names only their fields)."""
        keep = np.ones(self.size, dtype=bool)
        for condition in where.conditions:
            if condition.op == "readable":
                keep &= self._matching(condition)
        fields = self._fields_kept(keep) if any(c.op == "readable" for c in where.conditions) else self.fields
        unknown = {c.field for c in where.conditions if c.op != "readable"} - fields
        if unknown:
            known = ", ".join(sorted(fields)) or "none"
            named = ", ".join(map(repr, sorted(unknown)))
            raise InputError(f"Unknown filter field(s) {named}; this index's documents have: {known}.")
        for condition in where.conditions:
            if condition.op != "readable":
                keep &= self._matching(condition)
        return keep

    def _matching(self, condition: Condition) -> np.ndarray:
        field, op = condition.field, condition.op
        if op == "readable":  # any item is one of the values, or the document has no such field (access.py)
            if field not in self._items:
                return np.ones(self.size, dtype=bool)
            without = ~self._documents(field, np.arange(len(self._items[field])))
            return without | self._matching(Condition(field, "in", condition.values))
        if op in ("eq", "in"):
            lookup = self._lookup.get(field) or self._build_lookup(field)
            wanted = {key for value in condition.values for key in _keys(value)}
            hits = [lookup[key] for key in wanted if key in lookup]
            item_rows = np.concatenate(hits) if hits else np.zeros(0, np.int64)
            return self._documents(field, item_rows)
        items = self._items[field]
        if op == "glob":
            regex = _glob_regex(str(condition.values[0]))
            found = [i for i, item in enumerate(items) if isinstance(item, str) and regex.fullmatch(item)]
            return self._documents(field, np.asarray(found, dtype=np.int64))
        bound = condition.values[0]
        number = _number(bound)
        numbers = self._numbers.get(field)
        if numbers is None:
            numbers = self._numbers[field] = np.array([_number(item) for item in items], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            inside = _compare(numbers, op, number) if number is not None else np.zeros(len(items), dtype=bool)
        text = str(bound.item() if isinstance(bound, np.generic) else bound)
        for i in np.flatnonzero(np.isnan(numbers) if number is not None else np.ones(len(items), dtype=bool)):
            item = items[i]
            if isinstance(item, str) and _compare(item, op, text):  # text (dates) in text order
                inside[i] = True
        return self._documents(field, np.flatnonzero(inside))

    def _build_lookup(self, field: str) -> dict[Any, np.ndarray]:
        positions: dict[Any, list[int]] = {}
        for position, item in enumerate(self._items[field]):
            for key in _keys(item):
                positions.setdefault(key, []).append(position)
        lookup = {key: np.asarray(found, dtype=np.int64) for key, found in positions.items()}
        self._lookup[field] = lookup
        return lookup

    def _documents(self, field: str, item_positions: np.ndarray) -> np.ndarray:
        keep = np.zeros(self.size, dtype=bool)
        keep[self._owners[field][item_positions]] = True
        return keep


def _compare(left: Any, op: str, right: Any) -> Any:
    if op == "gt":
        return left > right
    if op == "gte":
        return left >= right
    if op == "lt":
        return left < right
    return left <= right
