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
