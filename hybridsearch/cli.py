"""`hsearch`: a thin click layer — parse, call the API, format. Results on stdout, the rest on stderr."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import click

from . import writer
from .backends import check_files
from .confidence import DEFAULT_THRESHOLD, NO_GOOD_MATCH
from .config import (
    DEFAULT_API_BASE,
    DEFAULT_MODEL,
    OPENAI_PREFIX,
    ChunkConfig,
    DenseConfig,
    Fusion,
    IndexConfig,
    LoaderConfig,
    ModelAccess,
    Precision,
    TermForm,
    TokenizerConfig,
    VectorKind,
)
from .encoders import resolve_model_name
from .encoders.cache import CacheInfo, EmbeddingCache
from .errors import HybridSearchError, IndexFormatError
from .filters import Filter
from .index import HybridIndex
from .request import SearchRequest
from .rerank import DEFAULT_DEPTH
from .schema import Hit, StoredChunk
from .snippets import snippet
from .version import __version__
from .writer import ProgressEvent

__all__ = ["ProgressBars", "cli", "printable"]

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


def _access(options: dict[str, Any]) -> ModelAccess:
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
def _user_errors() -> Iterator[None]:
    """Library errors become one-line click errors (exit status 1)."""
    try:
        yield
    except HybridSearchError as error:
        raise click.ClickException(str(error)) from None


def _stderr(message: str) -> None:
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
                _stderr(f"Loading model {event.detail} …")
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
            _stderr(f"warning: {message}")

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


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
@dense_options
@click.option(
    "--chunk-size", type=click.IntRange(min=20), help=f"Target chunk size in characters [default: {ChunkConfig.size}]."
)
@click.option(
    "--chunk-overlap",
    type=click.IntRange(min=0),
    help=f"Characters of whole sentences repeated between neighbouring chunks [default: {ChunkConfig.overlap}].",
)
@vectors_option
@click.option(
    "--term-form",
    type=click.Choice([t.value for t in TermForm]),
    help=f"BM25 term: UniDic base form, surface form or lemma [default: {TokenizerConfig.term_form}].",
)
@click.option(
    "--word-pairs/--no-word-pairs",
    default=None,
    help="Also index neighbouring content words as one BM25 term (日本 共産) [default: on].",
)
@click.option("--text-field", help=f"CSV/JSONL field with the text [default: {LoaderConfig.text_field}].")
@click.option("--title-field", help=f"CSV/JSONL field with the title [default: {LoaderConfig.title_field}].")
@click.option("--id-field", help=f"CSV/JSONL field with the record id [default: {LoaderConfig.id_field}].")
@click.option(
    "--max-file-mb",
    type=click.IntRange(min=1),
    help=f"Skip files larger than this; also the most text read from one [default: {LoaderConfig.max_file_mb}].",
)
@click.option(
    "--max-file-seconds",
    type=click.FloatRange(min=0, min_open=True),
    help=f"Skip a file that takes longer than this to read [default: {LoaderConfig.max_file_seconds:g}].",
)
@click.option(
    "--rebuild", is_flag=True, help="Start from scratch (needed to change the settings or model of an index)."
)
@click.option(
    "--no-cache", is_flag=True, help="Encode everything afresh, without reading or writing the embedding cache."
)
@click.option("--reweight", is_flag=True,
              help="Qdrant: compute every chunk's BM25 weights from the true average length now (they are "
                   "kept while it drifts under 10 %; a local index is always exact).")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or warnings; only the summary.")
def index(
    paths: tuple[Path, ...], index_dir: str, rebuild: bool, no_cache: bool, reweight: bool, quiet: bool,
    device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Index the documents under PATHS (folders or files): txt, md, html, csv, jsonl.

    Re-running updates the index: only added or changed files are read and encoded, and documents
    whose files are gone from PATHS are dropped; other folders indexed earlier stay. Settings not
    given are the index's own. Vectors computed before (by any index, or a run that was killed)
    come from the embedding cache (see hsearch cache). Exit status 3: written, but some input was
    skipped.
    """
    bars = ProgressBars(quiet)
    try:
        with _user_errors():
            base = None if rebuild else HybridIndex.stored_config(index_dir)
            report = writer.write_index(
                index_dir, list(paths), config=_config(base, options), device=device, rebuild=rebuild,
                progress=bars, warn=bars.warn, access=_access(options), cache=not no_cache, reweight=reweight,
            )  # fmt: skip
    finally:
        bars.close()
    _stderr(f"{index_dir}: {report.summary()}")
    if report.skipped_files or report.skipped_records:
        sys.exit(EXIT_SKIPPED)


def _config(base: IndexConfig | None, options: dict[str, Any]) -> IndexConfig | None:
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


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option
def remove(paths: tuple[Path, ...], index_dir: str) -> None:
    """Remove the documents of PATHS (files, or every file under a folder) from the index."""
    with _user_errors():
        report = writer.write_index(index_dir, remove=list(paths))
    _stderr(f"{index_dir}: {report.summary()}")


@cli.command()
@click.argument("text")
@index_option
@click.option(
    "-a",
    "--alpha",
    type=float,
    default=None,
    help="Dense share in [0, 1]: 0 = BM25 only, 1 = dense only (default: the index's; new indexes 0.4).",
)
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of results.")
@click.option(
    "--fusion",
    type=click.Choice([f.value for f in Fusion]),
    default=None,
    help="How the two sides are put on one scale and mixed (default: the index's; new indexes coverage).",
)
@click.option(
    "--where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only documents whose metadata field matches: KEY=VALUE, KEY=A|B (any of), KEY>=V, KEY<V… "
    "(repeatable; all must hold).",
)
@click.option("--path", "path_glob", metavar="GLOB", help="Only documents whose path matches, e.g. 'planets/*.md'.")
@click.option("--group-by", type=click.Choice(["document"]), help="One hit per document: its best chunk.")
@click.option("--keep-duplicates", is_flag=True,
              help="Show chunks that (nearly) repeat a better hit's text as hits (default: its copies).")  # fmt: skip
@rerank_option
@click.option("--rerank-depth", type=click.IntRange(min=1), default=DEFAULT_DEPTH, show_default=True,
              help="How many fused candidates the reranker re-scores.")  # fmt: skip
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=None,
              help="Hits less likely than this to answer are weak and listed apart [default: the index's, "
                   f"new indexes {DEFAULT_THRESHOLD}].")  # fmt: skip
@click.option("--show-weak", is_flag=True, help="Also show the weak hits, after the others.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the whole response as JSON: settings, no_good_match, every hit (weak flagged).")  # fmt: skip
@device_option
@api_base_option
@api_key_env_option
@trust_option
def query(
    text: str, index_dir: str, alpha: float | None, k: int, fusion: str | None, where: tuple[str, ...],
    path_glob: str | None, group_by: str | None, keep_duplicates: bool, rerank_dir: Path | None, rerank_depth: int,
    min_confidence: float | None, show_weak: bool, as_json: bool, device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Search the index for TEXT. Hits less likely than the threshold to answer are weak: they are
    listed apart with --show-weak, and 該当する文書が見つかりませんでした is said when every hit is."""
    with _user_errors():
        request = SearchRequest(
            query=text, k=k, alpha=alpha, fusion=None if fusion is None else Fusion.parse(fusion),
            where=Filter.from_cli(where, path_glob), group_by=group_by, collapse=not keep_duplicates,
            rerank_depth=rerank_depth, min_confidence=min_confidence,
        )  # fmt: skip
        grants = _access(options)
        with HybridIndex.open(
            index_dir, device=device, api_base=grants.api_base, api_key_env=grants.api_key_env,
            trust_remote_code=grants.trust_remote_code,
        ) as opened:  # fmt: skip
            response = opened.respond(request, rerank_dir)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
        return
    if response.cut:
        _stderr(f"Note: the query was cut to fit ({', '.join(f'{n} {what}' for what, n in response.cut.items())}).")
    if not response.hits:
        _stderr("No results.")
    elif response.no_good_match:
        _stderr(f"{NO_GOOD_MATCH}（確信度 {response.threshold:g} 以上の結果はありません）")
        if not show_weak:
            _stderr("弱い一致も見るには --show-weak を付けてください。")
    for hit in response.strong:
        click.echo(_format_hit(hit))
    if show_weak and response.weak:
        click.echo("--- 弱い一致 (weak matches: less likely than the threshold to answer) ---")
        for hit in response.weak:
            click.echo(_format_hit(hit))


@cli.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option(
    "--check", is_flag=True, help="Also verify every file's checksum and that docstore, BM25 and FAISS agree."
)
def info(index_dir: str, as_json: bool, check: bool) -> None:
    """Describe an index: model, configuration, counts, the metadata fields to filter on."""
    try:
        opened = HybridIndex.open(index_dir)
    except IndexFormatError as error:  # too damaged to open: --check still says which files are wrong
        try:
            found = check_files(index_dir) if check else []
        except HybridSearchError:  # not even its file list can be read: the opening error says why
            found = []
        if found:
            raise click.ClickException(f"Index {index_dir} failed its check: {'; '.join(found)}.") from None
        raise click.ClickException(str(error)) from None
    except HybridSearchError as error:
        raise click.ClickException(str(error)) from None
    with _user_errors(), opened:
        details = opened.info() | {"fields": opened.fields()}
        problems = opened.check() if check else []
    if problems:
        raise click.ClickException(f"Index {index_dir} failed its check: {'; '.join(problems)}.")
    if as_json:
        click.echo(json.dumps(details, ensure_ascii=False, indent=2))
        return
    counts, model, config = details["counts"], details["model"], details["config"]
    lines: list[tuple[str, Any]] = [
        ("index", details["path"]),
        ("generation", details["generation"]),
        ("created", details["created"]),
        ("hybridsearch", details["hybridsearch_version"]),
        ("sources", ", ".join(details["sources"])),
        ("documents", counts["documents"]),
        ("chunks", counts["chunks"]),
        ("terms", counts["terms"]),
        ("model", _describe_model(model, config["dense"])),
        (
            "prompts",
            f"query {model['query_prompt']!r}, document {model['document_prompt']!r}"
            + (" (input_type sent)" if config["dense"].get("send_input_type") else ""),
        ),
        ("chunking", f"{config['chunk']['size']} chars, overlap {config['chunk']['overlap']}"),
        (
            "bm25",
            f"{config['bm25']['variant']}, k1={config['bm25']['k1']}, b={config['bm25']['b']}, "
            f"terms={config['tokenizer']['term_form']}"
            + (" + word pairs" if config["tokenizer"].get("word_pairs") else ""),
        ),
        (
            "vectors",
            f"{details['vectors']} ({details.get('engine', 'FAISS')}; setting: {config['vectors']['kind']})"
            + (f" + {counts['sentences']} sentence vectors" if config["dense"].get("sentences") else ""),
        ),
        ("default alpha", f"{config['alpha']} ({config['fusion']})"),
        ("fields", ", ".join(details["fields"])),
    ]
    for label, value in lines:  # the manifest is data from the index: escaped like file names
        click.echo(f"{label + ':':15}{printable(str(value))}")
    if check:
        click.echo(f"{'check:':15}ok ({details.get('checked', 'checksums, docstore, BM25 and FAISS agree')})")


@cli.command()
@click.argument("id")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print every field as JSON.")
def get(id: str, index_dir: str, as_json: bool) -> None:
    """Print the chunk or document with ID (a hit's id or document_id): its text, source and metadata."""
    with _user_errors(), HybridIndex.open(index_dir) as opened:
        found = opened.get(id)
    if as_json:
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))
        return
    where = f"[{found.start}:{found.end}]" if isinstance(found, StoredChunk) else f"{len(found.chunks)} chunk(s)"
    title = f"  「{printable(found.title)}」" if found.title else ""
    click.echo(f"{printable(found.source)}{title}  {where}")
    fields = {key: value for key, value in found.metadata.items() if key not in ("path", "title")}
    click.echo("  ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in fields.items()))
    click.echo("")
    click.echo(found.text)


def _describe_model(model: dict[str, Any], dense: dict[str, Any]) -> str:
    parts = [f"{model['name']} ({model['revision'] or 'no revision'})", f"dim {model['dim']}"]
    if dense.get("dim"):
        parts[-1] += " (Matryoshka cut)"
    if model.get("trust_remote_code"):
        parts.append("trusts its remote code")
    if str(model["name"]).startswith(OPENAI_PREFIX):
        parts.append(f"at {dense.get('api_base') or DEFAULT_API_BASE}")
    return ", ".join(parts)


served_option = click.option(
    "--index",
    "index_options",
    multiple=True,
    envvar="HSEARCH_INDEX",
    default=(DEFAULT_INDEX,),
    show_default=True,
    metavar="DIR | NAME=DIR",
    help="An index to answer from, named by its folder or NAME (repeat for several; env: HSEARCH_INDEX).",
)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _served(index_options: tuple[str, ...], rerank_dir: Path | None, options: dict[str, Any]) -> Any:
    from .rerank import load_reranker
    from .server.indexes import ServedIndexes, parse_index_options

    access = _access(options)
    reranker = None if rerank_dir is None else load_reranker(rerank_dir, trust_remote_code=access.trust_remote_code)
    return ServedIndexes(parse_index_options(index_options), access, reranker=reranker)


@cli.command()
@served_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8800, show_default=True, help="Port to listen on.")
@click.option(
    "--token-env",
    metavar="VAR",
    help="Require `Authorization: Bearer <token>`, the token read from this environment variable.",
)
@click.option("--cors", multiple=True, metavar="ORIGIN", help="Let pages from this origin call the API (repeatable).")
@click.option(
    "--allow-host",
    multiple=True,
    metavar="NAME[:PORT]",
    help="Also answer requests addressed to this name, e.g. a LAN name or a proxy's (repeatable; '*': any name, "
    "which lets any web page read the index through DNS rebinding).",
)
@click.option(
    "--max-k", type=click.IntRange(min=1), default=100, show_default=True, help="The most hits one request may ask."
)
@rerank_option
@api_base_option
@api_key_env_option
@trust_option
def serve(
    index_options: tuple[str, ...], host: str, port: int, token_env: str | None, cors: tuple[str, ...],
    allow_host: tuple[str, ...], max_k: int, rerank_dir: Path | None, **options: Any,
) -> None:  # fmt: skip
    """Serve indexes over HTTP: the search page at /, the API (/search, /documents/ID, /docs…), MCP at /mcp.

    New generations written by `hsearch index` are answered from within a second or two. Requests must
    be addressed to 127.0.0.1, localhost, [::1], the --host value, the address they arrived at, or a
    name --allow-host adds (421 otherwise); a page of another origin may call only with --cors.
    """
    token = None
    if token_env:
        token = os.environ.get(token_env, "")
        if len(token) < 16:
            raise click.UsageError(f"Set {token_env} to a token of 16 characters or more (it is unset or too short).")
    if host not in _LOOPBACK and token is None:
        raise click.UsageError(
            f"Listening on {host} without a token would let anyone who can reach it search your documents. Set one: "
            "export HSEARCH_TOKEN=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\" and pass "
            "--token-env HSEARCH_TOKEN."
        )
    try:
        import uvicorn

        from .server.http import Limits, create_app, lenient_http
        from .server.mcp import build_server
    except ImportError as error:
        raise click.ClickException(
            f"hsearch serve needs the [serve] and [mcp] extras: pip install 'hybridsearch[serve,mcp]' "
            f"({error.name} is missing)."
        ) from None
    with _user_errors():
        indexes = _served(index_options, rerank_dir, options)
    try:
        with _user_errors():
            app = create_app(indexes, token, cors, Limits(k=max_k), build_server(indexes), (host, *allow_host))
        _stderr(f"Serving {', '.join(indexes.names)} at http://{host}:{port}/ (API: /docs, MCP: /mcp)")
        uvicorn.run(app, host=host, port=port, log_level="warning", http=lenient_http())
    finally:
        indexes.close()


@cli.command("mcp")
@served_option
@rerank_option
@api_base_option
@api_key_env_option
@trust_option
def mcp_command(index_options: tuple[str, ...], rerank_dir: Path | None, **options: Any) -> None:
    """Serve indexes to an MCP client over stdio: tools search, get_document, list_indexes."""
    try:
        from .server.mcp import build_server, run_stdio
    except ImportError as error:
        raise click.ClickException(
            f"hsearch mcp needs the [mcp] extra: pip install 'hybridsearch[mcp]' ({error.name} is missing)."
        ) from None
    with _user_errors():
        indexes = _served(index_options, rerank_dir, options)
    try:
        run_stdio(build_server(indexes))
    finally:
        indexes.close()


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
    with _user_errors(), _embedding_cache() as embeddings:
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
    with _user_errors(), _embedding_cache() as embeddings:
        if model is not None and (not embeddings or model not in {name for name, _, _ in embeddings.info().models}):
            raise click.ClickException(f"The embedding cache holds no vectors of {model!r}; see: hsearch cache info")
        dropped = embeddings.clear(model) if embeddings else 0
    _stderr(f"{EmbeddingCache.default_path()}: dropped {dropped} cached vector(s)" + (f" of {model}" if model else ""))


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


@cli.command("eval")
@click.argument("dataset", type=click.Path(file_okay=False, path_type=Path))
@click.option("--alpha", "alpha_spec", default="0:1:0.1", show_default=True,
              help="Alphas to try: start:stop:step, a comma list, or one number.")  # fmt: skip
@click.option(
    "--fusion", type=click.Choice([f.value for f in Fusion]), default=Fusion.COVERAGE.value, show_default=True
)
@dense_options
@vectors_option
@click.option("--index-root", default="indexes", show_default=True,
              help="Where evaluation indexes are kept, one per corpus and settings: a folder, or a Qdrant "
                   "location without the name (qdrant+local://indexes/qdrant, qdrant://HOST:PORT).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), help="Draw metric-vs-alpha curves to this PNG."
)
@click.option("--tune", is_flag=True, help="Store the best alpha (by nDCG@10) as the evaluation index's default.")
@click.option("--per-query", type=click.File("w", encoding="utf-8", lazy=False),
              help="Write a JSON line per query: its relevant passages' ranks (BM25, dense, default).")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def evaluate_command(
    dataset: Path, alpha_spec: str, fusion: str, index_root: str, as_json: bool, plot: Path | None, tune: bool,
    per_query: TextIO | None, quiet: bool, device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Measure retrieval quality on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv).

    Indexes the corpus once (reused while the corpus and settings are the same), runs every judged
    query, and prints nDCG@10, MRR@10, Recall@10/100 and MAP@100 for BM25 only (alpha 0), dense
    only (alpha 1), each hybrid alpha, the index's default (its alpha and fusion), the best fixed
    alpha and the oracle that picks each query's best alpha (what no fixed alpha can reach).
    """
    from .evaluate import METRICS, best_alpha, eval_index_dir, evaluate, load_dataset, parse_alphas, plot_sweep

    with _user_errors():
        alphas = sorted({0.0, 1.0, *parse_alphas(alpha_spec)})
        data = load_dataset(dataset)
        config = _config(None, options) or IndexConfig()
        config = replace(config, loader=LoaderConfig(id_field="_id"))
        index_dir = eval_index_dir(data, config, index_root)
        if not _usable(index_dir, config):
            bars = ProgressBars(quiet)
            try:
                writer.write_index(
                    index_dir, [data.corpus], config=config, device=device, rebuild=True, progress=bars,
                    access=_access(options),
                )  # fmt: skip
            finally:
                bars.close()
        grants = _access(options)  # the evaluation index's model is the one named in this command
        endpoint = grants.api_base or (DEFAULT_API_BASE if config.dense.model.startswith(OPENAI_PREFIX) else None)
        with HybridIndex.open(
            index_dir, model=config.dense.model, device=device, api_base=endpoint, api_key_env=grants.api_key_env,
            trust_remote_code=grants.trust_remote_code,
        ) as opened:  # fmt: skip
            if not quiet:
                _stderr(f"Evaluating {len(data.queries)} queries on {index_dir} …")
            default = {"fusion": str(opened.config.fusion), "alpha": opened.config.alpha}
            write = (
                None if per_query is None else lambda row: per_query.write(json.dumps(row, ensure_ascii=False) + "\n")
            )
            evaluation = evaluate(opened, data, alphas, fusion, per_query=write)
        results = evaluation.results
        best = best_alpha(results)
        if plot is not None:
            plot_sweep(results, plot, f"{dataset.resolve().parent.name}/{dataset.resolve().name} ({fusion})")
        if tune:
            writer.set_defaults(index_dir, best, fusion)
    if as_json:
        rows = [{"alpha": alpha, **metrics} for alpha, metrics in results.items()]
        payload = {"dataset": str(dataset), "index": str(index_dir), "fusion": fusion,
                   "queries": len(data.queries), "best_alpha": best, "results": rows,
                   "default": default | evaluation.default,
                   "oracle": evaluation.oracle}  # fmt: skip
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(f"{'method':<8} {'alpha':>5}  " + "  ".join(f"{m:>10}" for m in METRICS))
        for alpha, metrics in results.items():
            method = "bm25" if alpha == 0 else "dense" if alpha == 1 else "hybrid"
            click.echo(f"{method:<8} {alpha:>5.2f}  " + "  ".join(f"{metrics[m]:>10.4f}" for m in METRICS))
        for method, metrics in (("default", evaluation.default), ("oracle", evaluation.oracle)):
            click.echo(f"{method:<8} {'':>5}  " + "  ".join(f"{metrics[m]:>10.4f}" for m in METRICS))
        click.echo(f"best alpha by nDCG@10: {best:g} ({results[best]['ndcg@10']:.4f}); "
                   f"default ({default['fusion']}, alpha {default['alpha']:g}): {evaluation.default['ndcg@10']:.4f}; "
                   f"oracle (each query's best alpha): {evaluation.oracle['ndcg@10']:.4f}")  # fmt: skip
    if plot is not None:
        _stderr(f"Plot written to {plot}")
    if per_query is not None:
        _stderr(f"Per-query ranks written to {per_query.name}")
    if tune:
        _stderr(f"Default alpha of {index_dir} is now {best:g} ({fusion})")


def _usable(index_dir: str | Path, config: IndexConfig) -> bool:
    """True when an evaluation index is there, readable by this version and of the model asked for
    (else it is rebuilt: it is a cache)."""
    try:
        stored = HybridIndex.stored_config(index_dir)
    except HybridSearchError:
        return False
    return stored is not None and stored.dense.model == resolve_model_name(config.dense.model)


def _format_hit(hit: Hit) -> str:
    dense = "-" if hit.dense is None else f"{hit.dense:.3f}"
    header = f"{hit.rank:>2}. {hit.score:.3f}  {printable(hit.source)}"
    header += f"  ({printable(hit.location['label'])})" if hit.location.get("label") else ""
    header += f"  「{printable(hit.title)}」" if hit.title else ""
    reranked = "" if hit.rerank_score is None else f"  rerank {hit.rerank_score:.3f}"
    reranked += "" if hit.confidence is None else f"  confidence {hit.confidence:.2f}"
    evidence = f"    bm25 {hit.bm25:.2f}  dense {dense}{reranked}  [{hit.start}:{hit.end}]  id {hit.id}"
    if hit.more:
        evidence += f"  (+{hit.more} more in this document)"
    for copy in hit.copies:
        evidence += f"\n    same text: {printable(copy.source)}"
    shown = snippet(hit)
    pieces, position = [], 0
    for start, end in shown.marks:
        marked = click.style(printable(shown.text[start:end]), fg="red", bold=True)
        pieces += [printable(shown.text[position:start]), marked]
        position = end
    pieces.append(printable(shown.text[position:]))
    return f"{header}\n{evidence}\n    {''.join(pieces)}"
