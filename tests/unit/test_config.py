"""Index options come from one declaration per field: the CLI options, the manifest's reading, the
rebuild and vector-shape checks and the encoder cache key derive from it; an unknown key is an error."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
from click.testing import CliRunner

from hybridsearch.cli import cli
from hybridsearch.cli.options import configured
from hybridsearch.config import DenseConfig, IndexConfig, Setting, declared
from hybridsearch.errors import InputError


def test_every_setting_is_declared() -> None:
    """A field added without `setting(...)` fails here: nothing would derive its option or checks."""
    for part in [IndexConfig, *IndexConfig.parts().values()]:
        for found in fields(part):
            assert isinstance(found.metadata.get("setting"), Setting), f"{part.__name__}.{found.name}"


def test_every_declared_flag_is_an_option_of_hsearch_index() -> None:
    shown = CliRunner().invoke(cli, ["index", "--help"], terminal_width=200).output
    flags = [setting.flag for part in IndexConfig.parts().values() for _, setting in declared(part) if setting.flag]
    assert len(flags) >= 20
    for flag in flags:
        assert flag.split("/")[0] in shown, flag


def test_options_set_the_declared_fields() -> None:
    config = configured(None, {"chunk_size": 300, "word_pairs": False, "vectors": "hnsw", "model": "fake:x"})
    assert config is not None
    assert (config.chunk.size, config.tokenizer.word_pairs, str(config.vectors.kind), config.dense.model) == (
        300, False, "hnsw", "fake:x",
    )  # fmt: skip
    assert configured(IndexConfig(), {"chunk_size": None}) is None  # nothing given: the index's own settings


@pytest.mark.parametrize("options", [{"no_such_option": 5}, {"size": 300}, {"chunk_size": 300, "k1": 2.0}])
def test_an_unknown_option_is_an_error(options: dict) -> None:
    with pytest.raises(InputError, match="Unknown index option"):
        configured(None, options)


def test_a_manifest_with_an_unknown_key_is_refused_and_a_missing_one_takes_its_before_value() -> None:
    written = IndexConfig().to_dict()
    with pytest.raises(InputError, match=r"Unknown index config keys: \['chunk.sise'\]"):
        IndexConfig.from_dict(written | {"chunk": written["chunk"] | {"sise": 3}})
    with pytest.raises(InputError, match=r"Unknown index config keys: \['colour'\]"):
        IndexConfig.from_dict(written | {"colour": "red"})
    old = written | {"tokenizer": {"term_form": "lemma"}, "dense": {"model": "fake:x"}}
    read = IndexConfig.from_dict(old)
    assert (read.tokenizer.word_pairs, read.dense.sentences, read.dense.chunk_from_sentences) == (False, False, False)
    assert IndexConfig.from_dict(written) == IndexConfig()


def test_what_needs_a_rebuild_shapes_vectors_or_loads_an_encoder_comes_from_the_declarations() -> None:
    base = IndexConfig()
    tuned = replace(base, alpha=0.7, min_confidence=0.3, vectors=replace(base.vectors, ef_search=64))
    tuned = replace(tuned, loader=replace(base.loader, max_file_seconds=5.0))
    assert tuned.stored_settings() == base.stored_settings()  # query defaults and run-time limits
    rebuilt = replace(base, chunk=replace(base.chunk, size=300))
    assert rebuilt.stored_settings()["chunk.size"] == 300 != base.stored_settings()["chunk.size"]
    dense = DenseConfig()
    assert replace(dense, batch_size=2).shapes_vectors() == dense.shapes_vectors()
    assert replace(dense, batch_size=2, sentences=False).encoder_key() == dense.encoder_key()
    assert replace(dense, dim=8).shapes_vectors() != dense.shapes_vectors()
    assert replace(dense, precision="fp32").encoder_key() != dense.encoder_key()
    assert replace(dense, precision="fp32").shapes_vectors() == dense.shapes_vectors()


def test_model_grants_are_one_record() -> None:
    from hybridsearch.config import ModelAccess

    chosen = DenseConfig(model="openai:m", api_base="http://127.0.0.1:9/v1", api_key_env="MY_KEY")
    assert ModelAccess.given_in(chosen) == ModelAccess("http://127.0.0.1:9/v1", "MY_KEY", False)
    assert ModelAccess.given_in(DenseConfig()) == ModelAccess(
        None, None, False
    )  # the default key variable grants nothing
    merged = ModelAccess(None, "OTHER_KEY", True).merged(ModelAccess.given_in(chosen))
    assert merged == ModelAccess("http://127.0.0.1:9/v1", "OTHER_KEY", True)  # the call's own grants come first
    recorded = merged.recorded_in(DenseConfig(model="openai:m"))
    assert (recorded.api_base, recorded.api_key_env, recorded.trust_remote_code) == (
        "http://127.0.0.1:9/v1", "OTHER_KEY", True,
    )  # fmt: skip
