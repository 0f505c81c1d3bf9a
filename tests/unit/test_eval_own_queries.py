"""`hsearch eval QUESTIONS --index DIR [--calibrate]`: your own questions scored on an existing index,
and its confidence threshold fitted on them and stored."""

import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import CALIBRATED_MODEL, DOCS, FAKE_MODEL, write_files

from hybridsearch import HybridIndex, InputError
from hybridsearch.cli import cli
from hybridsearch.own_queries import (
    Question,
    choose_threshold,
    evaluate_questions,
    first_ranks,
    histogram,
    load_questions,
    quantiles,
)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    """The conftest corpus indexed with the fake model whose confidence is calibrated."""
    docs = write_files(tmp_path / "docs", DOCS)
    HybridIndex.build(docs, tmp_path / "idx", model=CALIBRATED_MODEL).close()
    return tmp_path / "idx"


def questions_file(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


# --- the file formats -------------------------------------------------------------------------------


def test_jsonl_and_tsv_say_the_same(tmp_path: Path) -> None:
    jsonl = questions_file(tmp_path / "q.jsonl", [
        {"query": "結婚したら休暇は何日？", "expected": ["規程/就業規則.docx"]},
        {"query": "経費の締め日", "expected": "faq.csv#f2", "id": "q2"},
        {"query": "株価の見通し", "expected": []},
    ])  # fmt: skip
    (tmp_path / "q.tsv").write_text(
        "question\texpected\n結婚したら休暇は何日？\t規程/就業規則.docx\n\n経費の締め日\tfaq.csv#f2\t\n株価の見通し\t-\n",
        encoding="utf-8",
    )
    read = [(q.text, q.expected) for q in load_questions(jsonl)]
    assert read == [(q.text, q.expected) for q in load_questions(tmp_path / "q.tsv")]
    assert read == [
        ("結婚したら休暇は何日？", ("規程/就業規則.docx",)),
        ("経費の締め日", ("faq.csv#f2",)),
        ("株価の見通し", ()),
    ]
    assert [q.line for q in load_questions(tmp_path / "q.tsv")] == [2, 4, 5]  # the header and blank lines skipped
    assert load_questions(jsonl)[1].id == "q2"


def test_tsv_without_header_and_several_expected(tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("赤い惑星\tmars.md\tvenus.md\n", encoding="utf-8")
    assert load_questions(path) == [Question("赤い惑星", ("mars.md", "venus.md"), 1)]
    other = tmp_path / "questions"  # no suffix: a line opening with { is JSONL
    other.write_text('{"query": "赤い惑星", "expected": "mars.md"}\n', encoding="utf-8")
    assert load_questions(other) == [Question("赤い惑星", ("mars.md",), 1)]


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("q.jsonl", '{"query": "a", "expected": "x"}\n{"query": "b"\n', "q.jsonl line 2: not JSON"),
        ("q.jsonl", '{"query": "a"}\n', 'q.jsonl line 1: "expected" is a path or id'),
        ("q.jsonl", '{"query": "", "expected": "x"}\n', 'q.jsonl line 1: "query" must be the question'),
        ("q.jsonl", '{"query": "a", "expected": [1]}\n', 'q.jsonl line 1: "expected"'),
        ("q.jsonl", '["a", "x"]\n', "q.jsonl line 1: a line is a JSON object"),
        ("q.jsonl", '{"query": "a", "expected": "x", "answer": "y"}\n', "q.jsonl line 1: unknown key(s) 'answer'"),
        ("q.tsv", "赤い惑星\tmars.md\n金星\n", "q.tsv line 2: no expected document after the question"),
        ("q.tsv", "\tmars.md\n", "q.tsv line 1: the question is empty"),
        ("q.tsv", "\n\n", "holds no questions"),
    ],
)
def test_a_bad_line_is_a_one_line_error_naming_file_and_line(
    tmp_path: Path, index_dir: Path, name: str, text: str, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="^" + re.escape(str(path))):
        load_questions(path)
    result = run("eval", str(path), "--index", str(index_dir))
    assert result.exit_code == 1 and fragment in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_bytes("赤い惑星\tmars.md\n".encode("cp932"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_questions(path)


# --- what an expected entry names -------------------------------------------------------------------


def test_expected_entries_name_documents_by_path_suffix_id_chunk_and_record(index_dir: Path) -> None:
    with HybridIndex.open(index_dir) as index, index.searcher() as searcher:
        documents = {d.source.split("docs/", 1)[1]: d for d in searcher.backend.documents()}
        mars, f1, f2 = documents["planets/mars.md"], documents["faq.csv#f1"], documents["faq.csv#f2"]
        chunk = index.search("赤い惑星", k=1)[0]
        entries = {
            "mars.md": {mars.id},
            "planets/mars.md": {mars.id},
            "docs\\planets\\mars.md": {mars.id},  # Windows separators
            mars.abs_path: {mars.id},
            mars.id: {mars.id},
            chunk.id: {chunk.document_id},
            "faq.csv": {f1.id, f2.id},  # every row of the file
            "faq.csv#f2": {f2.id},
            "lanets/mars.md": set(),  # a suffix counts only after a /
            "faq.csv#f9": set(),
            "mars": set(),
        }
        questions = [Question("赤い惑星", (entry,), n) for n, entry in enumerate(entries, 1)]
        warnings: list[str] = []
        report = evaluate_questions(index, questions, warn=warnings.append, source="q.tsv")
    for outcome, (entry, named) in zip(report.outcomes, entries.items()):
        assert set().union(*outcome.targets) == named, entry
        assert outcome.unknown == (() if named else (entry,))
    assert len(warnings) == 3 and warnings[0].startswith("q.tsv line 9: 'lanets/mars.md' names no document in ")
    assert "(a typo?); the question is left out." in warnings[0]


def test_unknown_expected_is_a_counted_warning(tmp_path: Path, index_dir: Path) -> None:
    path = questions_file(tmp_path / "q.jsonl", [
        {"query": "赤い惑星", "expected": ["mars.md", "marz.md"]},  # scored on mars.md
        {"query": "明けの明星", "expected": "venos.md"},  # left out
        {"query": "金星", "expected": "venus.md"},
    ])  # fmt: skip
    result = run("eval", str(path), "--index", str(index_dir), "--json", "-q")
    assert result.exit_code == 0, result.output
    assert (
        "q.jsonl line 1: 'marz.md' names no document" in result.stderr and "it is scored on the others" in result.stderr
    )
    assert "q.jsonl line 2: 'venos.md' names no document" in result.stderr and "left out" in result.stderr
    payload = json.loads(result.stdout)
    assert (payload["questions"], payload["scored"], payload["left_out"], payload["unknown_expected"]) == (3, 2, 1, 2)
    text = run("eval", str(path), "--index", str(index_dir), "-q")
    assert "2 expected entries name no document (see the warnings); 1 question(s) left out" in text.stdout


# --- the figures --------------------------------------------------------------------------------------


def test_first_ranks_count_each_entry_once() -> None:
    targets = {"a.md": frozenset({"d1"}), "faq.csv": frozenset({"d3", "d4"}), "gone.md": frozenset({"d9"})}
    assert first_ranks(["d1", "d2", "d3", "d4"], targets) == {"a.md": 1, "faq.csv": 3, "gone.md": None}
    # a hit holds its copies' documents: the expected file folded into another's hit is found there
    held = [frozenset({"d2", "d9"}), frozenset({"d1"})]
    assert first_ranks(held, targets) == {"a.md": 2, "faq.csv": None, "gone.md": 1}


def test_metrics_by_hand(tmp_path: Path, index_dir: Path) -> None:
    """Three questions whose rankings the fake model fixes (checked in --per-query): mars.md first
    (all 1); mars.md second (MRR 1/2, nDCG 1/log2 3); miso.txt second and curry.txt third."""
    path = questions_file(tmp_path / "q.jsonl", [
        {"query": "赤い惑星", "expected": "mars.md"},
        {"query": "火星と金星", "expected": "mars.md"},
        {"query": "カレーと味噌汁", "expected": ["food/curry.txt", "miso.txt", "docs/food/curry.txt"]},
    ])  # fmt: skip
    per_query = tmp_path / "rows.jsonl"
    result = run("eval", str(path), "--index", str(index_dir), "--json", "-q", "--per-query", str(per_query))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in per_query.read_text(encoding="utf-8").splitlines()]
    assert [row["ranks"] for row in rows] == [{"mars.md": 1}, {"mars.md": 2}, {"food/curry.txt": 3, "miso.txt": 2}]
    assert [row["right"] for row in rows] == [True, False, False]
    assert rows[1]["first"].endswith("planets/venus.md") and rows[0]["line"] == 1
    third = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert [row["ndcg@10"] for row in rows] == pytest.approx([1.0, 1 / math.log2(3), third])
    assert [row["mrr@10"] for row in rows] == [1.0, 0.5, 0.5]
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics == pytest.approx({"ndcg@10": (1 + 1 / math.log2(3) + third) / 3, "recall@10": 1.0, "mrr@10": 2 / 3})
    assert metrics["ndcg@10"] == pytest.approx(0.7748, abs=1e-4)


def test_confidence_of_right_and_wrong_first_hits(tmp_path: Path, index_dir: Path) -> None:
    path = questions_file(tmp_path / "q.jsonl", [
        {"query": "赤い惑星", "expected": "mars.md"},
        {"query": "休暇と経費", "expected": "faq.csv#f1"},
        {"query": "火星と金星", "expected": "mars.md"},
        {"query": "株価", "expected": []},
    ])  # fmt: skip
    result = run("eval", str(path), "--index", str(index_dir), "--json", "-q", "--per-query", str(tmp_path / "r"))
    payload = json.loads(result.stdout)
    rows = [json.loads(line) for line in (tmp_path / "r").read_text(encoding="utf-8").splitlines()]
    right = sorted(row["confidence"] for row in rows if row["right"])
    wrong = sorted(row["confidence"] for row in rows if row["right"] is False)
    assert payload["first_hits"] == {"right": 2, "wrong": 2, "none": 0} and payload["unanswerable"] == 1
    assert payload["confidence"]["right"]["quantiles"]["min"] == round(right[0], 4)
    assert payload["confidence"]["wrong"]["quantiles"]["max"] == round(wrong[-1], 4)
    assert payload["confidence"]["right"]["histogram"] == histogram(right)
    threshold = payload["min_confidence"]
    assert threshold == 0.35  # the fitted default: nothing calibrated yet
    assert payload["no_good_match"] == {
        "right": sum(c < threshold for c in right),
        "wrong": sum(c < threshold for c in wrong),
        "none": 0,
    }
    text = run("eval", str(path), "--index", str(index_dir), "-q").stdout
    assert "first hits: 2 right, 2 wrong (1 of them for questions no document answers)" in text
    assert "<- threshold 0.35" in text.splitlines()[text.splitlines().index(
        next(line for line in text.splitlines() if line.startswith("0.3-0.4")))]  # fmt: skip


def test_quantiles_and_histogram() -> None:
    assert quantiles([]) is None
    assert quantiles([0.1, 0.2, 0.3, 0.4, 0.5]) == {
        "min": 0.1, "p10": 0.14, "p25": 0.2, "median": 0.3, "p75": 0.4, "p90": 0.46, "max": 0.5
    }  # fmt: skip
    assert histogram([0.0, 0.05, 0.1, 0.99, 1.0]) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]


# --- calibration ----------------------------------------------------------------------------------------


def test_the_threshold_lets_at_most_five_percent_of_wrong_first_hits_pass() -> None:
    wrong = [i / 100 for i in range(1, 21)]  # 0.01 … 0.20: one of 20 may pass
    choice = choose_threshold([0.15, 0.5, 0.9], wrong)
    assert choice.threshold == 0.191 and (choice.wrong_passed, choice.right_kept) == (1, 2)
    assert "at most 5% of the 20 wrong first hits pass (1 pass); it keeps 2 of the 3 right first hits (67%)" in (
        choice.reason
    )
    assert choose_threshold([0.9] * 15, [0.3, 0.1, 0.2, 0.05, 0.3] * 2).threshold == 0.301  # none of 10 may pass
    assert choose_threshold([0.9] * 15, [0.3, 0.1, 0.2, 0.05, 0.3 + 1e-12] * 2).threshold == 0.301
    assert choose_threshold([0.9] * 15, [0.9995] * 10).threshold == 1.0


def test_too_few_to_calibrate() -> None:
    few = choose_threshold([0.9] * 10, [0.1] * 9)
    assert few.threshold is None and few.reason.startswith("19 question(s) with a first hit are too few")
    no_wrong = choose_threshold([0.9] * 30, [0.1] * 9)
    assert no_wrong.threshold is None and "9 wrong first hit(s) are too few to calibrate on (at least 10)" in (
        no_wrong.reason
    )
    assert '"expected": []' in no_wrong.reason


ANSWERED = [
    ("赤い惑星", "mars.md"), ("火星の色", "mars.md"), ("太陽から4番目の惑星", "mars.md"), ("酸化鉄", "mars.md"),
    ("明けの明星", "venus.md"), ("二酸化炭素の大気", "venus.md"), ("青い惑星", "earth.md"), ("海は7割", "earth.md"),
    ("カレーの作り方", "curry.txt"), ("玉ねぎを炒める", "curry.txt"), ("味噌汁", "miso.txt"),
    ("だしを取る", "miso.txt"),
    ("有給休暇の申請", "faq.csv#f1"), ("経費精算の締め日", "faq.csv#f2"), ("米を炊く", "notes.jsonl#rice"),
]  # fmt: skip
UNANSWERABLE = [
    "株価の見通し", "サッカーの試合", "東京の天気", "プログラミング言語", "自動車の修理", "野球の歴史", "量子力学",
    "社員食堂のメニュー", "駐車場の利用申請", "名刺の発注方法",
]  # fmt: skip


def test_calibrate_stores_the_threshold_and_every_search_uses_it(tmp_path: Path, index_dir: Path) -> None:
    path = questions_file(
        tmp_path / "q.jsonl",
        [{"query": q, "expected": e} for q, e in ANSWERED] + [{"query": q, "expected": []} for q in UNANSWERABLE],
    )
    rows_path = tmp_path / "rows.jsonl"
    result = run(
        "eval", str(path), "--index", str(index_dir), "--calibrate", "--json", "-q", "--per-query", str(rows_path)
    )
    assert result.exit_code == 0, result.output
    calibration = json.loads(result.stdout)["calibration"]
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines()]
    wrong = sorted((row["confidence"] for row in rows if row["right"] is False), reverse=True)
    assert len(wrong) >= 10 and len(rows) == 25
    threshold = (math.floor(wrong[math.floor(0.05 * len(wrong))] * 1000) + 1) / 1000  # none of < 20 may pass
    assert calibration["stored"] and calibration["threshold"] == threshold and calibration["previous"] == 0.35
    assert calibration["wrong_passed"] == 0
    assert calibration["right_kept"] == sum(row["confidence"] >= threshold for row in rows if row["right"])
    with HybridIndex.open(index_dir) as index:
        assert index.config.min_confidence == threshold

    # every door reads it: hsearch query --json, and the index's own search
    answered = json.loads(run("query", "赤い惑星", "--index", str(index_dir), "--json").stdout)
    assert answered["min_confidence"] == threshold and answered["no_good_match"] is False
    unanswered = json.loads(run("query", UNANSWERABLE[0], "--index", str(index_dir), "--json").stdout)
    assert unanswered["min_confidence"] == threshold and unanswered["no_good_match"] is True
    with HybridIndex.open(index_dir) as index:
        assert all(hit.weak for hit in index.search(UNANSWERABLE[0]))

    # and eval reports with it now
    again = json.loads(run("eval", str(path), "--index", str(index_dir), "--json", "-q").stdout)
    assert again["min_confidence"] == threshold and again["no_good_match"]["wrong"] == len(wrong)
    text = run("eval", str(path), "--index", str(index_dir), "--calibrate", "-q").stdout
    assert f"calibrated: threshold {threshold:g} (was {threshold:g}), stored in {index_dir}: the lowest" in text


def test_too_few_questions_change_nothing(tmp_path: Path, index_dir: Path) -> None:
    path = questions_file(tmp_path / "q.jsonl", [{"query": q, "expected": e} for q, e in ANSWERED[:5]])
    result = run("eval", str(path), "--index", str(index_dir), "--calibrate", "-q")
    assert result.exit_code == 0, result.output
    assert "not calibrated, the threshold stays 0.35: 5 question(s) with a first hit are too few" in result.stdout
    payload = json.loads(run("eval", str(path), "--index", str(index_dir), "--calibrate", "--json", "-q").stdout)
    assert payload["calibration"]["stored"] is False and payload["calibration"]["threshold"] is None
    with HybridIndex.open(index_dir) as index:
        assert index.config.min_confidence is None


def test_a_model_without_calibrated_confidence(tmp_path: Path) -> None:
    docs = write_files(tmp_path / "docs", DOCS)
    HybridIndex.build(docs, tmp_path / "idx", model=FAKE_MODEL).close()
    path = questions_file(tmp_path / "q.jsonl", [{"query": "赤い惑星", "expected": "mars.md"}])
    refused = run("eval", str(path), "--index", str(tmp_path / "idx"), "--calibrate", "-q")
    assert refused.exit_code == 1 and "has no calibrated confidence, so there is no threshold to calibrate" in (
        refused.stderr
    )
    payload = json.loads(run("eval", str(path), "--index", str(tmp_path / "idx"), "--json", "-q").stdout)
    assert payload["min_confidence"] is None and payload["confidence"] is None
    assert payload["metrics"] == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr@10": 1.0}


# --- the command's shape --------------------------------------------------------------------------------


def test_an_index_that_does_not_exist(tmp_path: Path) -> None:
    path = questions_file(tmp_path / "q.jsonl", [{"query": "赤い惑星", "expected": "mars.md"}])
    result = run("eval", str(path), "--index", str(tmp_path / "nope"))
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: No index at {tmp_path / 'nope'}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_index_comes_from_hsearch_index_like_every_command(
    tmp_path: Path, index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = questions_file(tmp_path / "q.jsonl", [{"query": "赤い惑星", "expected": "mars.md"}])
    monkeypatch.setenv("HSEARCH_INDEX", str(index_dir))
    result = run("eval", str(path), "--json", "-q")
    assert result.exit_code == 0 and json.loads(result.stdout)["index"] == str(index_dir)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--alpha", "0.5"], "--alpha: only for a BEIR folder"),
        (["--tune", "--model", "x"], "--model, --tune: only for a BEIR folder"),
    ],
)
def test_beir_options_are_refused_with_a_questions_file(
    tmp_path: Path, index_dir: Path, extra: list[str], fragment: str
) -> None:
    path = questions_file(tmp_path / "q.jsonl", [{"query": "赤い惑星", "expected": "mars.md"}])
    result = run("eval", str(path), "--index", str(index_dir), *extra)
    assert result.exit_code == 1 and fragment in result.stderr


def test_questions_options_are_refused_with_a_beir_folder(tmp_path: Path) -> None:
    (tmp_path / "beir").mkdir()
    calibrate = run("eval", str(tmp_path / "beir"), "--calibrate")
    assert calibrate.exit_code == 1 and "--calibrate: only with a questions file" in calibrate.stderr
    index = run("eval", str(tmp_path / "beir"), "--index", "x")
    assert index.exit_code == 1 and "--index: only with a questions file" in index.stderr
    missing = run("eval", str(tmp_path / "nothing"))
    assert missing.exit_code == 1 and "No such file or folder" in missing.stderr
