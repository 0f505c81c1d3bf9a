"""hybridsearch: Japanese hybrid search — BM25 over MeCab terms + dense embeddings, fused with alpha."""

from .config import DEFAULT_ALPHA, DEFAULT_MODEL, Fusion, IndexConfig
from .errors import (
    EmptyQueryError,
    HybridSearchError,
    IndexFormatError,
    IndexLockedError,
    IndexNotFoundError,
    InputError,
    ModelMismatchError,
)
from .index import HybridIndex
from .indexing import IndexReport
from .schema import Hit
from .version import __version__

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MODEL",
    "EmptyQueryError",
    "Fusion",
    "Hit",
    "HybridIndex",
    "HybridSearchError",
    "IndexConfig",
    "IndexFormatError",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexReport",
    "InputError",
    "ModelMismatchError",
    "__version__",
]
