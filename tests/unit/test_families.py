"""Every model family of our users' shortlist indexes and queries, with its prompts reaching the tokenizer.

The models are tiny random ones built by `tiny_models` with each family's real layout, so rankings
mean nothing here; what is checked is the plumbing: prompts, pooling, padding, dims, the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiny_models
from click.testing import CliRunner
from conftest import DOCS

from hybridsearch.backends.local import LocalBackend
from hybridsearch.chunking import model_input
from hybridsearch.cli import cli
from hybridsearch.config import DenseConfig, IndexConfig
from hybridsearch.errors import HybridSearchError, InputError, ModelMismatchError
from hybridsearch.index import HybridIndex
from hybridsearch.textnorm import normalize

QUERY = "赤い惑星は何ですか"
VOCABULARY = "".join(DOCS.values()) + QUERY

#: family → (query prompt, document prompt) the index must use: from the model's config, else the table.
EXPECTED_PROMPTS = {
    "bert": ("query: ", "passage: "),  # multilingual-e5: no prompts in its config, so the family table
    "xlm-roberta": ("", ""),  # BGE-M3: CLS pooling, no prompts
    "modernbert": ("検索クエリ: ", "検索文書: "),  # ruri-v3
    "gemma3": ("task: search result | query: ", "title: none | text: "),  # EmbeddingGemma
    "qwen3": (tiny_models.QWEN3_QUERY_PROMPT, ""),  # Qwen3-Embedding: queries only
    "static": ("", ""),  # static-embedding-japanese
}


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def tiny(model_root: Path, family: str) -> Path:
    folder = model_root / tiny_models.FAMILIES[family].folder
    return folder if folder.exists() else tiny_models.build(family, model_root, VOCABULARY)


class _TokenizerSpy:
    """Stands in for a `tokenizers.Tokenizer`, noting what `encode_batch` is given."""

    def __init__(self, inner: Any, seen: list[str]) -> None:
        self._inner, self._seen = inner, seen

    def encode_batch(self, texts: list[str], *args: Any, **kwargs: Any) -> Any:
        self._seen.extend(texts)
        return self._inner.encode_batch(texts, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def tokenized(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every text the models' tokenizers receive while encoding (fits() checks are not counted)."""
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

    seen: list[str] = []
    tokenize = PreTrainedTokenizerBase.__call__

    def spy(self: Any, text: Any = None, *args: Any, **kwargs: Any) -> Any:
        if "padding" in kwargs:  # the encoding path pads; fits() does not
            seen.extend([text] if isinstance(text, str) else text)
        return tokenize(self, text, *args, **kwargs)

    preprocess = StaticEmbedding.preprocess

    def static_preprocess(self: Any, inputs: list[str], prompt: str | None = None, **kwargs: Any) -> Any:
        if not isinstance(self.tokenizer, _TokenizerSpy):
            self.tokenizer = _TokenizerSpy(self.tokenizer, seen)
        return preprocess(self, inputs, prompt, **kwargs)

    monkeypatch.setattr(PreTrainedTokenizerBase, "__call__", spy)
    monkeypatch.setattr(StaticEmbedding, "preprocess", static_preprocess)
    yield seen


@pytest.mark.parametrize("family", list(tiny_models.FAMILIES))
def test_family_indexes_and_queries_with_its_prompts(
    family: str, model_root: Path, corpus: Path, tmp_path: Path, tokenized: list[str]
) -> None:
    """`hsearch index --model FOLDER` then `hsearch query`, for every family."""
    folder = tiny(model_root, family)
    query_prompt, document_prompt = EXPECTED_PROMPTS[family]
    index_dir = str(tmp_path / "index")
    runner = CliRunner()
    built = runner.invoke(cli, ["index", str(corpus), "--index", index_dir, "--model", str(folder), "-q"])
    assert built.exit_code == 0, built.output
    with closing(LocalBackend.open(Path(index_dir))) as index:
        chunks = index.chunks(range(index.num_chunks))
        stored = index.vectors.vectors(np.arange(len(chunks)))
        model = index.info()["model"]
    chunk_inputs = {document_prompt + normalize(model_input(c.title, c.text)) for c in chunks}
    assert chunk_inputs <= set(tokenized), "every chunk reached the tokenizer with the document prompt"
    assert (model["name"], model["query_prompt"], model["document_prompt"]) == (
        str(folder),
        query_prompt,
        document_prompt,
    )
    assert stored.shape == (len(chunks), model["dim"])

    tokenized.clear()
    found = runner.invoke(cli, ["query", QUERY, "--index", index_dir, "--alpha", "0.5", "-k", "3", "--json"])
    assert found.exit_code == 0, found.output
    # (sentence-transformers also tokenizes a prompt alone, to measure it)
    assert [text for text in tokenized if normalize(QUERY) in text] == [query_prompt + normalize(QUERY)]
    hits = json.loads(found.output)["hits"]
    assert len(hits) == 3 and all(hit["dense"] is not None for hit in hits)


def _vectors(index_dir: Path, count: int) -> np.ndarray:
    with closing(LocalBackend.open(index_dir)) as backend:
        return backend.vectors.vectors(np.arange(count))


@pytest.mark.parametrize("family", ["gemma3", "qwen3"])
def test_padding_does_not_change_vectors(family: str, model_root: Path) -> None:
    """Batches of unequal lengths (left padding for Qwen3's last-token pooling) equal one-by-one encoding."""
    from hybridsearch.encoders import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder.load(DenseConfig(str(tiny(model_root, family)), precision="fp32"))
    texts = ["火星", "火星は太陽から4番目の惑星で、赤い惑星と呼ばれる。", "カレーの作り方"]
    batch = encoder.encode_documents(texts, batch_size=3)
    one_by_one = np.concatenate([encoder.encode_documents([t], batch_size=1) for t in texts])
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)


def test_matryoshka_dim_is_recorded_and_enforced(model_root: Path, corpus: Path, tmp_path: Path) -> None:
    folder = str(tiny(model_root, "static"))  # static-embedding-japanese: Matryoshka 1024 → 32; here 64 → 16
    config = IndexConfig(dense=DenseConfig(folder, dim=16))
    index = HybridIndex.build(corpus, tmp_path / "index", config=config)
    assert index.model.dim == 16 and index.config.dense.dim == 16
    vectors = _vectors(tmp_path / "index", 3)
    assert vectors.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    HybridIndex.build(corpus, tmp_path / "full", model=folder)
    full = _vectors(tmp_path / "full", 3)
    cut = full[:, :16] / np.linalg.norm(full[:, :16], axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, cut, atol=1e-5)  # the first 16 components, re-normalised
    assert index.search(QUERY, k=2, alpha=1.0)

    with pytest.raises(ModelMismatchError, match="dim 16.*not dim 32"):
        HybridIndex.open(tmp_path / "index", dim=32)
    with pytest.raises(ModelMismatchError, match="not model"):
        HybridIndex.open(tmp_path / "index", model=str(tiny(model_root, "bert")))
    with pytest.raises(InputError, match=r"dense.dim: 16 → 32"):
        HybridIndex.build(corpus, tmp_path / "index", config=IndexConfig(dense=DenseConfig(folder, dim=32)))
    with pytest.raises(InputError, match="gives 64-dimensional vectors; --dim must be between 1 and 64"):
        HybridIndex.build(corpus, tmp_path / "wide", config=IndexConfig(dense=DenseConfig(folder, dim=65)))


def test_custom_code_needs_trust_and_the_manifest_says_so(corpus: Path, tmp_path: Path) -> None:
    folder = tiny_models.build_custom_code(tmp_path, VOCABULARY)
    runner = CliRunner()
    refused = runner.invoke(cli, ["index", str(corpus), "--index", str(tmp_path / "index"), "--model", str(folder)])
    assert refused.exit_code == 1 and "runs Python code of its own" in refused.output
    assert "--trust-remote-code" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "index").exists()

    args = ["index", str(corpus), "--index", str(tmp_path / "index"), "--model", str(folder), "--trust-remote-code"]
    assert runner.invoke(cli, args).exit_code == 0
    info = json.loads(runner.invoke(cli, ["info", "--index", str(tmp_path / "index"), "--json"]).output)
    assert info["model"]["trust_remote_code"] is True and info["config"]["dense"]["trust_remote_code"] is True
    refused = runner.invoke(cli, ["query", QUERY, "--index", str(tmp_path / "index"), "--json"])
    assert refused.exit_code == 1 and "an index cannot grant that" in refused.stderr  # the index alone does not
    query = ["query", QUERY, "--index", str(tmp_path / "index"), "--json", "--trust-remote-code"]
    found = runner.invoke(cli, query)
    assert found.exit_code == 0 and json.loads(found.output)["hits"]


def test_cli_records_prompts_dim_and_rejects_a_device_it_lacks(model_root: Path, corpus: Path, tmp_path: Path) -> None:
    folder = str(tiny(model_root, "modernbert"))
    runner = CliRunner()
    args = ["index", str(corpus), "--index", str(tmp_path / "index"), "--model", folder, "--dim", "8",
            "--query-prompt", "質問: ", "--document-prompt", "", "--device", "cpu", "--batch-size", "4"]  # fmt: skip
    built = runner.invoke(cli, args)
    assert built.exit_code == 0, built.output
    info = json.loads(runner.invoke(cli, ["info", "--index", str(tmp_path / "index"), "--json"]).output)
    assert (info["model"]["dim"], info["model"]["query_prompt"], info["model"]["document_prompt"]) == (8, "質問: ", "")
    assert info["config"]["dense"]["dim"] == 8
    text = runner.invoke(cli, ["info", "--index", str(tmp_path / "index")]).output
    assert "dim 8 (Matryoshka cut)" in text

    found = runner.invoke(cli, ["query", QUERY, "--index", str(tmp_path / "index"), "--device", "cpu", "--json"])
    assert found.exit_code == 0 and json.loads(found.output)["hits"]
    missing = runner.invoke(cli, ["query", QUERY, "--index", str(tmp_path / "index"), "--device", "nosuchdevice"])
    assert missing.exit_code == 1 and missing.output.startswith("Error: Cannot load model")
    assert "Traceback" not in missing.output


def test_a_folder_that_is_no_model_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    from hybridsearch.encoders import SentenceTransformerEncoder

    with pytest.raises(HybridSearchError, match="Cannot load model"):
        SentenceTransformerEncoder.load(DenseConfig(str(tmp_path / "empty")))


def test_bf16_weights_give_the_fp32_vectors(model_root: Path) -> None:
    import torch

    from hybridsearch.encoders import SentenceTransformerEncoder

    folder = str(tiny(model_root, "bert"))
    fp32 = SentenceTransformerEncoder.load(DenseConfig(folder, precision="fp32"))
    bf16 = SentenceTransformerEncoder.load(DenseConfig(folder, precision="bf16"))
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    texts = ["火星は赤い惑星", "味噌汁の作り方", "休暇の申請"]
    a, b = fp32.encode_documents(texts), bf16.encode_documents(texts)
    assert b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, rtol=1e-5)  # normalised after leaving bf16
    assert (a * b).sum(axis=1).min() > 0.99
