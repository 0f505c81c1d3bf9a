"""The passage of a hit that answers its query: the sentence of its chunk that the snippet is centred
on, that the location names and that `Hit.answer_start` / `answer_end` point at.

A sentence is weighed by the matched words it holds: each distinct word once, by its length, a word
of kana alone (し, する, の…) at a fifth, since the words that say what a question is about are its
kanji and katakana ones. Where the index has sentence vectors (`DenseConfig.sentences`) and the
search read meaning, each sentence's cosine to the query counts too: a sentence whose meaning is
close wins over one that only repeats the question's words (`SENTENCE_COSINE_WEIGHT`, measured in
bench/README.md, "The answering sentence").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .chunking import Span, sentence_spans, split_sentences

__all__ = ["SENTENCE_COSINE_WEIGHT", "answer_span", "word_weight"]

#: How much a sentence's cosine to the query counts against its matched words: its score is its
#: words' weight as a share of the best sentence's, plus this times its cosine minus the best one's,
#: so a cosine 0.02 lower takes all its matched words to make up. On jsquad dev the sentence chosen
#: holds the answer for 0.896 of first hits by words alone, 0.908 by cosine alone and 0.9105 with
#: this weight (a plateau from 20 to 100; bench/README.md, "The answering sentence").
SENTENCE_COSINE_WEIGHT = 50.0
#: The weight of a matched word of kana alone (し, する, の日…) against one of kanji or katakana.
KANA_ONLY = 0.2
_KANA = re.compile(r"[\u3040-\u309f\u30fc]+")


def word_weight(words: set[str]) -> float:
    """What matched words say about a sentence: their lengths, kana-only words at `KANA_ONLY`."""
    return sum(len(word) * (KANA_ONLY if _KANA.fullmatch(word) else 1.0) for word in words)


def answer_span(text: str, title: str, matched: Sequence[Span], cosines: np.ndarray | None = None) -> Span:
    """The span of `text` (a chunk) that best answers: by the `matched` word spans in it and, when
    given, the cosines of its sentence vectors (one per `sentence_spans(title, text)`)."""
    units = sentence_spans(title, text) if cosines is not None and len(cosines) else []
    if cosines is None or len(units) != len(cosines) or len(units) < 2:  # cosines that fit no sentences
        units, cosines = [span for span in split_sentences(text) if text[span[0] : span[1]].strip()], None
    if not units:
        return 0, len(text)
    weights = np.array([word_weight({text[a:b] for a, b in matched if start <= a < end}) for start, end in units])
    scores = weights / weights.max() if weights.max() > 0 else np.zeros(len(units))
    if cosines is not None:
        scores = scores + SENTENCE_COSINE_WEIGHT * (np.asarray(cosines) - np.max(cosines))
    start, end = units[int(np.argmax(scores))]
    while start < end and text[start].isspace():
        start += 1
    return start, end
