"""`hsearch query`, `hsearch get` and `hsearch info`: search an index, show a hit's chunk or document,
describe an index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..access import Principal
from ..backends import check_files
from ..confidence import DEFAULT_THRESHOLD, NO_GOOD_MATCH
from ..config import (
    DEFAULT_API_BASE,
    OPENAI_PREFIX,
    Fusion,
)
from ..errors import HybridSearchError, IndexFormatError
from ..filters import Filter
from ..index import HybridIndex
from ..request import SearchRequest
from ..rerank import DEFAULT_DEPTH
from ..schema import Hit, StoredChunk
from ..snippets import snippet
from .common import (
    api_base_option,
    api_key_env_option,
    cli,
    device_option,
    grants_of,
    index_option,
    principal_of,
    principal_options,
    printable,
    rerank_option,
    say,
    trust_option,
    user_errors,
)


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
@principal_options
@device_option
@api_base_option
@api_key_env_option
@trust_option
def query(
    text: str, index_dir: str, alpha: float | None, k: int, fusion: str | None, where: tuple[str, ...],
    path_glob: str | None, group_by: str | None, keep_duplicates: bool, rerank_dir: Path | None, rerank_depth: int,
    min_confidence: float | None, show_weak: bool, as_json: bool, user: str | None, groups: tuple[str, ...],
    device: str | None, **options: Any,
) -> None:  # fmt: skip
    """Search the index for TEXT. Hits less likely than the threshold to answer are weak: they are
    listed apart with --show-weak, and 該当する文書が見つかりませんでした is said when every hit is."""
    with user_errors():
        request = SearchRequest(
            query=text, k=k, alpha=alpha, fusion=None if fusion is None else Fusion.parse(fusion),
            where=Filter.from_cli(where, path_glob), group_by=group_by, collapse=not keep_duplicates,
            rerank_depth=rerank_depth, min_confidence=min_confidence, principal=principal_of(user, groups),
        )  # fmt: skip
        with HybridIndex.open(index_dir, device=device, access=grants_of(options)) as opened:
            response = opened.respond(request, rerank_dir)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
        return
    if response.cut:
        say(f"Note: the query was cut to fit ({', '.join(f'{n} {what}' for what, n in response.cut.items())}).")
    filling = response.with_vectors < 1 and response.alpha > 0  # hits may have come from their words alone
    if filling:
        say(f"Note: {response.with_vectors:.0%} of the index has its vectors so far; a hit marked 'words only' "
            "was found by its words alone.")  # fmt: skip
    if not response.hits:
        say("No results.")
    elif response.no_good_match:
        say(f"{NO_GOOD_MATCH}（確信度 {response.threshold:g} 以上の結果はありません）")
        if not show_weak:
            say("弱い一致も見るには --show-weak を付けてください。")
    for hit in response.strong:
        click.echo(_format_hit(hit, filling))
    if show_weak and response.weak:
        click.echo("--- 弱い一致 (weak matches: less likely than the threshold to answer) ---")
        for hit in response.weak:
            click.echo(_format_hit(hit, filling))


@cli.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option(
    "--check", is_flag=True, help="Also verify every file's checksum and that docstore, BM25 and FAISS agree."
)
@principal_options
def info(index_dir: str, as_json: bool, check: bool, user: str | None, groups: tuple[str, ...]) -> None:
    """Describe an index: model, configuration, counts, the metadata fields to filter on (of the
    documents --user may read, where documents have readers)."""
    principal = principal_of(user, groups)
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
    with user_errors(), opened:
        details = opened.info() | {"fields": opened.fields(principal), "has_readers": opened.has_readers}
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
        ("with vectors", _with_vectors(details.get("with_vectors"), counts["chunks"], index_dir)),
        ("user words", len(config["tokenizer"].get("user_dictionary") or ()) or "none"),
        ("synonyms", config["tokenizer"].get("synonyms") or "none"),
        ("default alpha", f"{config['alpha']} ({config['fusion']})"),
        ("threshold", _threshold(config.get("min_confidence"))),
        ("fields", ", ".join(details["fields"])),
        ("readers", _readers(details["has_readers"], config["loader"], principal)),
    ]
    for label, value in lines:  # the manifest is data from the index: escaped like file names
        click.echo(f"{label + ':':15}{printable(str(value))}")
    if check:
        click.echo(f"{'check:':15}ok ({details.get('checked', 'checksums, docstore, BM25 and FAISS agree')})")


def _with_vectors(ready: dict[str, Any] | None, chunks: int, index_dir: str) -> str:
    """How many chunks have their vectors, and whether the rest are being filled in."""
    if ready is None or ready["chunks"] == chunks:
        return f"all {chunks} chunks"
    share = f"{ready['chunks']} of {chunks} chunks ({100 * ready['share']:.0f} %); the rest compete on their words"
    if ready.get("filler") is not None:
        return f"{share}; filling in now (pid {ready['filler']})"
    return f"{share}; stopped: resume with hsearch fill --index {index_dir}"


@cli.command()
@click.argument("id")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print every field as JSON.")
@principal_options
def get(id: str, index_dir: str, as_json: bool, user: str | None, groups: tuple[str, ...]) -> None:
    """Print the chunk or document with ID (a hit's id or document_id): its text, source and metadata."""
    principal = principal_of(user, groups)
    with user_errors(), HybridIndex.open(index_dir) as opened:
        found = opened.get(id, principal=principal)
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


def _readers(has_readers: bool, loader: dict[str, Any], principal: Principal | None) -> str:
    """Who may read the index's documents, and as whom `info` lists its fields."""
    if not has_readers:
        return "everyone may read every document"
    rules = ", ".join(
        [*(["--acl posix"] if loader.get("acl") == "posix" else []), *(["--private"] if loader.get("private") else [])]
    )
    whom = f"fields as {principal.user}" if principal else "fields of the documents open to everyone (give --user)"
    return f"set per document{f' ({rules})' if rules else ''}; {whom}"


def _describe_model(model: dict[str, Any], dense: dict[str, Any]) -> str:
    parts = [f"{model['name']} ({model['revision'] or 'no revision'})", f"dim {model['dim']}"]
    if dense.get("dim"):
        parts[-1] += " (Matryoshka cut)"
    if model.get("trust_remote_code"):
        parts.append("trusts its remote code")
    if str(model["name"]).startswith(OPENAI_PREFIX):
        parts.append(f"at {dense.get('api_base') or DEFAULT_API_BASE}")
    return ", ".join(parts)


def _threshold(stored: float | None) -> str:
    """The confidence threshold an index's searches use, and where it comes from."""
    return f"{DEFAULT_THRESHOLD} (the fitted default)" if stored is None else f"{stored:g} (set for this index)"


def _format_hit(hit: Hit, filling: bool = False) -> str:
    """A hit as the CLI prints it (`filling`: the index has chunks without vectors, and the search
    used them: a hit without a dense score is marked as found by its words only)."""
    dense = ("words only" if filling else "-") if hit.dense is None else f"{hit.dense:.3f}"
    header = f"{hit.rank:>2}. {hit.score:.3f}  {printable(hit.source)}"
    header += f"  ({printable(hit.location['label'])})" if hit.location.get("label") else ""
    header += f"  「{printable(hit.title)}」" if hit.title else ""
    reranked = "" if hit.rerank_score is None else f"  rerank {hit.rerank_score:.3f}"
    reranked += "" if hit.confidence is None else f"  confidence {hit.confidence:.2f}"
    evidence = f"    bm25 {hit.bm25:.2f}  dense {dense}{reranked}  [{hit.start}:{hit.end}]  id {hit.id}"
    if hit.more:
        evidence += f"  (+{hit.more} more in this document)"
    for source in dict.fromkeys(copy.source for copy in hit.copies):  # a copy's file once, however many chunks
        evidence += f"\n    same text: {printable(source)}"
    shown = snippet(hit)
    pieces, position = [], 0
    for start, end in shown.marks:
        marked = click.style(printable(shown.text[start:end]), fg="red", bold=True)
        pieces += [printable(shown.text[position:start]), marked]
        position = end
    pieces.append(printable(shown.text[position:]))
    return f"{header}\n{evidence}\n    {''.join(pieces)}"
