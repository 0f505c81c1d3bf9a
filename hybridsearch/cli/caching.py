"""`hsearch cache info` and `hsearch cache clear`: the embedding cache shared by every index."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ..encoders.cache import CacheInfo, EmbeddingCache
from .common import (
    cli,
    printable,
    say,
    user_errors,
)


@cli.group()
def cache() -> None:
    """The embedding cache: document vectors by model and text, shared by every index on this machine.

    It lives in $HSEARCH_EMBEDDING_CACHE (a file, or off), else embeddings.sqlite in the hybridsearch
    cache folder, and holds at most $HSEARCH_EMBEDDING_CACHE_MB megabytes (default 2048): the least
    recently used vectors go first.
    """


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
def cache_info(as_json: bool) -> None:
    """Where the cache is, how big, and how many vectors of which models it holds."""
    with user_errors(), _embedding_cache() as embeddings:
        path = EmbeddingCache.default_path()
        if embeddings is None and path is not None:  # none yet
            found = CacheInfo(path, 0, EmbeddingCache.default_max_bytes(), 0, [])
        else:
            assert embeddings is not None  # `_embedding_cache` refuses a cache that is off
            found = embeddings.info()
    if as_json:
        models = [{"model": name, "entries": entries, "bytes": size} for name, entries, size in found.models]
        summary = {"path": str(found.path), "bytes": found.bytes, "max_bytes": found.max_bytes}
        click.echo(json.dumps(summary | {"entries": found.entries, "models": models}, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'cache:':9}{printable(str(found.path))}")
    click.echo(f"{'size:':9}{found.bytes / 2**20:.1f} MB of {found.max_bytes / 2**20:.0f} MB, {found.entries} texts")
    for name, entries, size in found.models:
        click.echo(f"{'model:':9}{printable(name)}: {entries} texts, {size / 2**20:.1f} MB")


@cache.command("clear")
@click.option("--model", help="Only the vectors of this model (as `hsearch cache info` names it).")
def cache_clear(model: str | None) -> None:
    """Drop the cached vectors (all of them, or one model's)."""
    with user_errors(), _embedding_cache() as embeddings:
        if model is not None and (not embeddings or model not in {name for name, _, _ in embeddings.info().models}):
            raise click.ClickException(f"The embedding cache holds no vectors of {model!r}; see: hsearch cache info")
        dropped = embeddings.clear(model) if embeddings else 0
    say(f"{EmbeddingCache.default_path()}: dropped {dropped} cached vector(s)" + (f" of {model}" if model else ""))


@contextmanager
def _embedding_cache() -> Iterator[EmbeddingCache | None]:
    """The machine's embedding cache, opened for `hsearch cache` (None: there is none yet; looking
    does not create it)."""
    path = EmbeddingCache.default_path()
    if path is not None and not path.exists():
        EmbeddingCache.default_max_bytes()  # a bad bound is still an error
        yield None
        return
    try:
        embeddings = EmbeddingCache.default()
    except (sqlite3.Error, OSError) as error:
        raise click.ClickException(
            f"Cannot open the embedding cache {path}: {error} (delete it to start anew)"
        ) from None
    if embeddings is None:
        raise click.ClickException("The embedding cache is off (HSEARCH_EMBEDDING_CACHE=off).")
    try:
        yield embeddings
    except sqlite3.Error as error:
        raise click.ClickException(
            f"The embedding cache {path} is unusable: {error} (delete it to start anew)"
        ) from None
    finally:
        embeddings.close()
