"""One search, whatever door it comes through: a `SearchRequest` (every query-time option, checked
once, here) and the `SearchResponse` it gets (the hits, which of them are weak, what was cut, the
generation read). `SearchResponse.to_dict` is the one JSON form: `hsearch query --json`, HTTP and
MCP print it; the retrievers hand on its strong hits.

    request = SearchRequest("有給休暇の申請方法", k=5, where={"type": "md"})
    response = index.respond(request)
    response.strong, response.weak, response.no_good_match

A hit is weak when its `confidence` is below the threshold: the request's `min_confidence`, else
the index's (`IndexConfig.min_confidence`; the fitted `DEFAULT_THRESHOLD` until a user sets one). A
model without calibrated confidence has no threshold and no weak hits.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from enum import Enum
from typing import Any, get_args, get_type_hints

from .access import Principal
from .config import Fusion
from .errors import EmptyQueryError, InputError
from .filters import Filter, WhereArg
from .grouping import check_group_by
from .rerank import DEFAULT_DEPTH
from .schema import Hit
from .textnorm import encodable

__all__ = ["OPTIONS", "SearchRequest", "SearchResponse", "checked_k", "checked_query", "option_schema"]


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class SearchRequest:
    """Every query-time option of a search, checked when it is made (an `InputError` names the
    option and what it takes). The field docs are what the HTTP API and the CLI say of them."""

    query: str = field(metadata=_doc("What to search for: a question or keywords."))
    k: int = field(default=10, metadata=_doc("How many hits."))
    alpha: float | None = field(
        default=None, metadata=_doc("The share of meaning against shared words, 0 (BM25) to 1; default: the index's.")
    )
    fusion: Fusion | None = field(
        default=None, metadata=_doc("How the two sides' scores are put on one scale; default: the index's.")
    )
    where: Filter | None = field(
        default=None, metadata=_doc('A filter on document metadata, e.g. {"type": "md"} or {"year": {"gte": 2020}}.')
    )
    group_by: str | None = field(default=None, metadata=_doc("document: each document's best chunk only."))
    collapse: bool = field(default=True, metadata=_doc("Fold chunks that (nearly) repeat a better hit's text into it."))
    rerank_depth: int = field(
        default=DEFAULT_DEPTH, metadata=_doc("How many candidates a reranker re-scores, where one is set.")
    )
    min_confidence: float | None = field(
        default=None, metadata=_doc("Hits less likely than this to answer (0-1) are weak; default: the index's.")
    )
    #: Who is asking (`access.py`): set by the door from what authenticated the caller, never read
    #: from a request's own options. None: documents open to everyone only.
    principal: Principal | None = field(default=None, metadata={"caller": True})

    def __post_init__(self) -> None:
        alpha, confidence = self.alpha, self.min_confidence
        checked = {
            "query": checked_query(self.query),
            "k": checked_k(self.k),
            "alpha": None
            if alpha is None
            else _fraction(alpha, f"alpha must be between 0 and 1 (got {alpha!r}); 0 = BM25 only, 1 = dense only."),
            "fusion": None if self.fusion is None else Fusion.parse(self.fusion),
            "where": Filter.parse(self.where),
            "group_by": check_group_by(self.group_by),
            "collapse": _flag(self.collapse, "collapse"),
            "rerank_depth": checked_k(self.rerank_depth, "rerank_depth"),
            "min_confidence": None
            if confidence is None
            else _fraction(confidence, f"min_confidence must be between 0 and 1 (got {confidence!r})."),
            "principal": _principal(self.principal),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, text: bool = False, principal: Principal | None = None
    ) -> SearchRequest:
        """A request from JSON (an HTTP body, MCP arguments) or, with `text`, from URL parameters (all
        strings: numbers, true/false and `where` as JSON are read from them), made by `principal`
        (who the door authenticated). `path` (a glob) adds a condition on the path to `where`. An
        unknown key is an `InputError` naming the options."""
        unknown = sorted(set(data) - set(OPTIONS) - {"path"})
        if unknown:
            raise InputError(
                f"Unknown search option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"the options are {', '.join([*OPTIONS, 'path'])}."
            )
        values = {key: _from_text(key, value) if text else value for key, value in data.items()}
        glob = values.pop("path", None)
        if glob is not None:
            if not isinstance(glob, str):
                raise InputError(f"path is a glob such as '規程/**' (got {glob!r}).")
            values["where"] = _with_path(values.get("where"), glob)
        if "query" not in values:
            raise EmptyQueryError("The query is empty; give some words to search for.")
        return cls(**values, principal=principal)


@dataclass(frozen=True)
class SearchResponse:
    """What a search found: `hits` best first, each `weak` when its confidence is under `threshold`
    (None: the model has no calibrated confidence, and no hit is weak); the `alpha` and `fusion` it
    ran with; what of the query was `cut` to stay fast; the index `generation` it read; the share of
    its chunks `with_vectors` (below 1 while a progressive write fills them in: a hit whose chunk has
    no vector yet came from its words alone, and its `dense` is None)."""

    request: SearchRequest
    hits: tuple[Hit, ...]
    alpha: float
    fusion: Fusion
    threshold: float | None
    cut: Mapping[str, int]
    generation: str
    with_vectors: float = 1.0

    @property
    def strong(self) -> list[Hit]:
        """The hits likely enough to answer (every hit when there is no threshold)."""
        return [hit for hit in self.hits if not hit.weak]

    @property
    def weak(self) -> list[Hit]:
        return [hit for hit in self.hits if hit.weak]

    @property
    def no_good_match(self) -> bool:
        """No hit is likely enough to answer (also when nothing matched at all)."""
        return not self.strong

    def to_dict(self) -> dict[str, Any]:
        """The response as JSON: the request's query and filter, the settings used, the decision, the hits."""
        where = self.request.where
        return {
            "query": self.request.query,
            "generation": self.generation,
            "alpha": self.alpha,
            "fusion": str(self.fusion),
            "min_confidence": self.threshold,
            "no_good_match": self.no_good_match,
            **({"where": where.describe()} if where else {}),
            **({"cut": dict(self.cut)} if self.cut else {}),
            **({"with_vectors": round(self.with_vectors, 4)} if self.with_vectors < 1 else {}),
            "hits": [hit.to_dict() for hit in self.hits],
        }


def _options() -> list[Field[Any]]:
    """The request's fields a caller sets (not `principal`, which the door sets)."""
    return [option for option in fields(SearchRequest) if "doc" in option.metadata]


#: The request's options, in order, with what each does.
OPTIONS: dict[str, str] = {option.name: option.metadata["doc"] for option in _options()}


def option_schema() -> dict[str, dict[str, Any]]:
    """Each option's JSON schema (type, choices, default, description), from the request's own fields."""
    hints = get_type_hints(SearchRequest)
    found = {}
    for option in _options():
        kinds = [kind for kind in get_args(hints[option.name]) or (hints[option.name],) if kind is not type(None)]
        schema: dict[str, Any] = {"description": OPTIONS[option.name]}
        kind = kinds[0]
        if isinstance(kind, type) and issubclass(kind, Enum):
            schema |= {"type": "string", "enum": [member.value for member in kind]}
        else:
            schema["type"] = _JSON_TYPES.get(kind, "string")
        if option.default is not MISSING and option.default is not None:
            schema["default"] = option.default
        found[option.name] = schema
    return found


_JSON_TYPES: dict[Any, str] = {int: "integer", float: "number", bool: "boolean", str: "string", Filter: "object"}


def checked_k(k: object, name: str = "k") -> int:
    """`k` as a positive int (numpy integers too; not bools), or an `InputError`."""
    message = f"{name} must be a positive whole number (got {k!r})."
    if isinstance(k, bool):
        raise InputError(message)
    try:
        value = operator.index(k)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(message) from None
    if value < 1:
        raise InputError(message)
    return value


def checked_query(query: object) -> str:
    """A non-empty query string, lone surrogates (from undecodable argv, JSON escapes) as U+FFFD;
    else `EmptyQueryError` (`InputError` for a query that is not text)."""
    if not isinstance(query, str) and query is not None:
        raise InputError(f"The query must be text (got {type(query).__name__}).")
    if not query or not query.strip():
        raise EmptyQueryError("The query is empty; give some words to search for.")
    return encodable(query)


def _fraction(value: object, error: str) -> float:
    """`value` as a float in [0, 1] (numpy numbers too; not bools, not NaN), else `InputError(error)`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= 1:
        raise InputError(error)
    return float(value)


def _principal(value: object) -> Principal | None:
    if value is not None and not isinstance(value, Principal):
        raise InputError(f"principal is a Principal(user, groups) (got {value!r}).")
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name} is true or false (got {value!r}).")
    return value


def _with_path(where: WhereArg, glob: str) -> Filter | None:
    condition = Filter.parse(where)
    path = Filter.from_cli((), glob)
    return Filter((*(condition.conditions if condition else ()), *(path.conditions if path else ())))


def _number(kind: Callable[[str], Any]) -> Callable[[str, str], Any]:
    def read(name: str, value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            raise InputError(f"{name} must be a number (got {value[:100]!r}).") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise InputError(f"{name} must be a finite number (got {value[:100]!r}).")
        return number

    return read


def _boolean(name: str, value: str) -> bool:
    spelled = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if value.lower() not in spelled:
        raise InputError(f"{name} is true or false (got {value[:100]!r}).")
    return spelled[value.lower()]


def _json_object(name: str, value: str) -> dict[str, Any] | None:
    if not value.strip():
        return None
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        raise InputError(f'{name} is a JSON object such as {{"type": "md"}} (got {value[:100]!r}).')
    return parsed


_TEXT: dict[str, Callable[[str, str], Any]] = {
    "k": _number(int),
    "alpha": _number(float),
    "rerank_depth": _number(int),
    "min_confidence": _number(float),
    "collapse": _boolean,
    "where": _json_object,
}


def _from_text(name: str, value: Any) -> Any:
    """A URL parameter's value as its option takes it (options that are text stay text)."""
    read = _TEXT.get(name)
    return read(name, value) if read is not None and isinstance(value, str) else value
