"""hybridsearch: Japanese hybrid search — BM25 over MeCab terms + dense embeddings, fused with alpha."""

from .access import Principal
from .backends import Backend, Writer, register_backend
from .config import DEFAULT_ALPHA, DEFAULT_MODEL, Fusion, IndexConfig
from .encoders import Encoder, ModelSpec, register_encoder
from .errors import (
    EmptyQueryError,
    HybridSearchError,
    IndexFormatError,
    IndexLockedError,
    IndexNotFoundError,
    InputError,
    ModelMismatchError,
    NotFoundError,
)
from .filters import Filter
from .index import HybridIndex
from .loaders import Loader, register_loader
from .request import SearchRequest, SearchResponse
from .schema import Hit, StoredChunk, StoredDocument
from .version import __version__
from .writer import IndexReport, ProgressEvent

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MODEL",
    "Backend",
    "EmptyQueryError",
    "Encoder",
    "Filter",
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
    "Loader",
    "ModelMismatchError",
    "ModelSpec",
    "NotFoundError",
    "Principal",
    "ProgressEvent",
    "SearchRequest",
    "SearchResponse",
    "StoredChunk",
    "StoredDocument",
    "Writer",
    "register_backend",
    "register_encoder",
    "register_loader",
    "__version__",
]
