"""HybridIndex: build an index from folders, open it, search it, from as many threads as you like.

index = HybridIndex.build("docs", "indexes/docs")      # or HybridIndex.open("indexes/docs")
for hit in index.search("赤い惑星は?", k=5, where={"type": "md"}):
    print(hit.score, hit.id, hit.source, hit.text)
index.refresh()                                        # pick up what `hsearch index` wrote since
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .access import Principal, can_read
from .backends import Backend, Location, open_backend, stored_config
from .config import Fusion, IndexConfig, ModelAccess
from .encoders import Encoder, ModelSpec, load_encoder, resolve_model_name
from .errors import HybridSearchError, InputError, ModelMismatchError, NotFoundError
from .filters import Filter, WhereArg
from .loaders import PathArg, Warn
from .request import SearchRequest, SearchResponse
from .rerank import DEFAULT_DEPTH, Reranker, load_reranker
from .schema import Hit, StoredChunk, StoredDocument
from .search import Query, Searcher
from .tokenization import Tokenizer
from .writer import IndexReport, Progress, write_index

__all__ = ["HybridIndex"]


class _State:
    """One opened state of the index (a backend generation), its model and the searches using it."""

    def __init__(self, backend: Backend, encoder: Encoder | None, device: str | None, access: ModelAccess) -> None:
        self.backend = backend
        self.tokenizer = Tokenizer(backend.config.tokenizer)
        self.device = device
        self.access = access
        self.users = 0
        self.retired = False
        self._encoder = encoder
        self._loading = threading.Lock()

    def encoder(self) -> Encoder:
        """This state's dense model, loaded once, on first use."""
        encoder = self._encoder
        if encoder is None:
            with self._loading:
                if self._encoder is None:
                    model = self.backend.model
                    recorded = replace(self.backend.config.dense, model=model.name)
                    loaded = load_encoder(
                        self.access.applied(recorded, self.backend.location), self.device, known=model
                    )
                    model.check_compatible(loaded.spec)
                    self._encoder = loaded
                encoder = self._encoder
        return encoder

    def successor(self, backend: Backend) -> _State:
        """The state of a newer generation: the same model object while the model and what shapes its
        vectors are the same; a grant to run a model's own code holds only for the model it was given for."""
        old, new = self.backend, backend
        same = new.model == old.model and new.config.dense.shapes_vectors() == old.config.dense.shapes_vectors()
        access = self.access if new.model.name == old.model.name else replace(self.access, trust_remote_code=False)
        return _State(new, self._encoder if same else None, self.device, access)


class HybridIndex:
    """A built index: BM25 over MeCab terms + dense vectors, fused per query with `alpha`.

    `search`, `get` and `refresh` are safe to call from many threads at once. A search runs on the
    state it started on; `refresh` swaps in the newest one for the searches after it, and the old
    one is closed when its last search ends. `close` (or `with`) releases every handle.
    """

    def __init__(
        self,
        backend: Backend,
        encoder: Encoder | None = None,
        device: str | None = None,
        access: ModelAccess | None = None,
    ) -> None:
        self._state = _State(backend, encoder, device, access or ModelAccess())
        self._given_encoder = encoder is not None
        self.device = device
        self.report: IndexReport | None = None
        self._lock = threading.Lock()
        self._closed = False

    # --- writing --------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        paths: PathArg | Sequence[PathArg],
        index: Location = "indexes/default",
        *,
        model: str | None = None,
        encoder: Encoder | None = None,
        config: IndexConfig | None = None,
        device: str | None = None,
        rebuild: bool = False,
        progress: Progress | None = None,
        warn: Warn | None = None,
        api_base: str | None = None,
        api_key_env: str | None = None,
        trust_remote_code: bool = False,
        cache: bool = True,
        ignore: Sequence[str] = (),
        config_file: PathArg | None = None,
    ) -> HybridIndex:
        """Index the supported files under `paths` into `index` and return the opened index.

        If an index is already there, it is brought up to date: only added or changed files are read
        and encoded, and documents whose files are gone from `paths` are dropped (`rebuild=True`
        starts from scratch). `model` names a sentence-transformers model (folder or cached hub
        name) or `openai:NAME`; `config.dense` holds the other model settings (dim, prompts…);
        `encoder` passes a ready model; `device` runs a local one on cuda/mps. Progress goes to
        `progress` (`ProgressEvent`s), skipped files to `warn` (default: the `hybridsearch` logger);
        nothing is printed. What happened is in the returned index's `report`. `api_base`,
        `api_key_env` and `trust_remote_code` grant an existing index's model what an index cannot
        grant itself (see `open`). Vectors computed before come from the embedding cache unless
        `cache=False` (`hybridsearch.encoders.cache`). `ignore` adds gitignore patterns (relative to
        each folder of `paths`) to the built-in ones and `.hsearchignore` files (`loaders.ignore`).
        Each folder's `hsearch.toml`, or `config_file` for all of them, says how its files are read
        (`loaders.folder_config`).
        """
        sources = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not sources:
            raise InputError("Give at least one folder or file to index.")
        if model is not None:
            config = config or (None if rebuild else cls.stored_config(index)) or IndexConfig()
            config = replace(config, dense=replace(config.dense, model=model))
        access = ModelAccess(api_base, api_key_env, trust_remote_code)
        if config is not None:  # what the caller chose in this call is granted
            access = access.merged(ModelAccess.given_in(config.dense))
        report = write_index(
            index, sources, config=config, encoder=encoder, device=device, rebuild=rebuild, progress=progress,
            warn=warn, access=access, cache=cache, ignore=ignore, config_file=config_file,
        )  # fmt: skip
        opened = cls(open_backend(index), encoder, device, access)
        opened.report = report
        return opened

    @classmethod
    def remove(cls, paths: PathArg | Sequence[PathArg], index: Location = "indexes/default") -> HybridIndex:
        """Drop every document whose file is `paths` or lies under them; returns the updated index."""
        targets = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        report = write_index(index, remove=targets)
        opened = cls.open(index)
        opened.report = report
        return opened

    @staticmethod
    def stored_config(index: Location) -> IndexConfig | None:
        """The configuration of the index at `index` (from its manifest), or None when there is none."""
        return stored_config(index)

    # --- opening --------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        index: Location = "indexes/default",
        *,
        model: str | None = None,
        dim: int | None = None,
        encoder: Encoder | None = None,
        device: str | None = None,
        api_base: str | None = None,
        api_key_env: str | None = None,
        trust_remote_code: bool = False,
        access: ModelAccess | None = None,
    ) -> HybridIndex:
        """Open an index. `model`, `dim` and `encoder`, if given, must match the index's (a
        `ModelMismatchError` otherwise); `device` runs its model on cuda/mps.

        Opening never runs code or sends anything anywhere on the index's word: an `openai:NAME`
        index is queried at the `api_base` given here (with the key in `api_key_env`, default
        OPENAI_API_KEY), and a model that runs its own code needs `trust_remote_code=True` here;
        without them, the first dense search is an `InputError` that says what to pass. `access`
        gives the three grants as one record (`config.ModelAccess`), completed by the others."""
        backend = open_backend(index)
        try:
            recorded = backend.model
            asked = {"model": (resolve_model_name(model) if model else None, recorded.name), "dim": (dim, recorded.dim)}
            differing = [f"{key} {given!r} (the index has {held!r})" for key, (given, held) in asked.items()
                         if given is not None and given != held]  # fmt: skip
            if differing:
                raise ModelMismatchError(
                    f"Index {index} was built with model {recorded.name!r} at dim {recorded.dim}, not "
                    f"{' and '.join(differing)}; query it with its own model, or rebuild it with the new one."
                )
            if encoder is not None:
                recorded.check_compatible(encoder.spec)
        except BaseException:
            backend.close()
            raise
        granted = ModelAccess(api_base, api_key_env, trust_remote_code)
        return cls(backend, encoder, device, granted if access is None else access.merged(granted))

    @property
    def location(self) -> str:
        """Where the index is (a folder, or an engine's address)."""
        return self._state.backend.location

    @property
    def config(self) -> IndexConfig:
        return self._state.backend.config

    @property
    def model(self) -> ModelSpec:
        return self._state.backend.model

    @property
    def version(self) -> str:
        """The state being read (the local backend's generation, e.g. "gen-000003")."""
        return self._state.backend.version

    @property
    def encoder(self) -> Encoder:
        """The index's dense model, loaded once, on first use."""
        return self._state.encoder()

    # --- reading --------------------------------------------------------------------------------

    @contextmanager
    def searcher(self) -> Iterator[Searcher]:
        """The query pipeline over the current state, held for the block (for many queries at once, as
        `hsearch eval` runs them); a `refresh` meanwhile takes effect after it."""
        with self._lease() as state:
            yield Searcher(state.backend, state.tokenizer, state.encoder)

    def search(
        self,
        query: str,
        k: int = 10,
        alpha: float | None = None,
        fusion: Fusion | str | None = None,
        where: WhereArg = None,
        group_by: str | None = None,
        collapse: bool = True,
        rerank: str | Path | Reranker | None = None,
        rerank_depth: int = DEFAULT_DEPTH,
        min_confidence: float | None = None,
        principal: Principal | None = None,
    ) -> list[Hit]:
        """The `k` best chunks for `query`: `alpha` is the dense share (default: the index's),
        `fusion` the rule (coverage, minmax, zscore, rrf), `where` a filter on document metadata
        (`{"type": "md"}`, `{"year": {"gte": 2020}}`, `{"path": {"glob": "規程/**"}}`; see `filters`).
        `group_by="document"` keeps each document's best chunk (`Hit.more`: its other candidates);
        `collapse` folds chunks whose text (nearly) repeats a better hit's into its `Hit.copies`.
        `rerank`: a local CrossEncoder folder (or a loaded `Reranker`) that re-scores the first
        `rerank_depth` candidates; the hits are then in its order, with `Hit.rerank_score`.
        `min_confidence`: the hits whose `Hit.confidence` is below it are left out (without it, every
        hit is returned, those below the index's threshold marked `Hit.weak`; `respond` gives the
        whole decision). `principal`: who is asking (`access.py`); the hits are of documents
        they may read (without one: documents open to everyone)."""
        request = SearchRequest(
            query=query, k=k, alpha=alpha, fusion=None if fusion is None else Fusion.parse(fusion),
            where=Filter.parse(where), group_by=group_by, collapse=collapse, rerank_depth=rerank_depth,
            min_confidence=min_confidence, principal=principal,
        )  # fmt: skip
        response = self.respond(request, rerank)
        return list(response.hits) if min_confidence is None else response.strong

    def respond(self, request: SearchRequest, rerank: str | Path | Reranker | None = None) -> SearchResponse:
        """The answer to `request`: its hits, which are weak, what was cut, the generation read (what
        every front door serves; `SearchResponse.to_dict` is its JSON form). `rerank` as for `search`."""
        if isinstance(rerank, (str, Path)):  # the caller's trust in remote code covers the model it names here too
            rerank = load_reranker(rerank, self.device, self._state.access.trust_remote_code)
        with self.searcher() as searcher:
            return searcher.respond(request, rerank)

    def prepare(self, query: str) -> Query:
        """What a search reads of `query` on each side, and what it cut (`Query.cut`) to stay fast."""
        with self.searcher() as searcher:
            return searcher.prepare(query)

    def get(self, id: str, principal: Principal | None = None) -> StoredChunk | StoredDocument:
        """The chunk (a hit's `id`) or document (a hit's `document_id`) with this id; a document comes
        with its full text and its chunks' ids and offsets. `NotFoundError` when there is none that
        `principal` may read (the same error as for an id no document has)."""
        with self._lease() as state:
            found = state.backend.get(id)
        if not can_read(found.metadata, principal):
            raise NotFoundError.of_id(self.location, id)
        return found

    def fields(self, principal: Principal | None = None) -> list[str]:
        """The metadata fields of the documents `principal` may read (what `where` can filter on)."""
        with self.searcher() as searcher:
            return searcher.backend.fields(searcher.readable(None, principal))

    @property
    def has_readers(self) -> bool:
        """Whether some documents say who may read them (then a search without a principal sees only
        the documents open to everyone)."""
        with self.searcher() as searcher:
            return searcher.readable(None, None) is not None

    def field_values(self, limit: int = 50, principal: Principal | None = None) -> dict[str, list[Any]]:
        """The metadata fields with at most `limit` distinct values among the documents `principal`
        may read, each with its values, most common first."""
        with self.searcher() as searcher:
            return searcher.backend.field_values(limit, searcher.readable(None, principal))

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Query vectors from the index's model (loaded on first use), checked for shape."""
        with self.searcher() as searcher:
            return searcher.encode_queries(queries)

    def refresh(self) -> bool:
        """Move to the newest state of the index if it changed since it was opened (or last refreshed);
        True if it did. Searches already running finish on the state they started on."""
        current = self._state
        newer = current.backend.newer()
        if newer is None:
            return False
        if newer.model != current.backend.model and self._given_encoder:
            newer.close()
            raise ModelMismatchError(
                f"Index {self.location} was rebuilt with model {newer.model.name!r}; the encoder it was "
                "opened with cannot query it. Open it again."
            )
        with self._lock:
            if self._closed:
                newer.close()
                return False
            old, self._state = self._state, self._state.successor(newer)
            old.retired = True
            idle = old.users == 0
        if idle:
            old.backend.close()
        return True

    def check(self) -> list[str]:
        """A full consistency check (file checksums, docstore, BM25, vectors agreeing); the problems found."""
        with self._lease() as state:
            return state.backend.check()

    def info(self) -> dict[str, Any]:
        """What the index holds and how it was built (the manifest, minus file checksums)."""
        with self._lease() as state:
            return state.backend.info()

    @contextmanager
    def _lease(self) -> Iterator[_State]:
        with self._lock:
            if self._closed:
                raise HybridSearchError(f"Index {self.location} was closed; open it again to search it.")
            state = self._state
            state.users += 1
        try:
            yield state
        finally:
            with self._lock:
                state.users -= 1
                idle = state.retired and state.users == 0
            if idle:
                state.backend.close()

    def close(self) -> None:
        """Release every handle (files, mappings); searches must not be running."""
        with self._lock:
            self._closed = True
            self._state.retired = True
            idle = self._state.users == 0
        if idle:
            self._state.backend.close()

    def __enter__(self) -> HybridIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
