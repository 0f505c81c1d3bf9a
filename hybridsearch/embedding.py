"""Document vectors of chunks: each chunk's own vector and, with sentence vectors, its sentences'.
`writer.py` computes them for a one-phase write, `filling.py` for the vectors that follow a
words-first one; both through here, so the vectors are the same either way."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .chunking import Span, model_input, sentence_spans
from .config import DenseConfig, IndexConfig
from .encoders import Encoder, ModelSpec, check_vectors, load_encoder, unit_rows
from .progress import Progress, Stage

__all__ = ["ENCODE_BLOCK", "Embedded", "embed", "load_model", "model_texts"]

#: Texts encoded per encoder call while writing (a test sets it small to mix chunks and sentences in a block).
ENCODE_BLOCK = 8192


@dataclass(frozen=True)
class Embedded:
    """Chunks' vectors (float32, L2-normalised) and, with sentence vectors, how many sentence rows each
    chunk has and those rows (float16), in chunk order."""

    vectors: np.ndarray
    sentence_counts: np.ndarray | None = None
    sentence_vectors: np.ndarray | None = None

    def spread(self, rows: np.ndarray) -> Embedded:
        """These chunks' vectors placed at the true places of `rows` (one bool per chunk of a longer list);
        the other chunks get zero vectors and no sentence rows."""
        vectors = np.zeros((len(rows), self.vectors.shape[1]), np.float32)
        vectors[rows] = self.vectors
        if self.sentence_counts is None:
            return Embedded(vectors)
        counts = np.zeros(len(rows), np.int64)
        counts[rows] = self.sentence_counts
        return Embedded(vectors, counts, self.sentence_vectors)


def load_model(dense: DenseConfig, device: str | None, known: ModelSpec | None, progress: Progress | None) -> Encoder:
    """The encoder of `dense`, checked against the model an index `known`s (saying so to `progress`)."""
    Stage(progress, "loading model", None, "", dense.model).to(0)
    encoder = load_encoder(dense, device, known=known)
    if known is not None:
        known.check_compatible(encoder.spec)
    return encoder


def model_texts(titles: Sequence[str], texts: Sequence[str], config: IndexConfig) -> list[list[str]]:
    """For each chunk, the texts the encoder reads for it: the chunk (title + text), its sentences, or
    both (`embed` encodes exactly these)."""
    if not config.dense.sentences:
        return [[model_input(title, text)] for title, text in zip(titles, texts)]
    needed = []
    for title, text in zip(titles, texts):
        sentences = [model_input(title, text[a:b]) for a, b in sentence_spans(title, text)]
        whole = [] if sentences and config.dense.chunk_from_sentences else [model_input(title, text)]
        needed.append(whole + sentences)
    return needed


def embed(titles: Sequence[str], texts: Sequence[str], config: IndexConfig, encoder: Encoder, stage: Stage) -> Embedded:
    """The vectors of chunks (`titles[i]`, `texts[i]`), each text encoded reported to `stage` (which
    learns their number when it has none)."""
    inputs = [model_input(title, text) for title, text in zip(titles, texts)]
    if not config.dense.sentences:
        stage.total = len(inputs) if stage.total is None else stage.total
        return Embedded(_encoded(inputs, np.float32, config, encoder, stage))
    spans = [sentence_spans(title, text) for title, text in zip(titles, texts)]
    sentence_counts = np.array([len(s) for s in spans], dtype=np.int64)
    sentences = [model_input(title, text[a:b]) for title, text, s in zip(titles, texts, spans) for a, b in s]
    whole = len(inputs) if not config.dense.chunk_from_sentences else int(np.count_nonzero(sentence_counts == 0))
    stage.total = whole + len(sentences) if stage.total is None else stage.total
    if config.dense.chunk_from_sentences:
        vectors, sentence_vectors = _vectors_from_sentences(inputs, sentences, spans, config, encoder, stage)
    else:
        vectors = _encoded(inputs, np.float32, config, encoder, stage)
        sentence_vectors = _encoded(sentences, np.float16, config, encoder, stage)
    return Embedded(vectors, sentence_counts, sentence_vectors)


def _vectors_from_sentences(
    inputs: list[str],
    sentences: list[str],
    spans: list[list[Span]],
    config: IndexConfig,
    encoder: Encoder,
    stage: Stage,
) -> tuple[np.ndarray, np.ndarray]:
    """Chunk vectors and float16 sentence vectors from one pass: a chunk of one sentence is encoded
    itself, a longer one gets the normalised mean of its sentences' vectors weighted by their lengths
    (as mean pooling weighs every token alike)."""
    dim = encoder.spec.dim
    single = np.array([i for i, chunk_spans in enumerate(spans) if not chunk_spans], dtype=np.int64)
    owner = np.repeat(np.arange(len(spans)), [len(chunk_spans) for chunk_spans in spans])
    weight = np.array([end - start for chunk_spans in spans for start, end in chunk_spans], np.float32)
    vectors = np.zeros((len(inputs), dim), np.float32)
    sentence_vectors = np.empty((len(sentences), dim), np.float16)
    texts = [inputs[i] for i in single.tolist()] + sentences
    for start, block in _blocks(texts, config, encoder, stage):
        rows = np.arange(start, start + len(block))
        own = rows < len(single)
        vectors[single[rows[own]]] = block[own]
        rows = rows[~own] - len(single)
        sentence_vectors[rows] = block[~own]
        np.add.at(vectors, owner[rows], block[~own] * weight[rows, None])
    return unit_rows(vectors), sentence_vectors


def _encoded(texts: list[str], dtype: type, config: IndexConfig, encoder: Encoder, stage: Stage) -> np.ndarray:
    """The vectors of `texts` (chunks or sentences), in an array of `dtype`."""
    vectors: np.ndarray = np.empty((len(texts), encoder.spec.dim), dtype)
    for start, block in _blocks(texts, config, encoder, stage):
        vectors[start : start + len(block)] = block
    return vectors


def _blocks(texts: list[str], config: IndexConfig, encoder: Encoder, stage: Stage) -> Iterator[tuple[int, np.ndarray]]:
    """(start, vectors) of `texts`, encoded `ENCODE_BLOCK` at a time (float32 vectors of all the sentences of a
    million chunks would take 4.4 GB; each block goes into its float16 place)."""
    for start in range(0, len(texts), ENCODE_BLOCK):
        block = texts[start : start + ENCODE_BLOCK]
        encoded = encoder.encode_documents(block, config.dense.batch_size, progress=stage.add)
        yield start, check_vectors(encoded, len(block), encoder.spec.dim)
