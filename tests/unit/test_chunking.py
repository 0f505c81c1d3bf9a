from hypothesis import given, settings
from hypothesis import strategies as st

from hybridsearch.chunking import MIN_SENTENCE_CHARS, chunk_text, sentence_inputs, split_sentences
from hybridsearch.config import ChunkConfig


def test_sentences_end_at_terminators_and_newlines_but_not_inside_quotes() -> None:
    text = "火星は赤い。彼は「晴れ。雨！」と言った。\n次？本当に！！最後"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "火星は赤い。",
        "彼は「晴れ。雨！」と言った。",
        "\n",
        "次？",
        "本当に！！",
        "最後",
    ]


def test_chunks_keep_offsets_size_and_sentence_overlap() -> None:
    text = "".join(f"これは{i}番目の文です。" for i in range(20))
    chunks = chunk_text(text, "doc7", ChunkConfig(size=40, overlap=12))
    assert all(c.text == text[c.start : c.end] and c.document_id == "doc7" for c in chunks)
    assert all(len(c.text) <= 40 for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for previous, current in zip(chunks, chunks[1:]):
        assert current.start < previous.end  # sentence-aligned overlap
        assert text[current.start - 1] == "。"


def test_long_sentence_is_cut_at_a_soft_break() -> None:
    text = "あ" * 30 + "、" + "い" * 30 + "。"
    chunks = chunk_text(text, "doc", ChunkConfig(size=40, overlap=0))
    assert [c.text for c in chunks] == ["あ" * 30 + "、", "い" * 30 + "。"]


def test_chunks_are_split_until_the_encoder_accepts_them() -> None:
    text = "短い文です。" * 30
    chunks = chunk_text(text, "doc", ChunkConfig(size=500, overlap=0), fits=lambda s: len(s) <= 50)
    assert all(len(c.text) <= 50 for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_whitespace_only_text_has_no_chunks() -> None:
    assert chunk_text(" \n\n　", "doc") == []


@settings(max_examples=200)
@given(st.text(alphabet=st.sampled_from("あい火星 。、！「」\n"), max_size=400), st.integers(20, 80))
def test_every_character_is_covered_and_chunks_are_bounded(text: str, size: int) -> None:
    chunks = chunk_text(text, "doc", ChunkConfig(size=size, overlap=size // 4))
    covered = set()
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end] and chunk.text.strip() == chunk.text
        assert 0 < len(chunk.text) <= size
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_sentence_inputs_carry_the_title_and_skip_chunks_of_one_sentence() -> None:
    first, second = (
        "火星は太陽から4番目の惑星で、赤い惑星と呼ばれる。",
        "衛星はフォボスとダイモスの二つで、どちらも小さい。",
    )
    assert min(len(first), len(second)) >= MIN_SENTENCE_CHARS > len("## 概要")
    assert sentence_inputs("", first + second) == [first, second]
    # the title heading is left out; a short piece is read with the next sentence, a short tail with the one before
    text = f"# 火星\n\n## 概要\n{first}\n\n{second}短い。"
    assert sentence_inputs("火星", text) == [f"火星\n## 概要\n{first}", f"火星\n{second}短い。"]
    assert sentence_inputs("火星", f"# 火星\n\n{first}") == []  # one sentence: the chunk is its sentence
    assert sentence_inputs("", "a\nb\nc\nd") == []  # fragments make no sentence of their own


def test_chunk_ids_are_unique_and_kept_by_chunks_an_edit_does_not_touch() -> None:
    sentences = [f"これは{i}番目の文です。" for i in range(30)]
    config = ChunkConfig(size=60, overlap=0)
    before = chunk_text("".join(sentences), "doc", config)
    after = chunk_text("".join(sentences[:-1]) + "最後の文を書き換えた。", "doc", config)
    assert [c.id for c in before[:-1]] == [c.id for c in after[:-1]] and before[-1].id != after[-1].id
    assert all(c.id.startswith("doc-") for c in before)
    repeated = chunk_text("同じ文です。\n" * 50, "doc", ChunkConfig(size=20, overlap=0))
    assert len({c.id for c in repeated}) == len(repeated) > 10 and len({c.text for c in repeated}) < 3  # equal texts
    assert chunk_text("".join(sentences), "other", config)[0].id != before[0].id
