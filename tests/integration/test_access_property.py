"""A search as a principal is the same search over only the documents that principal may read
(DESIGN.md §10), on the local backend and on Qdrant's local mode: random documents, readers,
principals and queries.

The oracle is a second index of the same files without any reader rules, searched with `where`
restricted to the paths the test itself computes as readable. Both indexes hold the same texts,
so their BM25 statistics are the same (as they are for `where`: whole-index statistics stay).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_MODEL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsearch import HybridIndex, NotFoundError, Principal, SearchRequest

SENTENCES = [
    "給与は毎月二十五日に支払います。",
    "出張の旅費は総務部が精算します。",
    "評価面談は年二回行います。",
    "会議室の予約は総務で受け付けます。",
    "賞与は年二回、給与とは別に支払います。",
]
QUERIES = ["給与", "旅費の精算", "年二回", "総務", "会議室の予約", "賞与の支払い"]
ENTRIES = ["everyone", "user:a", "user:b", "group:x", "group:y"]

documents = st.lists(
    st.tuples(
        st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=3),
        st.none() | st.lists(st.sampled_from(ENTRIES), max_size=2, unique=True),
    ),
    min_size=2,
    max_size=6,
)
principals = st.none() | st.builds(
    Principal, st.sampled_from(["a", "b", "c"]), st.lists(st.sampled_from(["x", "y"]), unique=True)
)
searches = st.fixed_dictionaries(
    {
        "query": st.sampled_from(QUERIES),
        "k": st.integers(1, 8),
        "alpha": st.sampled_from([0.0, 0.4, 1.0]),
        "group_by": st.sampled_from([None, "document"]),
        "collapse": st.booleans(),
    }
)


def readable(readers: list[str] | None, principal: Principal | None) -> bool:
    """What the test says a principal may read: no rule = everyone; [] = no one."""
    entries = {"everyone"}
    if principal is not None:
        entries |= {f"user:{principal.user}", *(f"group:{group}" for group in principal.groups)}
    return readers is None or bool(entries & set(readers))


@contextmanager
def two_indexes(docs: list[tuple[list[str], list[str] | None]], backend: str) -> Iterator[tuple[Any, Any, dict]]:
    """The share indexed with its reader rules and without (the oracle), and each file's readers."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        share = root / "share"
        share.mkdir()
        readers = {}
        for number, (sentences, rule) in enumerate(docs):
            path = share / f"d{number}.md"
            path.write_text("".join(sentences), encoding="utf-8")
            readers[str(path)] = rule
        location = (lambda name: f"qdrant+local://{root / 'qdrant'}/{name}") if backend == "qdrant" else (
            lambda name: str(root / name))  # fmt: skip
        plain = HybridIndex.build(share, location("plain"), model=FAKE_MODEL)
        rules = {Path(path).name: rule for path, rule in readers.items() if rule is not None}
        (share / "hsearch.toml").write_text(
            "[readers]\n" + "".join(f'"{name}" = {json.dumps(rule)}\n' for name, rule in rules.items()),
            encoding="utf-8",
        )
        ruled = HybridIndex.build(share, location("ruled"), model=FAKE_MODEL)
        with plain, ruled:
            yield ruled, plain, readers


def shown(response: Any) -> list[dict[str, Any]]:
    """A response's hits as JSON, without the readers field (the oracle's documents have none)."""
    hits = []
    for hit in response.hits:
        found = hit.to_dict()
        found["metadata"] = {key: value for key, value in found["metadata"].items() if key != "readers"}
        hits.append(found)
    return hits


@pytest.mark.parametrize("backend", ["local", "qdrant"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=documents, asked=st.lists(st.tuples(principals, searches), min_size=1, max_size=4))
def test_a_principal_sees_what_a_where_on_their_documents_sees(
    backend: str, docs: list[tuple[list[str], list[str] | None]], asked: list[tuple[Principal | None, dict]]
) -> None:
    with two_indexes(docs, backend) as (ruled, plain, readers):
        for principal, options in asked:
            theirs = sorted(path for path, rule in readers.items() if readable(rule, principal))
            response = ruled.respond(SearchRequest(**options, principal=principal))
            if not theirs:
                assert response.hits == ()
            else:
                oracle = plain.respond(SearchRequest(**options, where={"path": theirs}))
                assert shown(response) == shown(oracle)
            named = [hit.path for hit in response.hits] + [c.source for hit in response.hits for c in hit.copies]
            assert set(named) <= set(theirs)
            values = ruled.field_values(limit=50, principal=principal)
            assert set(values.get("path", [])) == set(theirs)
            for hit in plain.search("給与 旅費 総務 年二回 会議室", k=20, alpha=0):
                if hit.path in theirs:
                    assert ruled.get(hit.document_id, principal=principal).id == hit.document_id
                else:
                    with pytest.raises(NotFoundError):
                        ruled.get(hit.document_id, principal=principal)
