"""Any sentence-transformers model: a local folder, or a hub name already in the local Hugging Face
cache (nothing is ever downloaded). bf16 weights on CPUs with bf16 matrix instructions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import DenseConfig, Precision
from ..errors import HybridSearchError
from ..textnorm import normalize
from .base import ModelSpec, Progress, checked_dim, truncate, unit_rows
from .families import DOCUMENT, QUERY, resolve_prompt

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["SentenceTransformerEncoder", "cpu_has_bf16", "load_error", "load_sentence_transformer"]


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded from a folder or the local HF cache (CPU unless `device`)."""

    def __init__(self, model: SentenceTransformer, config: DenseConfig, revision: str = "") -> None:
        self.model = model
        native = model.get_embedding_dimension()
        if native is None:
            raise HybridSearchError(f"Model {config.model!r} does not report its embedding dimension.")
        max_length = model.max_seq_length
        self.spec = ModelSpec(
            name=config.model,
            revision=revision,
            dim=checked_dim(config, int(native)),
            max_seq_length=int(max_length) if max_length and max_length != float("inf") else 0,
            query_prompt=resolve_prompt(config.query_prompt, model, config.model, QUERY),
            document_prompt=resolve_prompt(config.document_prompt, model, config.model, DOCUMENT),
            trust_remote_code=config.trust_remote_code,
        )

    @classmethod
    def load(cls, config: DenseConfig, device: str | None = None) -> SentenceTransformerEncoder:
        """Load `config.model`: a local folder, or a model already in the HF cache."""
        model = load_sentence_transformer(
            config.model, config.model, device, config.trust_remote_code, config.precision
        )
        return cls(model, config)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([normalize(t) for t in texts], self.spec.query_prompt, batch_size=32)

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 16, progress: Progress | None = None
    ) -> np.ndarray:
        normalized = [normalize(t) for t in texts]
        # encode() sorts each call's texts by length; calls of many batches keep that benefit
        step = batch_size * 8
        parts = []
        for start in range(0, len(normalized), step):
            parts.append(self._encode(normalized[start : start + step], self.spec.document_prompt, batch_size))
            if progress:
                progress(len(parts[-1]))
        return np.concatenate(parts) if parts else np.zeros((0, self.spec.dim), np.float32)

    def fits(self, text: str) -> bool:
        if not self.spec.max_seq_length:  # static models take any length
            return True
        prompted = self.spec.document_prompt + normalize(text)
        tokenizer = self.model.tokenizer
        if hasattr(tokenizer, "encode_batch"):  # a bare `tokenizers.Tokenizer`
            return len(tokenizer.encode(prompted).ids) <= self.spec.max_seq_length
        return len(tokenizer(prompted, truncation=False)["input_ids"]) <= self.spec.max_seq_length

    def _encode(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.spec.dim), np.float32)
        vectors = self.model.encode(
            texts, prompt=prompt, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False
        )
        return truncate(unit_rows(vectors.float().cpu().numpy()), self.spec.dim)  # bf16 → fp32, then normalise


def load_sentence_transformer(
    path: str,
    name: str,
    device: str | None = None,
    trust_remote_code: bool = False,
    precision: Precision = Precision.AUTO,
) -> SentenceTransformer:
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    device = device or "cpu"
    bf16 = precision is Precision.BF16 or (precision is Precision.AUTO and device == "cpu" and cpu_has_bf16())
    model_kwargs: dict[str, Any] = {"dtype": torch.bfloat16} if bf16 else {}
    try:
        return SentenceTransformer(
            path,
            device=device,
            local_files_only=True,
            trust_remote_code=trust_remote_code,
            model_kwargs=model_kwargs or None,
        )
    except OSError:
        raise HybridSearchError(
            f"Cannot load model {name!r}: it is neither a sentence-transformers folder nor in the local "
            "Hugging Face cache, and hybridsearch never downloads. "
            "Pass a local folder, or download the model first where a network exists."
        ) from None
    except Exception as error:  # whatever the loaders raise on a folder that is not a model
        raise load_error(f"model {name!r}", error, trust_remote_code) from None


def load_error(what: str, error: Exception, trust_remote_code: bool) -> HybridSearchError:
    """The one-line error for a model folder (`what`: "model 'x'", "reranker x") that failed to load."""
    message = str(error)
    if "trust_remote_code" in message and not trust_remote_code:
        return HybridSearchError(
            f"The {what} runs Python code of its own; look at it, and if you trust it, "
            "pass --trust-remote-code (trust_remote_code=True in Python)."
        )
    reason = message.splitlines()[0] if message else type(error).__name__
    return HybridSearchError(f"Cannot load {what}: {reason}")


def cpu_has_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions (Intel AMX, AVX512-BF16), where bf16 runs faster than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            flags = next((line.split() for line in info if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags
