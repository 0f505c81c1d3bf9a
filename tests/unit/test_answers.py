"""The answering sentence of a hit: by its matched content words, and by its meaning where the index
has sentence vectors; the same span every door shows (snippet, location, answer offsets)."""

from pathlib import Path

import numpy as np
from conftest import FAKE_MODEL

from hybridsearch import HybridIndex
from hybridsearch.answers import answer_span
from hybridsearch.chunking import sentence_spans

TEXT = (
    "この規程は、社員が休暇を取得する手続きを定めるものであり、全社員に適用する。"
    "年次有給休暇は、入社後6か月を経過した社員に10日を付与するものとする。"
    "社員が結婚したときは、慶弔休暇として連続5日を取得することができる。"
)


def spans_of(text: str, *words: str) -> list[tuple[int, int]]:
    found = []
    for word in words:
        start = text.find(word)
        while start >= 0:
            found.append((start, start + len(word)))
            start = text.find(word, start + 1)
    return sorted(found)


def test_the_sentence_with_the_most_content_words_answers() -> None:
    start, end = answer_span(TEXT, "", spans_of(TEXT, "結婚", "休暇", "し"))
    assert TEXT[start:end] == "社員が結婚したときは、慶弔休暇として連続5日を取得することができる。"
    assert answer_span(TEXT, "", []) == (0, TEXT.index("。") + 1)  # nothing matched: the first sentence


def test_a_sentence_close_in_meaning_wins_over_one_that_repeats_the_words() -> None:
    units = sentence_spans("", TEXT)
    assert len(units) == 3
    words = spans_of(TEXT, "休暇", "取得")  # in the first and last sentences alike
    by_words = answer_span(TEXT, "", words)
    by_meaning = answer_span(TEXT, "", words, np.array([0.50, 0.90, 0.52]))
    assert TEXT[slice(*by_words)].startswith("この規程は")
    assert TEXT[slice(*by_meaning)].startswith("年次有給休暇は")
    # cosines that do not fit the chunk's sentences (another splitter, an old index) are not used
    assert answer_span(TEXT, "", words, np.array([0.1, 0.9])) == by_words


def test_every_door_gets_the_answer_offsets_and_the_snippet_centred_on_them(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rules.txt").write_text(TEXT * 2, encoding="utf-8")
    with HybridIndex.build(tmp_path / "docs", tmp_path / "idx", model=FAKE_MODEL) as index:
        hit = index.search("結婚したら慶弔休暇は何日", k=1)[0]
        data = hit.to_dict()
    answer = TEXT * 2
    assert answer[data["answer_start"] : data["answer_end"]].startswith("社員が結婚したときは")
    assert hit.start <= data["answer_start"] < data["answer_end"] <= hit.end
    assert "社員が結婚したときは、慶弔休暇として連続5日を取得することができる。" in data["snippet"]["text"]
