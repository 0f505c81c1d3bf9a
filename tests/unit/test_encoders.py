from types import SimpleNamespace

import numpy as np
import pytest
from tiny_models import QWEN3_QUERY_PROMPT

from hybridsearch.config import DenseConfig
from hybridsearch.encoders import ModelSpec, SentenceTransformerEncoder, check_vectors, truncate
from hybridsearch.errors import InputError, ModelMismatchError


class StubModel:
    """The parts of a SentenceTransformer the wrapper touches; records what it was asked to encode."""

    def __init__(self, prompts: dict[str, str] | None = None, max_seq_length: int = 8) -> None:
        self.prompts = prompts or {}
        self.max_seq_length = max_seq_length
        self.tokenizer = lambda text, truncation: {"input_ids": list(text)}  # one token per character
        self.seen: list[tuple[list[str], str]] = []

    def get_embedding_dimension(self) -> int:
        return 3

    def encode(self, texts: list[str], prompt: str, **_: object) -> object:
        import torch

        self.seen.append((texts, prompt))
        return torch.ones((len(texts), 3), dtype=torch.bfloat16)  # unnormalised, as bf16 models may give


def test_prompts_come_from_the_model_config_first() -> None:
    model = StubModel({"query": "Q: ", "document": "D: "})
    encoder = SentenceTransformerEncoder(model, DenseConfig("any/multilingual-e5-like"), "r1")  # type: ignore[arg-type]
    assert (encoder.spec.query_prompt, encoder.spec.document_prompt) == ("Q: ", "D: ")


@pytest.mark.parametrize(
    ("name", "query", "document"),
    [
        ("intfloat/multilingual-e5-small", "query: ", "passage: "),
        ("cl-nagoya/ruri-v3-30m", "検索クエリ: ", "検索文書: "),
        ("cl-nagoya/ruri-base-v2", "クエリ: ", "文章: "),
        ("/models/embeddinggemma-300m", "task: search result | query: ", "title: none | text: "),
        ("Qwen/Qwen3-Embedding-0.6B", QWEN3_QUERY_PROMPT, ""),
        ("BAAI/bge-m3", "", ""),
        ("hotchpotch/static-embedding-japanese", "", ""),
        ("some/other-model", "", ""),
    ],
)
def test_family_table_fills_missing_prompts(name: str, query: str, document: str) -> None:
    encoder = SentenceTransformerEncoder(StubModel(), DenseConfig(name))  # type: ignore[arg-type]
    assert (encoder.spec.query_prompt, encoder.spec.document_prompt) == (query, document)


def test_inputs_are_normalised_prompted_and_batched() -> None:
    model = StubModel({"query": "Q: ", "passage": "P: "})
    encoder = SentenceTransformerEncoder(model, DenseConfig("m"))  # type: ignore[arg-type]
    encoder.encode_queries(["ＡＢＣ"])
    done: list[int] = []
    vectors = encoder.encode_documents(["ｶﾞ"] * 5, batch_size=1, progress=done.append)
    assert model.seen[0] == (["abc"], "Q: ") and model.seen[1] == (["ガ"] * 5, "P: ")
    assert vectors.shape == (5, 3) and vectors.dtype == np.float32 and done == [5]


def test_fits_counts_prompt_tokens() -> None:
    encoder = SentenceTransformerEncoder(StubModel({"document": "D: "}, max_seq_length=8), DenseConfig("m"))  # type: ignore[arg-type]
    assert encoder.fits("12345") and not encoder.fits("123456")


def test_spec_compatibility_and_vector_checks() -> None:
    spec = ModelSpec("m", "r", 3, 512, "q", "d")
    spec.check_compatible(SimpleNamespace(**spec.to_dict()))  # type: ignore[arg-type]
    with pytest.raises(ModelMismatchError, match="revision: index 'r' vs given 'r2'"):
        spec.check_compatible(ModelSpec("m", "r2", 3, 512, "q", "d"))
    with pytest.raises(ModelMismatchError, match=r"shape \(1, 2\) \(expected \(1, 3\), finite\)"):
        check_vectors(np.zeros((1, 2)), 1, 3)
    with pytest.raises(ModelMismatchError):
        check_vectors(np.full((1, 3), np.nan), 1, 3)


def test_given_prompts_win_and_a_config_with_prompts_is_not_second_guessed() -> None:
    given = DenseConfig("any/multilingual-e5-small", query_prompt="問: ", document_prompt="")
    encoder = SentenceTransformerEncoder(StubModel({"query": "Q: ", "document": "D: "}), given)  # type: ignore[arg-type]
    assert (encoder.spec.query_prompt, encoder.spec.document_prompt) == ("問: ", "")
    # a config naming only a query prompt means "no document prompt", not "ask the family table"
    only_query = SentenceTransformerEncoder(StubModel({"query": "Q: "}), DenseConfig("x/multilingual-e5-small"))  # type: ignore[arg-type]
    assert (only_query.spec.query_prompt, only_query.spec.document_prompt) == ("Q: ", "")


def test_dim_truncates_and_renormalises() -> None:
    model = StubModel()
    encoder = SentenceTransformerEncoder(model, DenseConfig("m", dim=2))  # type: ignore[arg-type]
    vectors = encoder.encode_queries(["a", "b"])
    assert encoder.spec.dim == 2 and vectors.shape == (2, 2)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    raw = np.array([[3.0, 4.0, 12.0], [0.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(truncate(raw, 2), [[0.6, 0.8], [0.0, 0.0]])  # an all-zero cut stays zero
    with pytest.raises(InputError, match="gives 3-dimensional vectors; --dim must be between 1 and 3"):
        SentenceTransformerEncoder(model, DenseConfig("m", dim=4))  # type: ignore[arg-type]
