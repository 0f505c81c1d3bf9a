"""Index locations are parsed once: a folder, or an engine's scheme://address."""

from pathlib import Path

import pytest

from hybridsearch.location import IndexLocation


def test_a_folder_and_an_engine_address() -> None:
    folder = IndexLocation.parse(Path("indexes/docs"))
    assert (folder.is_local, folder.scheme, folder.folder) == (True, None, Path("indexes/docs"))
    engine = IndexLocation.parse("qdrant+local://indexes/qdrant/docs")
    assert (engine.is_local, engine.scheme, str(engine)) == (
        False,
        "qdrant+local",
        "qdrant+local://indexes/qdrant/docs",
    )
    with pytest.raises(ValueError, match="not a folder"):
        engine.folder  # noqa: B018 - the property is what is tested


def test_a_child_keeps_the_engines_options() -> None:
    assert IndexLocation.parse("indexes").child("eval-x").folder == Path("indexes/eval-x")
    assert str(IndexLocation.parse("qdrant://db:6333/?shards=2").child("eval-x")) == "qdrant://db:6333/eval-x?shards=2"
    assert str(IndexLocation.parse("qdrant+local://indexes/qdrant").child("e")) == "qdrant+local://indexes/qdrant/e"
