"""What every `hsearch` command shares: the click group, the options of several commands, the
conversion of library errors, progress bars, and printing file names safely."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..config import (
    DEFAULT_API_BASE,
    DEFAULT_MODEL,
    DenseConfig,
    IndexConfig,
    ModelAccess,
    Precision,
    VectorKind,
)
from ..errors import HybridSearchError
from ..version import __version__
from ..writer import ProgressEvent

__all__ = [
    "DEFAULT_INDEX",
    "EXIT_SKIPPED",
    "ProgressBars",
    "api_base_option",
    "api_key_env_option",
    "cli",
    "configured",
    "dense_options",
    "device_option",
    "grants_of",
    "index_option",
    "printable",
    "rerank_option",
    "say",
    "trust_option",
    "user_errors",
    "vectors_option",
]

DEFAULT_INDEX = "indexes/default"

vectors_option = click.option(
    "--vectors",
    type=click.Choice([kind.value for kind in VectorKind]),
    help="FAISS index: flat (exact), hnsw (approximate graph search), sq8 (exact over 8-bit vectors, a quarter "
    "of the memory), hnsw-sq8 (both), auto (flat below 50,000 chunks, hnsw below 500,000, hnsw-sq8 beyond) "
    "[default: the index's, else auto].",
)

device_option = click.option("--device", help="Torch device for a local model: cpu, cuda, mps… [default: cpu].")

trust_option = click.option(
    "--trust-remote-code",
    is_flag=True,
    default=None,
    help="Let the model folder run its own Python code (off unless given in this command; an index cannot grant it).",
)
rerank_option = click.option(
    "--rerank", "rerank_dir", type=click.Path(file_okay=False, path_type=Path), metavar="MODEL_DIR",
    help="Re-score the best candidates with this local CrossEncoder folder (off by default).",
)  # fmt: skip


api_base_option = click.option(
    "--api-base",
    envvar="HSEARCH_API_BASE",
    help=f"openai:NAME only: the endpoint's base URL (env: HSEARCH_API_BASE; an existing index is queried and "
    f"updated only at an endpoint given here) [default for a new index: {DEFAULT_API_BASE}].",
)
api_key_env_option = click.option(
    "--api-key-env",
    envvar="HSEARCH_API_KEY_ENV",
    help=f"openai:NAME only: variable with the API key (env: HSEARCH_API_KEY_ENV; never taken from an index) "
    f"[default: {DenseConfig.api_key_env}].",
)


def grants_of(options: dict[str, Any]) -> ModelAccess:
    """What the caller grants a model in this command (an index cannot grant these itself)."""
    return ModelAccess(options.get("api_base"), options.get("api_key_env"), bool(options.get("trust_remote_code")))


index_option = click.option(
    "--index",
    "index_dir",
    envvar="HSEARCH_INDEX",
    default=DEFAULT_INDEX,
    show_default=True,
    help="Index folder (env: HSEARCH_INDEX).",
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Library errors become one-line click errors (exit status 1)."""
    try:
        yield
    except HybridSearchError as error:
        raise click.ClickException(str(error)) from None


def say(message: str) -> None:
    click.echo(printable(message), err=True)


#: Characters a file name may hold that would act on a terminal instead of showing: control
#: characters (escape sequences, newlines, carriage returns) and bidirectional overrides.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with terminal-active characters shown as escapes (\\x1b, \\n, \\u202e…)."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class ProgressBars:
    """Renders a write's `ProgressEvent`s as tqdm bars on stderr (one per stage) and its warnings on
    lines of their own: `write_index(..., progress=bars, warn=bars.warn)`, then `bars.close()`."""

    _LABELS = {"reading files": "Reading", "tokenizing": "Tokenizing", "encoding chunks": "Encoding",
               "encoding sentences": "Encoding"}  # fmt: skip

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.stage: str | None = None
        self.bar: Any = None

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        if event.stage != self.stage:
            self.close()
            self.stage = event.stage
            if event.stage == "loading model":
                say(f"Loading model {event.detail} …")
                return
            if event.total == 0:
                return
            from tqdm import tqdm

            label = self._LABELS.get(event.stage, event.stage.capitalize())
            self.bar = tqdm(total=event.total, desc=label, unit=f" {event.unit}", file=sys.stderr, dynamic_ncols=True)
        if self.bar is not None:
            self.bar.update(event.done - self.bar.n)

    def warn(self, message: str) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        with tqdm.external_write_mode(file=sys.stderr):
            say(f"warning: {message}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hsearch")
def cli() -> None:
    """Japanese hybrid search: BM25 over MeCab terms + dense embeddings, mixed with --alpha."""


#: Exit status of `hsearch index` when the index was written but some input had to be skipped.
EXIT_SKIPPED = 3


def dense_options(command: Any) -> Any:
    """The model options of `index` and `eval`. Each defaults to None: the index's own setting, else
    the DenseConfig default."""
    options = [
        click.option(
            "--model",
            help="sentence-transformers model (a local folder or a name in the local HF cache) or openai:NAME "
            f"[default: the index's, else {DEFAULT_MODEL}].",
        ),
        click.option(
            "--dim",
            type=click.IntRange(min=1),
            help="Keep the first N vector components, re-normalised (Matryoshka models) [default: all].",
        ),
        click.option("--query-prompt", help="Text put before every query [default: the model's, else its family's]."),
        click.option(
            "--document-prompt", help="Text put before every chunk [default: the model's, else its family's]."
        ),
        trust_option,
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            help=f"Chunks per encoder batch or API request [default: {DenseConfig.batch_size}].",
        ),
        click.option(
            "--precision",
            type=click.Choice([precision.value for precision in Precision]),
            help="Weights of a local model: bf16 (about 3x faster on CPUs with AMX/AVX512-BF16), fp32, or auto "
            "(bf16 where the CPU has those instructions) [default: the index's, else auto].",
        ),
        device_option,
        api_base_option,
        api_key_env_option,
        click.option(
            "--send-input-type",
            is_flag=True,
            default=None,
            help="openai:NAME only: send input_type query/document, for servers that add the prompts themselves.",
        ),
        click.option(
            "--sentences/--no-sentences",
            default=None,
            help="Also encode each sentence of a chunk; its dense score is then the mean of its own cosine and its "
            "best sentence's (better ranking) [default: on].",
        ),
        click.option(
            "--chunk-from-sentences/--chunk-pass",
            default=None,
            help="With sentence vectors: a chunk of two or more sentences gets the length-weighted mean of its "
            "sentences' vectors (one pass over the sentences, about 1.8x faster indexing), or a pass of its own "
            "[default: from sentences].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def configured(base: IndexConfig | None, options: dict[str, Any]) -> IndexConfig | None:
    """`base` (or the defaults) with the options the user gave; None when none was given."""
    given = {key: value for key, value in options.items() if value is not None}
    if not given and base is not None:
        return None
    config = base or IndexConfig()
    parts = {
        "loader": {"text_field", "title_field", "id_field", "max_file_mb", "max_file_seconds"},
        "chunk": {"chunk_size": "size", "chunk_overlap": "overlap"},
        "tokenizer": {"term_form", "word_pairs"},
        "vectors": {"vectors": "kind"},
        "dense": {
            "model",
            "batch_size",
            "dim",
            "query_prompt",
            "document_prompt",
            "trust_remote_code",
            "precision",
            "api_base",
            "api_key_env",
            "send_input_type",
            "sentences",
            "chunk_from_sentences",
        },
    }
    for part, keys in parts.items():
        renames = keys if isinstance(keys, dict) else {key: key for key in keys}
        changes = {renames[key]: value for key, value in given.items() if key in renames}
        if changes:
            config = replace(config, **{part: replace(getattr(config, part), **changes)})
    return config
