"""Document → Chunk: sentence-aware Japanese splitting with target size, overlap and a token limit.

A sentence ends after 。！？!? (plus any closing brackets right after) or at a line break; inside
「」『』（）【】 a terminator does not end the sentence, so quoted speech stays whole. Sentences are
packed greedily up to `size` characters; the next chunk starts with the last whole sentences of the
previous one that fit in `overlap` characters. A sentence longer than `size` is cut at 、 or a space
where possible. When a token counter is given, a chunk that is too long for the encoder is halved
until it fits, so no chunk is ever truncated silently. A document's regions (`locations.py`) give each
chunk its location, and a hard region (a slide, a sheet) always starts a new chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .config import ChunkConfig
from .locations import Locator, Region
from .schema import Chunk, chunk_ids

__all__ = ["chunk_text", "model_input", "sentence_inputs", "sentence_spans", "split_sentences"]

_TERMINATORS = frozenset("。！？!?．")
_OPEN = "「『（(【〈《［[｛{"
_CLOSE = "」』）)】〉》］]｝}"
_CLOSERS = frozenset(_CLOSE) | frozenset("\"'’”")
_SOFT_BREAKS = "、，, 　"

Span = tuple[int, int]
Fits = Callable[[str], bool]


def model_input(title: str, text: str) -> str:
    """What BM25 and the encoder see for a chunk: its document's title, if any, then the chunk text.

    The title says what a chunk is about even when the chunk never names it (a later paragraph of
    a Wikipedia article, the answer field of an FAQ record).
    """
    return f"{title}\n{text}" if title else text


#: A piece of a chunk shorter than this (a heading, a list item, 「はい。」) is read with the next one.
MIN_SENTENCE_CHARS = 20


def sentence_inputs(title: str, text: str) -> list[str]:
    """What the encoder sees for each sentence of a chunk encoded on its own: title + sentence (see
    `sentence_spans` for which sentences)."""
    return [model_input(title, text[start:end]) for start, end in sentence_spans(title, text)]


def sentence_spans(title: str, text: str) -> list[Span]:
    """The sentences of a chunk that get vectors of their own, as stripped spans of `text`; none for a
    chunk of one sentence (the chunk is its sentence). Pieces shorter than `MIN_SENTENCE_CHARS` join
    the next sentence (a short last one, the one before), which also bounds the count for list-like
    text. A line that only repeats the title (a Markdown heading) is left out: every input starts with it."""
    spans = [(start, end) for start, end in split_sentences(text) if _heading_free(text[start:end]) not in ("", title)]
    sentences: list[Span] = []
    first: int | None = None
    for start, end in spans:
        first = start if first is None else first
        if len(text[first:end].strip()) >= MIN_SENTENCE_CHARS:
            sentences.append((first, end))
            first = None
    if first is not None:  # a short last piece joins the sentence before it
        sentences[-1:] = [(sentences[-1][0] if sentences else first, spans[-1][1])]
    return [_strip(text, start, end) for start, end in sentences] if len(sentences) > 1 else []


def _heading_free(piece: str) -> str:
    return piece.strip().lstrip("#").strip()


def split_sentences(text: str) -> list[Span]:
    """Spans `[start, end)` that cover `text` in order, one per sentence."""
    spans: list[Span] = []
    start = depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        end = -1
        if ch == "\n":
            depth, end = 0, i + 1
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif ch in _TERMINATORS and depth == 0:
            end = i + 1
            while end < n and (text[end] in _CLOSERS or text[end] in _TERMINATORS):
                end += 1
        if end > 0:
            spans.append((start, end))
            start = i = end
            continue
        i += 1
    if start < n:
        spans.append((start, n))
    return spans


def chunk_text(
    text: str,
    document_id: str,
    config: ChunkConfig | None = None,
    fits: Fits | None = None,
    regions: Sequence[Region] = (),
) -> list[Chunk]:
    """Chunks of `text` with offsets into it, stable ids (`chunk_ids`) and locations (from `regions`);
    whitespace-only pieces are dropped."""
    config = config or ChunkConfig()
    breaks = sorted({region.start for region in regions if region.hard and 0 < region.start < len(text)})
    pieces = [
        piece
        for start, end in zip([0, *breaks], [*breaks, len(text)])
        for piece in _pack(_bounded(_shifted(split_sentences(text[start:end]), start), text, config.size), config)
    ]
    spans = [_strip(text, *span) for piece in pieces for span in _fit(text, piece, fits)]
    spans = [(start, end) for start, end in spans if start < end]
    ids = chunk_ids(document_id, (text[start:end] for start, end in spans))
    locate = Locator(regions)
    return [
        Chunk(chunk_id, document_id, ordinal, start, end, text[start:end], locate(start, end))
        for ordinal, (chunk_id, (start, end)) in enumerate(zip(ids, spans))
    ]


def _shifted(spans: list[Span], offset: int) -> list[Span]:
    return [(start + offset, end + offset) for start, end in spans] if offset else spans


def _bounded(sentences: Sequence[Span], text: str, size: int) -> list[Span]:
    """Cut sentences longer than `size` at a soft break (、 or space) in the window's second half."""
    out: list[Span] = []
    for start, end in sentences:
        while end - start > size:
            window = text[start : start + size]
            cut = max(window.rfind(mark) for mark in _SOFT_BREAKS) + 1
            cut = cut if cut > size // 2 else size
            out.append((start, start + cut))
            start += cut
        out.append((start, end))
    return out


def _pack(sentences: list[Span], config: ChunkConfig) -> list[Span]:
    """Greedy packing of sentence spans into chunks with sentence-aligned overlap."""
    chunks: list[Span] = []
    first = 0  # index of the first sentence in the current chunk
    while first < len(sentences):
        last = first
        while last + 1 < len(sentences) and sentences[last + 1][1] - sentences[first][0] <= config.size:
            last += 1
        chunks.append((sentences[first][0], sentences[last][1]))
        if last + 1 >= len(sentences):
            break
        following = last + 1
        while following - 1 > first and sentences[last][1] - sentences[following - 1][0] <= config.overlap:
            following -= 1
        first = following
    return chunks


def _fit(text: str, span: Span, fits: Fits | None) -> list[Span]:
    """Halve `span` (at a sentence or soft break near the middle) until every part fits the encoder."""
    start, end = span
    if fits is None or end - start <= 1 or fits(text[start:end]):
        return [span]
    middle = _middle_cut(text, start, end)
    return _fit(text, (start, middle), fits) + _fit(text, (middle, end), fits)


def _middle_cut(text: str, start: int, end: int) -> int:
    middle = (start + end) // 2
    candidates = [s for s, _ in split_sentences(text[start:end])[1:]]
    best = min(candidates, key=lambda s: abs(start + s - middle), default=None)
    if best is not None and abs(start + best - middle) < (end - start) // 4:
        return start + best
    return middle


def _strip(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
