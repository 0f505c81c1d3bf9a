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

__all__ = ["ENCODE_RUN", "Embedded", "embed", "load_model", "model_texts", "run_numbers"]

#: Chunks encoded together, their texts (chunks, sentences) in one encoder call each. A real model's vector
#: of a text depends a little on the texts that share its batches (padding, bf16 kernels by batch shape), so
#: every write encodes the same runs the same way: a fill (`filling.py`) of whole runs gives a one-phase
#: write's vectors bit for bit. A run's vectors go straight into their places (float16 for sentences).
ENCODE_RUN = 2048


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
    """The vectors of chunks (`titles[i]`, `texts[i]`), a run of `ENCODE_RUN` chunks at a time, each text
    encoded reported to `stage` (which learns their number when it has none)."""
    inputs = [model_input(title, text) for title, text in zip(titles, texts)]
    vectors = np.empty((len(inputs), encoder.spec.dim), np.float32)
    if not config.dense.sentences:
        stage.total = len(inputs) if stage.total is None else stage.total
        for start, end in _runs(len(inputs)):
            vectors[start:end] = _encoded(inputs[start:end], config, encoder, stage)
        return Embedded(vectors)
    spans = [sentence_spans(title, text) for title, text in zip(titles, texts)]
    sentence_counts = np.array([len(s) for s in spans], dtype=np.int64)
    firsts = np.concatenate([[0], np.cumsum(sentence_counts)]).tolist()
    whole = len(inputs) if not config.dense.chunk_from_sentences else int(np.count_nonzero(sentence_counts == 0))
    stage.total = whole + firsts[-1] if stage.total is None else stage.total
    sentence_vectors = np.empty((firsts[-1], encoder.spec.dim), np.float16)
    for start, end in _runs(len(inputs)):
        run = range(start, end)
        sentences = [model_input(titles[i], texts[i][a:b]) for i in run for a, b in spans[i]]
        if config.dense.chunk_from_sentences:
            chunk_vectors, run_sentences = _vectors_from_sentences(inputs[start:end], sentences, spans[start:end],
                                                                   config, encoder, stage)  # fmt: skip
        else:
            chunk_vectors = _encoded(inputs[start:end], config, encoder, stage)
            run_sentences = _encoded(sentences, config, encoder, stage)
        vectors[start:end] = chunk_vectors
        sentence_vectors[firsts[start] : firsts[end]] = run_sentences
    return Embedded(vectors, sentence_counts, sentence_vectors)


def run_numbers(count: int) -> np.ndarray:
    """The run of each of `count` chunks given to `embed` in one list."""
    return np.arange(count) // ENCODE_RUN


def _runs(count: int) -> Iterator[tuple[int, int]]:
    """(start, end) of the runs of `count` chunks."""
    for start in range(0, count, ENCODE_RUN):
        yield start, min(start + ENCODE_RUN, count)


def _vectors_from_sentences(
    inputs: list[str],
    sentences: list[str],
    spans: list[list[Span]],
    config: IndexConfig,
    encoder: Encoder,
    stage: Stage,
) -> tuple[np.ndarray, np.ndarray]:
    """Chunk vectors and sentence vectors from one pass: a chunk of one sentence is encoded itself, a
    longer one gets the normalised mean of its sentences' vectors weighted by their lengths (as mean
    pooling weighs every token alike)."""
    single = [i for i, chunk_spans in enumerate(spans) if not chunk_spans]
    encoded = _encoded([inputs[i] for i in single] + sentences, config, encoder, stage)
    sentence_vectors = encoded[len(single) :]
    owner = np.repeat(np.arange(len(spans)), [len(chunk_spans) for chunk_spans in spans])
    weight = np.array([end - start for chunk_spans in spans for start, end in chunk_spans], np.float32)
    vectors = np.zeros((len(inputs), encoder.spec.dim), np.float32)
    vectors[single] = encoded[: len(single)]
    np.add.at(vectors, owner, sentence_vectors * weight[:, None])
    return unit_rows(vectors), sentence_vectors


def _encoded(texts: list[str], config: IndexConfig, encoder: Encoder, stage: Stage) -> np.ndarray:
    """The float32 vectors of `texts` (chunks or sentences), in one encoder call (none for no texts)."""
    if not texts:
        return np.zeros((0, encoder.spec.dim), np.float32)
    encoded = encoder.encode_documents(texts, config.dense.batch_size, progress=stage.add)
    return check_vectors(encoded, len(texts), encoder.spec.dim)
