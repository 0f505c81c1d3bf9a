"""Filters: parsing, their meaning on metadata, and the property that a filtered search ranks exactly
the matching chunks (filters apply before each side's candidate cut), checked against brute force."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import FAKE_MODEL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hybridsearch.search
from hybridsearch import Filter, HybridIndex, IndexConfig
from hybridsearch.cli import cli
from hybridsearch.cli import cli as cli_main
from hybridsearch.config import DenseConfig, LoaderConfig, VectorConfig
from hybridsearch.errors import InputError
from hybridsearch.filters import Condition, MetadataTable
from hybridsearch.fusion import fuse

WORDS = [
    "火星",
    "金星",
    "惑星",
    "申請",
    "休暇",
    "経費",
    "精算",
    "会議",
    "議事録",
    "規程",
    "東京",
    "大阪",
    "カレー",
    "味噌",
]
FILES = ["dept/hr/faq.jsonl", "dept/it/faq.jsonl", "notes/2023.jsonl", "notes/2024.jsonl", "misc.jsonl"]
GLOBS = {  # pattern → which relative paths it must match
    "dept/**": lambda p: p.startswith("dept/"),
    "hr/*": lambda p: p.startswith("dept/hr/"),
    "notes/*.jsonl": lambda p: p.startswith("notes/"),
    "*.jsonl": lambda p: True,
    "/nowhere/*": lambda p: False,
}


def test_parse_accepts_the_documented_forms() -> None:
    parsed = Filter.parse(
        {"type": "md", "tags": ["a", "b"], "year": {"gte": 2020, "lt": 2025}, "path": {"glob": "*.md"}}
    )
    assert parsed is not None and parsed.conditions == (
        Condition("type", "eq", ("md",)),
        Condition("tags", "in", ("a", "b")),
        Condition("year", "gte", (2020,)),
        Condition("year", "lt", (2025,)),
        Condition("path", "glob", ("*.md",)),
    )
    assert Filter.parse(None) is None and Filter.parse({}) is None
    cli_filter = Filter.from_cli(["type=md|txt", "year>=2020", "size<10", "title=a=b"], "docs/**")
    assert cli_filter is not None and cli_filter.conditions == (
        Condition("type", "in", ("md", "txt")),
        Condition("year", "gte", ("2020",)),
        Condition("size", "lt", ("10",)),
        Condition("title", "eq", ("a=b",)),
        Condition("path", "glob", ("docs/**",)),
    )


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("type=md", "A filter is a mapping"),
        ({"type": {"near": 3}}, r"Unknown filter operator\(s\) \['near'\]"),
        ({"type": {}}, "is empty"),
        ({"type": []}, "needs a non-empty list"),
        ({"type": [["md"]]}, "needs a non-empty list"),
        ({"year": {"gte": [1, 2]}}, "compares with a text or a number"),
        ({"year": float("nan")}, "compares with a text or a number"),
        ({"path": {"glob": 3}}, "A glob on 'path' is text"),
        ({"": 1}, "non-empty text"),
    ],
)
def test_malformed_filters_are_one_clear_error(where: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Filter.parse(where)  # type: ignore[arg-type]


@pytest.mark.parametrize("expression", ["=md", "type", "", ">=3"])
def test_malformed_cli_filters_are_one_clear_error(expression: str) -> None:
    with pytest.raises(InputError, match="Cannot read filter"):
        Filter.from_cli([expression])


def test_metadata_table_semantics() -> None:
    table = MetadataTable(
        [
            {"type": "md", "tags": ["hr", "休暇"], "year": 2024, "date": "2024-05-01", "path": "/d/規程/a.md"},
            {"type": "csv", "tags": "it", "year": "2019", "date": "2019-12-31T10:00:00", "path": "/d/b.csv"},
            {"type": "md", "flag": True, "path": "/d/規程/sub/c.md"},
        ]
    )

    def keeps(where: dict) -> list[int]:
        parsed = Filter.parse(where)
        assert parsed is not None
        return np.flatnonzero(table.mask(parsed)).tolist()

    assert keeps({"type": "md"}) == [0, 2]
    assert keeps({"tags": "hr"}) == [0] and keeps({"tags": ["it", "休暇"]}) == [0, 1]  # any item of a list
    assert keeps({"year": {"gte": 2020}}) == [0] and keeps({"year": "2019"}) == [1]  # numbers and numeric text
    assert keeps({"year": 2019}) == [1]
    assert keeps({"date": {"lt": "2024"}}) == [1] and keeps({"date": {"gte": "2024-05-01"}}) == [0]  # ISO text
    assert keeps({"flag": "true"}) == [2]
    assert keeps({"path": {"glob": "規程/*.md"}}) == [0] and keeps({"path": {"glob": "規程/**"}}) == [0, 2]
    assert keeps({"path": {"glob": "*.md"}}) == [0, 2] and keeps({"path": {"glob": "/d/*"}}) == [1]
    assert keeps({"path": {"glob": "規程\\**"}}) == [0, 2]  # a Windows habit: backslashes are folders
    assert keeps({"type": "md", "year": {"lt": 2030}}) == [0]  # AND; a missing field never matches
    with pytest.raises(InputError, match=r"Unknown filter field\(s\) 'author'; this index's documents have: date, "):
        table.mask(Filter((Condition("author", "eq", ("x",)),)))


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """Five JSONL files of 60 records each with group / year / tags fields; every text distinct."""
    root = tmp_path_factory.mktemp("filtered")
    rng = random.Random(5)
    by_id: dict[str, dict] = {}
    for number, name in enumerate(FILES):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(60):
            words = rng.sample(WORDS, rng.randint(2, 6))
            sentences = [f"{w}について{rng.choice(WORDS)}の話をする。" for w in words]
            text = f"記録{number}の{i}。" + "".join(sentences) * rng.randint(1, 4)
            record = {
                "id": f"r{number}-{i}", "title": rng.choice(WORDS), "text": text,
                "group": rng.choice("abc"), "year": rng.randint(2018, 2025), "tags": rng.sample(["x", "y", "z"], 2),
            }  # fmt: skip
            lines.append(json.dumps(record, ensure_ascii=False))
            by_id[f"{root / name}#{record['id']}"] = {**record, "relative": name}
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root, by_id


CONDITIONS = st.one_of(
    st.sampled_from("abc").map(lambda g: ("group", g)),
    st.lists(st.sampled_from("abc"), min_size=1, max_size=2, unique=True).map(lambda gs: ("group", gs)),
    st.tuples(st.sampled_from(["gte", "lt"]), st.integers(2017, 2026)).map(lambda r: ("year", {r[0]: r[1]})),
    st.sampled_from("xyz").map(lambda t: ("tags", t)),
    st.sampled_from(sorted(GLOBS)).map(lambda g: ("path", {"glob": g})),
)


def _matches(record: dict, field: str, spec: object) -> bool:
    """The filter's meaning, written out plainly (the brute-force side of the property)."""
    if field == "path":
        return GLOBS[spec["glob"]](record["relative"])  # type: ignore[index]
    value = record[field]
    if isinstance(spec, dict):
        return all(value >= bound if op == "gte" else value < bound for op, bound in spec.items())
    options = spec if isinstance(spec, list) else [spec]
    return any(item in options for item in value) if isinstance(value, list) else value in options


@pytest.mark.parametrize("layout", ["flat, exhaustive", "flat, top-100 cut", "hnsw, top-100 cut"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    conditions=st.lists(CONDITIONS, min_size=1, max_size=3),
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map("の".join),
    alpha=st.sampled_from([0.0, 0.6, 1.0]),
    fusion=st.sampled_from(["minmax", "zscore", "rrf"]),
    k=st.integers(1, 12),
)
def test_a_filtered_search_equals_brute_force_over_the_matching_chunks(
    records: tuple[Path, dict[str, dict]], tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
    layout: str, conditions: list, query: str, alpha: float, fusion: str, k: int,
) -> None:  # fmt: skip
    root, by_id = records
    kind = "hnsw" if layout.startswith("hnsw") else "flat"
    if "cut" in layout:  # every chunk would otherwise be a candidate: make each side cut at its top 100
        monkeypatch.setattr(hybridsearch.search, "EXHAUSTIVE_LIMIT", 5)
    index = _index(root, tmp_path_factory, kind)
    where: dict = {}
    for field, spec in conditions:
        if field == "year":
            where.setdefault("year", {}).update(spec)
        else:
            where.setdefault(field, spec)
    every = index.info()["counts"]["chunks"]
    by_bm25 = index.search(query, k=every, alpha=0.0)  # every chunk's raw scores (their order is not used)
    by_dense = index.search(query, k=every, alpha=1.0)
    with index.searcher() as searcher:  # rows (the backend's keys): each side breaks ties by the lower row
        row = {chunk.id: i for i, chunk in enumerate(searcher.backend.chunks(range(every)))}
    keep = {h.id for h in by_bm25 if all(_matches(by_id[h.source], f, s) for f, s in where.items())}
    found = index.search(query, k=k, alpha=alpha, fusion=fusion, where=where)
    if not keep:
        assert found == []
        return
    depth = hybridsearch.search.candidate_depth(k, len(keep))
    names = {row[name]: name for name in keep}

    def side(scores: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """The matching chunks by score, ties by the lower row (the engine's rule), cut at `depth`."""
        pairs = sorted(
            ((row[name], score) for name, score in scores.items() if name in keep), key=lambda p: (-p[1], p[0])
        )
        return np.array([r for r, _ in pairs[:depth]], np.int64), np.array([s for _, s in pairs[:depth]], np.float64)

    bm25 = side({h.id: h.bm25 for h in by_bm25})
    dense = side({h.id: h.dense for h in by_dense}) if alpha > 0 else (np.zeros(0, np.int64), np.zeros(0))
    expected = fuse(*bm25, *dense, alpha, fusion, k)
    assert [h.score for h in found] == pytest.approx(expected.score.tolist(), abs=1e-6)  # dense scores are float32
    cut = expected.score[-1]
    strictly = {names[i] for i, s in zip(expected.ids.tolist(), expected.score) if s > cut + 1e-6}
    assert strictly <= {h.id for h in found} <= keep  # the same hits, up to ties at the last place
    assert all(_matches(by_id[h.source], f, s) for h in found for f, s in where.items())


def _index(root: Path, factory: pytest.TempPathFactory, kind: str) -> HybridIndex:
    """One index per vector kind for all examples (without sentence vectors: dense = the chunk's cosine)."""
    path = factory.getbasetemp() / f"filtered-{kind}"
    if not (path / "CURRENT").exists():
        config = IndexConfig(
            dense=DenseConfig(FAKE_MODEL, sentences=False), vectors=VectorConfig(kind=kind), loader=LoaderConfig()
        )
        HybridIndex.build(root, path, config=config).close()
    return HybridIndex.open(path)


def test_filters_from_the_command_line(records: tuple[Path, dict[str, dict]], tmp_path: Path) -> None:
    root, _ = records
    index = str(tmp_path / "idx")
    runner = CliRunner()
    assert runner.invoke(cli, ["index", str(root), "--index", index, "--model", FAKE_MODEL, "-q"]).exit_code == 0
    result = runner.invoke(
        cli, ["query", "申請", "--index", index, "--where", "group=a|b", "--where", "year>=2022", "--path", "dept/**",
              "--json", "-k", "50"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    hits = payload["hits"]
    assert hits and payload["where"] == "group in ['a', 'b'] and year>='2022' and path glob 'dept/**'"
    for hit in hits:
        meta = hit["metadata"]
        assert meta["group"] in ("a", "b") and meta["year"] >= 2022 and "/dept/" in hit["path"]
    unknown = runner.invoke(cli, ["query", "申請", "--index", index, "--where", "author=x"])
    assert unknown.exit_code == 1 and unknown.stderr.startswith("Error: Unknown filter field(s) 'author'; ")
    nothing = runner.invoke(cli, ["query", "申請", "--index", index, "--path", "nowhere/*"])
    assert nothing.exit_code == 0 and nothing.stderr == "No results.\n"
    info = runner.invoke(cli, ["info", "--index", index]).stdout
    assert "fields:        group, mtime, path, size, tags, title, type, year\n" in info


def test_numbers_booleans_and_numeric_text_stay_what_they_are(tmp_path: Path) -> None:
    """1, 1.0, True and "1.50" as operands: numbers equal numbers and numeric text, bools only bools,
    whatever filters ran before (masks are remembered per filter)."""
    (tmp_path / "docs").mkdir()
    rows = [("a", "1", "true"), ("b", "1.50", "false"), ("c", "2020.0", "x"), ("d", "01", "1")]
    lines = ["id,text,x,flag"] + [f"{i},本文{i}です。,{x},{flag}" for i, x, flag in rows]
    (tmp_path / "docs" / "t.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    jsonl = [
        {"id": "e", "text": "本文eです。", "x": 1, "flag": True},
        {"id": "f", "text": "本文fです。", "x": 1.5, "flag": 1},
    ]
    (tmp_path / "docs" / "t.jsonl").write_text("\n".join(json.dumps(r) for r in jsonl) + "\n", encoding="utf-8")
    index = HybridIndex.build(tmp_path / "docs", tmp_path / "idx", model=FAKE_MODEL)

    def records(where: dict) -> list[str]:
        return sorted(h.record for h in index.search("本文", k=20, where=where))

    for _ in range(2):  # the second round reads remembered masks
        assert records({"x": 1}) == ["a", "d", "e"] and records({"x": 1.0}) == ["a", "d", "e"]
        assert records({"x": 1.5}) == ["b", "f"] and records({"x": "1.5"}) == ["b", "f"]
        assert records({"x": 2020}) == ["c"] and records({"x": "01"}) == ["a", "d", "e"]
        assert records({"flag": True}) == ["a", "e"] and records({"flag": "true"}) == ["a", "e"]
        assert records({"flag": 1}) == ["d", "f"]  # the number 1, not True
    cli = CliRunner().invoke(cli_main, ["query", "本文", "--index", str(tmp_path / "idx"), "--where", "x=1", "--json"])
    assert sorted(h["record"] for h in json.loads(cli.stdout)["hits"]) == ["a", "d", "e"]
