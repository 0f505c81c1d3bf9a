"""Shared fixtures: a deterministic fake encoder (no torch) and a tiny Japanese corpus."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from hybridsearch import HybridIndex, register_encoder
from hybridsearch.confidence import Calibration, register_calibration
from hybridsearch.encoders import ModelSpec
from hybridsearch.textnorm import normalize

#: This folder (the shared helpers, fake_hsearch.py among them; the tiers are unit/, integration/, hostile/)
#: and the repository root, for tests at any depth.
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

FAKE_MODEL = "fake:bigrams"
#: A fake model with calibrated confidence (weights registered below), for tests of weak hits.
CALIBRATED_MODEL = "fake:calibrated"


#: A fake model whose vector of a text depends a little on its encoder call, as a real one's does.
PADDED_MODEL = "fake:padded"


class FakeEncoder:
    """Hashed character-bigram vectors: texts sharing bigrams are close. Deterministic and instant.
    `padded`: like a real model's batches (padding, bf16 kernels by batch shape), each vector of a call
    moves a little with the longest text of that call."""

    def __init__(self, dim: int = 64, max_chars: int = 512, name: str = FAKE_MODEL, padded: bool = False) -> None:
        self.spec = ModelSpec(
            name=name, revision="1", dim=dim, max_seq_length=max_chars, query_prompt="q: ", document_prompt="d: "
        )
        self.calls: list[str] = []
        self.padded = padded

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.spec.dim, np.float32)
        text = normalize(text)
        for i in range(len(text) - 1):
            bucket = int.from_bytes(hashlib.blake2b(text[i : i + 2].encode(), digest_size=4).digest(), "little")
            vector[bucket % self.spec.dim] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector + 1 / np.sqrt(self.spec.dim)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append("queries")
        return np.stack([self._vector(t) for t in texts])

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32, progress=None) -> np.ndarray:
        self.calls.append("documents")
        vectors = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.spec.dim), np.float32)
        if self.padded and texts:
            vectors[:, 0] += 1e-4 * max(map(len, texts))
        if progress:
            progress(len(texts))
        return vectors

    def fits(self, text: str) -> bool:
        return len(self.spec.document_prompt + text) <= self.spec.max_seq_length


#: The model name of every FakeEncoder the registry made (tests check when a model is, or is not, loaded).
LOADED: list[str] = []


def _load_fake(config, device, known):  # type: ignore[no-untyped-def]
    LOADED.append(config.model)
    return FakeEncoder(name=config.model, padded=config.model == PADDED_MODEL)


# models named fake:… are FakeEncoders, registered through the same door as the real ones
register_encoder("fake", _load_fake)
register_calibration(CALIBRATED_MODEL, Calibration((12.0, -20.0, 3.0, -1.0), -6.0))


@pytest.fixture(autouse=True)
def own_embedding_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each test its own empty embedding cache (not the user's): vectors a test encodes come from the
    model, unless that same test encoded them before."""
    path = tmp_path_factory.mktemp("embedding-cache") / "embeddings.sqlite"
    monkeypatch.setenv("HSEARCH_EMBEDDING_CACHE", str(path))
    return path


@pytest.fixture(autouse=True)
def close_every_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every HybridIndex a test opened (as sqlite-utils' tests close every Database); a handle
    that `close` leaves open still fails the test, as a ResourceWarning."""
    opened: list[HybridIndex] = []
    original = HybridIndex.__init__

    def tracking(self: HybridIndex, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(HybridIndex, "__init__", tracking)
    yield
    for index in opened:
        index.close()


DOCS = {
    "planets/mars.md": "# 火星\n\n火星は太陽から4番目の惑星で、「赤い惑星」と呼ばれる。"
    "地表の酸化鉄が赤い色のもとだ。\n",
    "planets/venus.md": "# 金星\n\n金星は明けの明星とも呼ばれる。厚い二酸化炭素の大気に包まれている。\n",
    "planets/earth.md": "# 地球\n\n地球は青い惑星で、表面の7割が海である。\n",
    "food/curry.txt": "カレーの作り方。玉ねぎを炒めて、肉と野菜を煮込み、ルウを溶かす。\n",
    "food/miso.txt": "味噌汁はだしを取り、火を止めてから味噌を溶く。\n",
    "faq.csv": "id,title,text\nf1,休暇,有給休暇は三日前までに申請する。\nf2,経費,経費精算は毎月二十五日締めです。\n",
    "notes.jsonl": '{"id": "rice", "title": "ご飯", "text": "米は三十分水に浸してから炊く。"}\n',
}


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write each `files` entry (a relative path → its UTF-8 text) under `root`; returns `root`."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A small folder of Japanese documents in several formats."""
    return write_files(tmp_path / "docs", DOCS)


@pytest.fixture
def built(corpus: Path, tmp_path: Path) -> Iterator[HybridIndex]:
    """An index of `corpus` built with the fake encoder (closed after the test)."""
    with HybridIndex.build(corpus, tmp_path / "index", model=FAKE_MODEL) as index:
        yield index
