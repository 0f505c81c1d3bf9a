"""The exceptions hybridsearch raises. Each message says what went wrong, the values, and the fix."""

from __future__ import annotations

__all__ = [
    "EmptyQueryError",
    "IndexAccessError",
    "HybridSearchError",
    "IndexFormatError",
    "IndexLockedError",
    "IndexNotFoundError",
    "InputError",
    "ModelMismatchError",
    "NotFoundError",
]


class HybridSearchError(Exception):
    """Base class: every error hybridsearch raises on bad input or a bad index."""


class InputError(HybridSearchError, ValueError):
    """An argument or an input folder is unusable (bad alpha, missing path, no documents…)."""


class EmptyQueryError(InputError):
    """The query is empty or only whitespace."""


class IndexNotFoundError(HybridSearchError, FileNotFoundError):
    """No index exists at the given location."""


class IndexFormatError(HybridSearchError):
    """The index on disk is corrupt, incomplete or from an incompatible format version."""


class IndexAccessError(HybridSearchError):
    """The index cannot be read or written: permissions, a full or read-only disk."""


class IndexLockedError(HybridSearchError):
    """Another process is writing the index."""


class ModelMismatchError(HybridSearchError):
    """The dense model asked for differs from the one the index was built with."""


class NotFoundError(HybridSearchError, LookupError):
    """No chunk or document has the id asked for (or none the asker may read: the same words)."""

    @classmethod
    def of_id(cls, location: str, id: str) -> NotFoundError:
        return cls(f"Index {location} has no chunk or document with id {id!r}.")
