"""The quickstart, for real: the embedded model over corpora/ ranks 火星 first for 赤い惑星は?"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hybridsearch.cli import cli

CORPORA = Path(__file__).parent.parent / "corpora"


@pytest.mark.slow
def test_quickstart_answer(tmp_path: Path) -> None:
    runner = CliRunner()
    built = runner.invoke(cli, ["index", str(CORPORA), "--index", str(tmp_path / "idx"), "-q"])
    assert built.exit_code == 0, built.output
    assert "skipped" not in built.stderr
    result = runner.invoke(cli, ["query", "赤い惑星は?", "--alpha", "0.6", "--index", str(tmp_path / "idx"), "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits[0]["path"].endswith("mars.md") and hits[0]["title"] == "火星"
    for alpha in ("0", "1"):  # each side alone also finds it
        alone = runner.invoke(
            cli, ["query", "赤い惑星は?", "--alpha", alpha, "--index", str(tmp_path / "idx"), "-k", "1"]
        )
        assert "mars.md" in alone.stdout.splitlines()[0]
    legacy = runner.invoke(cli, ["query", "桜前線", "--index", str(tmp_path / "idx"), "-k", "1"])
    assert "sakura_sjis.txt" in legacy.stdout


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
