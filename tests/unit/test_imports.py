"""Heavy libraries stay out of `import hybridsearch` and `hsearch --help` (cold start)."""

import subprocess
import sys

import pytest
import tomllib
from conftest import ROOT

import hybridsearch

HEAVY = ("torch", "sentence_transformers", "transformers", "faiss")


@pytest.mark.parametrize(
    "code",
    [
        "import hybridsearch",
        "from hybridsearch.cli import cli\ntry:\n    cli(['--help'])\nexcept SystemExit:\n    pass",
    ],
)
def test_no_heavy_imports(code: str) -> None:
    check = f"{code}\nimport sys\nprint('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "HEAVY="


def test_version_matches_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == hybridsearch.__version__


def test_public_api() -> None:
    assert {"HybridIndex", "Hit", "IndexConfig", "HybridSearchError", "__version__"} <= set(hybridsearch.__all__)
