"""Filling: the vectors that follow a words-first write (DESIGN.md §11).

`write_index` commits a large write's documents, chunks and BM25 first, with the vectors the
embedding cache already holds: the index answers by its words at once. `fill_index` then encodes the
chunks still without vectors in batches, and commits each batch as a new generation under the
writer lock (the same atomic switch as any write), so a search reads one generation and a kill loses
at most the batch being encoded (whose vectors are in the embedding cache already, a block at a
time). It resumes wherever an earlier fill stopped; one process fills an index at a time (another
waits), and a write between two batches is welcome: each batch is matched to the chunks by their ids.

A batch is whole runs of `embedding.ENCODE_RUN` chunks, taken from the first chunk without vectors on, so
the fill meets the runs the write would have encoded in one phase (`writer._encode` leaves out whole
runs only): the complete index holds the same vectors bit for bit, even after a kill and a resumed fill.
The first batch is one run; later ones grow so that committing costs at most `COMMIT_SHARE` of the time
spent encoding.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends import Location
from .backends.local import LocalBackend, LocalWriter
from .backends.local.filled import filler_lock
from .config import ModelAccess
from .embedding import Embedded, embed, load_model, model_texts, run_numbers
from .encoders import Encoder
from .encoders.cache import cached_encoder, open_default_cache
from .errors import IndexLockedError, InputError
from .loaders import Warn
from .location import IndexLocation
from .progress import Progress, Stage

__all__ = ["COMMIT_SHARE", "FillReport", "fill_index"]

logger = logging.getLogger("hybridsearch")

#: The most of the encoding time that committing the batches may cost.
COMMIT_SHARE = 0.03
_LOCK_WAIT = 0.2  # seconds between tries while another writer holds the writer lock


@dataclass(frozen=True)
class FillReport:
    """What one `fill_index` did: chunks given their vectors, in how many batches (commits), the texts
    encoded for them and how many of those came from the embedding cache."""

    filled: int = 0
    batches: int = 0
    texts: int = 0
    cached: int = 0
    seconds: float = 0.0


def fill_index(
    location: Location,
    *,
    encoder: Encoder | None = None,
    device: str | None = None,
    access: ModelAccess | None = None,
    cache: bool = True,
    progress: Progress | None = None,
    warn: Warn | None = None,
) -> FillReport:
    """Give every chunk of the local index at `location` its vectors, a batch per commit; returns when
    all have them (at once when they do). The model gets what `access` grants, as for `write_index`."""
    started = time.perf_counter()
    parsed = IndexLocation.parse(location)
    if not parsed.is_local:
        raise InputError(f"{location} is in Qdrant, which is written in one phase: it has every vector already.")
    folder = parsed.folder
    warn = warn or logger.warning
    with filler_lock(folder):
        backend = LocalBackend.open(folder)
        filled = batches = texts = cached = 0
        embeddings = None
        try:
            missing = np.flatnonzero(~backend.has_vectors(np.arange(backend.num_chunks)))
            if not len(missing):
                return FillReport()
            config = backend.config
            dense = (access or ModelAccess()).applied(config.dense, str(location))
            encoder = encoder or load_model(dense, device, backend.model, progress)
            embeddings = open_default_cache(warn) if cache else None
            through = cached_encoder(encoder, embeddings, warn)
            chunks = backend.chunks(missing.tolist())
            total = sum(map(len, model_texts([c.title for c in chunks], [c.text for c in chunks], config)))
            stage = Stage(progress, "encoding", total, "texts")
            runs = 1
            while len(missing):
                chunks = backend.chunks(missing[run_numbers(len(missing)) < runs].tolist())
                began = time.perf_counter()
                vectors = embed([c.title for c in chunks], [c.text for c in chunks], config, through, stage)
                encoded = time.perf_counter()
                _commit(folder, [c.id for c in chunks], vectors)
                spent = time.perf_counter() - encoded
                filled, batches = filled + len(chunks), batches + 1
                runs = max(runs, int(runs * spent / (COMMIT_SHARE * max(encoded - began, 1e-6))) + 1)
                backend.close()
                backend = LocalBackend.open(folder)
                missing = np.flatnonzero(~backend.has_vectors(np.arange(backend.num_chunks)))
            texts, cached = getattr(through, "texts", stage.done), getattr(through, "hits", 0)
        finally:
            backend.close()
            if embeddings is not None:
                embeddings.close()
    return FillReport(filled, batches, texts, cached, time.perf_counter() - started)


def _commit(folder: Path, ids: list[str], vectors: Embedded) -> None:
    """Commit one batch's vectors, waiting while another writer (`hsearch index`, `watch`) holds the lock."""
    while True:
        try:
            with LocalWriter(folder) as store:
                assert store.config is not None and store.model is not None  # the index exists: it was filling
                store.fill(ids, vectors.vectors, vectors.sentence_counts, vectors.sentence_vectors)
                store.commit(store.config, store.model, store.sources)
            return
        except IndexLockedError:
            time.sleep(_LOCK_WAIT)
