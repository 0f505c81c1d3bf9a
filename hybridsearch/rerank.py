"""An optional second stage: a cross-encoder re-scores the fused top candidates, reading query and passage together.

Off by default; no reranker weights ship with hybridsearch and nothing is downloaded. A user points
`rerank=` (`--rerank`) at a local sentence-transformers CrossEncoder folder, e.g. a Japanese reranker
downloaded where a network exists. The first `depth` fused (and collapsed or grouped) candidates are
scored as (query, title + chunk text) pairs and re-ordered by that score, which each hit carries as
`rerank_score`; the fused scores stay on the hits as they were.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .chunking import model_input
from .encoders.sentence_transformers import load_error
from .errors import HybridSearchError, InputError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

__all__ = ["DEFAULT_DEPTH", "Reranker", "load_reranker"]

DEFAULT_DEPTH = 30  # candidates re-scored per query
_loaded: dict[tuple[str, str, bool], Reranker] = {}
_loading = threading.Lock()


class Reranker:
    """A loaded cross-encoder: `scores(query, titles, texts)` → one relevance score per passage."""

    def __init__(self, model: CrossEncoder, name: str) -> None:
        self.model = model
        self.name = name
        self._lock = threading.Lock()  # one forward pass at a time: torch modules are not re-entrant

    def scores(self, query: str, titles: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        pairs = [(query, model_input(title, text)) for title, text in zip(titles, texts)]
        with self._lock:
            scores = self.model.predict(pairs, batch_size=16, show_progress_bar=False, convert_to_numpy=True)
        values = np.asarray(scores, dtype=np.float64).reshape(len(pairs), -1)
        if values.shape[1] != 1:
            raise HybridSearchError(
                f"Reranker {self.name} gives {values.shape[1]} scores per pair; a reranker gives one (num_labels=1)."
            )
        return values[:, 0]


def load_reranker(folder: str | Path, device: str | None = None, trust_remote_code: bool = False) -> Reranker:
    """The CrossEncoder in local `folder` (loaded once per process and device)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputError(f"Reranker {folder} is not a folder; give a local sentence-transformers CrossEncoder folder.")
    key = (str(path.resolve()), device or "cpu", trust_remote_code)
    with _loading:
        if key not in _loaded:
            _loaded[key] = Reranker(_cross_encoder(path, device or "cpu", trust_remote_code), str(folder))
        return _loaded[key]


def _cross_encoder(path: Path, device: str, trust_remote_code: bool) -> Any:
    import transformers
    from sentence_transformers import CrossEncoder

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        return CrossEncoder(str(path), device=device, local_files_only=True, trust_remote_code=trust_remote_code)
    except Exception as error:  # whatever the loaders raise on a folder that is not a cross-encoder
        raise load_error(f"reranker {path}", error, trust_remote_code) from None
