"""The quickstart, for real: the embedded model over corpora/ ranks 火星 first for 赤い惑星は?"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from hybridsearch.cli import cli

CORPORA = ROOT / "corpora"


@pytest.fixture(scope="module")
def corpora_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("e2e") / "idx"
    built = CliRunner().invoke(cli, ["index", str(CORPORA), "--index", str(index_dir), "-q"])
    assert built.exit_code == 0, built.output
    assert "skipped" not in built.stderr
    return index_dir


@pytest.mark.slow
def test_quickstart_answer(corpora_index: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["query", "赤い惑星は?", "--alpha", "0.6", "--index", str(corpora_index), "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits[0]["path"].endswith("mars.md") and hits[0]["title"] == "火星"
    for alpha in ("0", "1"):  # each side alone also finds it
        alone = runner.invoke(cli, ["query", "赤い惑星は?", "--alpha", alpha, "--index", str(corpora_index), "-k", "1"])
        assert "mars.md" in alone.stdout.splitlines()[0]
    legacy = runner.invoke(cli, ["query", "桜前線", "--index", str(corpora_index), "-k", "1"])
    assert "sakura_sjis.txt" in legacy.stdout


@pytest.mark.slow
@pytest.mark.parametrize("question", ["qwerty asdf zxcv", "今日の株価はどうなる?", "年金の受給開始年齢は何歳?"])
def test_off_topic_and_nonsense_questions_get_no_good_match(corpora_index: Path, question: str) -> None:
    result = CliRunner().invoke(cli, ["query", question, "--index", str(corpora_index)])
    assert result.exit_code == 0 and "該当する文書が見つかりませんでした" in result.stderr and result.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize(("question", "found"), [("赤い惑星は?", "mars.md"), ("火星の衛星の名前は?", "mars.md")])
def test_on_topic_questions_pass_the_default_confidence(corpora_index: Path, question: str, found: str) -> None:
    result = CliRunner().invoke(cli, ["query", question, "--index", str(corpora_index), "--json"])
    hits = json.loads(result.stdout)["hits"]
    assert hits[0]["path"].endswith(found) and hits[0]["confidence"] >= 0.5
    assert "該当する" not in result.stderr


@pytest.mark.slow
def test_query_on_the_default_model_never_imports_torch(corpora_index: Path) -> None:
    code = (
        "import sys\nfrom hybridsearch import HybridIndex\n"
        f"hit = HybridIndex.open({str(corpora_index)!r}).search('赤い惑星は?', k=1)[0]\n"
        "print(hit.title, hit.dense > 0.5, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["火星", "True", "False", "False"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("no-such/model", "Error: Cannot load model 'no-such/model': it is neither a sentence-transformers folder"),
        ("{tmp}/notamodel", "Error: Cannot load model '{tmp}/notamodel': Unrecognized model in {tmp}/notamodel."),
    ],
)
def test_unusable_model_is_one_line(tmp_path: Path, model: str, message: str) -> None:
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "notamodel" / "config.json").write_text("{}")
    args = ["index", str(CORPORA / "planets"), "--index", str(tmp_path / "idx"), "--model", model.format(tmp=tmp_path)]
    result = CliRunner().invoke(cli, [*args, "-q"])
    assert result.exit_code == 1
    assert result.stderr.startswith(message.format(tmp=tmp_path)) and result.stderr.count("\n") == 1
    assert not (tmp_path / "idx").exists()


@pytest.mark.slow
def test_any_sentence_transformers_folder_works_as_model(tmp_path: Path) -> None:
    from hybridsearch.encoders.embedded_model import ensure_embedded_model

    folder = ensure_embedded_model()  # a plain sentence-transformers folder with prompts in its config
    runner = CliRunner()
    args = ["index", str(CORPORA / "planets"), "--index", str(tmp_path / "idx"), "--model", str(folder), "-q"]
    assert runner.invoke(cli, args).exit_code == 0
    info = json.loads(runner.invoke(cli, ["info", "--index", str(tmp_path / "idx"), "--json"]).stdout)
    assert info["model"]["name"] == str(folder) and info["model"]["dim"] == 384
    assert (info["model"]["query_prompt"], info["model"]["document_prompt"]) == ("query: ", "passage: ")
    result = runner.invoke(cli, ["query", "赤い惑星は?", "--index", str(tmp_path / "idx"), "-k", "1", "--alpha", "1"])
    assert result.exit_code == 0 and "mars.md" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "found", "label"),
    [
        ("地球の双子星と呼ばれる惑星は?", "惑星データ集.pdf", "p. 2, 第2章　金星"),  # where its answer is
        ("はやぶさ2の目的地", "惑星と探査機.xlsx", "探査機!A1:D7"),
    ],
)
def test_the_quickstart_pdf_and_workbook_answer_with_their_locations(
    corpora_index: Path, question: str, found: str, label: str
) -> None:
    result = CliRunner().invoke(cli, ["query", question, "--index", str(corpora_index), "-k", "1"])
    assert result.exit_code == 0 and f"planets/{found}  ({label})" in result.stdout.splitlines()[0]
