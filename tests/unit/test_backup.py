import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import FAKE_MODEL

from hybridsearch import HybridIndex
from hybridsearch.backends.local.generations import writer_lock
from hybridsearch.cli import cli


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def answers(index_dir: Path) -> list[tuple[str, float]]:
    with HybridIndex.open(index_dir) as index:
        return [(hit.id, hit.score) for query in ("火星", "経費の締め日", "味噌汁") for hit in index.search(query, k=3)]


@pytest.fixture
def index_dir(corpus: Path, tmp_path: Path) -> Path:
    assert run("index", str(corpus), "--index", str(tmp_path / "idx"), "--model", FAKE_MODEL, "-q").exit_code == 0
    (corpus / "new.txt").write_text("新しい文書。", encoding="utf-8")  # a second generation, so the live one is gen 2
    assert run("index", str(corpus), "--index", str(tmp_path / "idx"), "-q").exit_code == 0
    return tmp_path / "idx"


def test_a_backup_is_a_verified_index_that_answers_the_same_and_restores(index_dir: Path, tmp_path: Path) -> None:
    result = run("backup", str(index_dir), str(tmp_path / "copy"))
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"{tmp_path / 'copy'}: a copy of {index_dir} (gen-000002, ")
    assert result.stderr.rstrip().endswith("hard-linked); verified")
    assert [p.name for p in sorted((tmp_path / "copy").iterdir())] == ["CURRENT", "LOCK", "gen-000002"]
    original, copy = index_dir / "gen-000002" / "docs.sqlite", tmp_path / "copy" / "gen-000002" / "docs.sqlite"
    assert original.stat().st_ino == copy.stat().st_ino  # linked, not copied: generations never change in place
    assert answers(tmp_path / "copy") == answers(index_dir)
    assert run("info", "--index", str(tmp_path / "copy"), "--check").exit_code == 0
    shutil.rmtree(index_dir)  # the index is lost; restore by copying the backup back
    shutil.copytree(tmp_path / "copy", index_dir)
    assert run("query", "火星", "--index", str(index_dir)).exit_code == 0


def test_a_backup_never_overwrites_nor_nests(index_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("keep me", encoding="utf-8")
    taken = run("backup", str(index_dir), str(tmp_path / "taken"))
    assert (
        taken.exit_code == 1
        and taken.stderr == f"Error: {tmp_path / 'taken'} already exists; back up into a new folder.\n"
    )
    assert (tmp_path / "taken" / "notes.txt").read_text(encoding="utf-8") == "keep me"
    inside = run("backup", str(index_dir), str(index_dir / "backup"))
    assert inside.exit_code == 1 and "outside the index" in inside.stderr


def test_a_damaged_index_or_one_being_written_is_not_backed_up(index_dir: Path, tmp_path: Path) -> None:
    with writer_lock(index_dir):
        locked = run("backup", str(index_dir), str(tmp_path / "copy"))
    assert locked.exit_code == 1 and "is locked by pid" in locked.stderr and not (tmp_path / "copy").exists()
    vocabulary = next((index_dir / "gen-000002" / "bm25").glob("vocab*"))
    vocabulary.write_bytes(vocabulary.read_bytes()[:-1] + b" ")
    damaged = run("backup", str(index_dir), str(tmp_path / "copy"))
    assert damaged.exit_code == 1 and "does not match its checksums" in damaged.stderr
    assert not (tmp_path / "copy").exists()


def test_a_qdrant_index_points_at_its_snapshots(tmp_path: Path) -> None:
    result = run("backup", "qdrant://localhost:6333/docs", str(tmp_path / "copy"))
    assert result.exit_code == 1 and "Qdrant's snapshots" in result.stderr
