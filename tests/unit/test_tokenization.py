import pytest

from hybridsearch.config import TermForm, TokenizerConfig
from hybridsearch.errors import EmptyQueryError
from hybridsearch.textnorm import normalize
from hybridsearch.tokenization import QUESTION_WORDS, Tokenizer

SENTENCE = "東京の赤い惑星をコンピューターで見ました。"


@pytest.mark.parametrize(
    ("form", "terms"),
    [
        ("surface", ["東京", "赤い", "惑星", "コンピューター", "見"]),
        ("base", ["東京", "赤い", "惑星", "コンピューター", "見る"]),
        ("lemma", ["トウキョウ", "赤い", "惑星", "コンピューター", "見る"]),
    ],
)
def test_term_forms_drop_particles_auxiliaries_and_symbols(form: str, terms: list[str]) -> None:
    assert Tokenizer(TokenizerConfig(term_form=form, word_pairs=False)).document_terms(SENTENCE) == terms


BASE = TokenizerConfig(term_form=TermForm.BASE)  # the base-form rules below; the default is the lemma


def test_word_pairs_join_neighbouring_content_words_within_a_clause() -> None:
    tokenizer = Tokenizer(BASE)
    words = ["東京", "赤い", "惑星", "コンピューター", "見る"]
    assert tokenizer.document_terms(SENTENCE) == words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    # punctuation and symbols end a run; the middle dot of a name does not
    assert tokenizer.document_terms("火星、金星。ジョン・ニーダム") == [
        "火星",
        "金星",
        "ジョン",
        "ニーダム",
        "ジョン ニーダム",
    ]
    # the parts of a compound MeCab cuts up are paired back together
    assert "共産 党" in tokenizer.document_terms("日本共産党")


def test_terms_are_normalised_first() -> None:
    assert Tokenizer(BASE).document_terms("ＭＡＲＳとｶﾀｶﾅ") == ["mars", "カタカナ", "mars カタカナ"]


def test_rare_kanji_unknown_to_the_dictionary_are_kept_but_emoji_are_not() -> None:
    terms = Tokenizer(TokenizerConfig(term_form=TermForm.BASE, word_pairs=False)).document_terms(
        "𠮷野家の🍣と𩸽を食べた😀"
    )
    assert terms == ["𠮷", "野家", "𩸽", "食べる"]
    assert Tokenizer(BASE).document_terms("𠮷野家の🍣と𩸽を食べた😀")[4:] == ["𠮷 野家", "𩸽 食べる"]  # 🍣 ends a run


def test_query_falls_back_to_unfiltered_terms() -> None:
    tokenizer = Tokenizer(BASE)
    assert tokenizer.query_terms("赤い惑星は?") == ["赤い", "惑星", "赤い 惑星"]
    assert tokenizer.query_terms("ですか?") == ["です", "か", "?"]  # words only: no pairs


@pytest.mark.parametrize("query", ["", "   ", "\n\u3000"])
def test_empty_query_is_an_error(query: str) -> None:
    with pytest.raises(EmptyQueryError):
        Tokenizer(BASE).query_terms(query)


def test_question_words_are_not_query_terms() -> None:
    tokenizer = Tokenizer(TokenizerConfig(term_form=TermForm.BASE, word_pairs=False))
    assert tokenizer.query_terms("日本共産党から除名された党員は誰か") == ["日本", "共産", "党", "除名", "する", "党員"]
    assert tokenizer.query_terms("マーラーは何と呼んでいたでしょう？") == ["マーラー", "呼ぶ", "いる"]
    assert tokenizer.query_terms("誰?") == ["誰", "?"]  # nothing else left: the unfiltered terms
    assert "誰" in tokenizer.document_terms("誰が来たのか")  # documents keep them
    keep = Tokenizer(TokenizerConfig(term_form=TermForm.BASE, drop_question_words=False, word_pairs=False))
    assert keep.query_terms("党員は誰か") == ["党員", "誰"]
    # a dropped question word joins its neighbours into a pair
    assert Tokenizer(BASE).query_terms("火星の何の衛星か") == ["火星", "衛星", "火星 衛星"]


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("夏休みはいつから?", ["夏休み"]),  # いつ's lemma is 何時
        ("会議室はどこ?", ["会議", "室", "会議 室"]),  # どこ: 何処
        ("住民票はいくらですか", ["住民", "票", "住民 票"]),  # いくら: 幾ら
        ("どちらの窓口へ行く?", ["窓口", "行く", "窓口 行く"]),  # どちら: 何方
        ("いつ頃届きますか", ["届く"]),  # いつ頃: 何時頃
    ],
)
def test_question_words_are_dropped_in_every_term_form(query: str, terms: list[str]) -> None:
    assert Tokenizer().query_terms(query) == terms  # the default: UniDic lemmas
    surface = Tokenizer(TokenizerConfig(term_form=TermForm.SURFACE)).query_terms(query)
    assert not QUESTION_WORDS & set(surface) and surface


def test_count_terms_in_worker_processes_equals_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import hybridsearch.tokenization as tokenization

    texts = [f"{i}番目の惑星は火星で、赤い惑星と呼ばれる。東京都庁に行った。" for i in range(12)]
    serial = tokenization.count_terms(texts, TokenizerConfig())
    monkeypatch.setattr(tokenization, "PARALLEL_MIN_TEXTS", 1)
    monkeypatch.setattr(tokenization, "TAG_BATCH", 3)
    monkeypatch.setattr(tokenization.os, "cpu_count", lambda: 2)
    done: list[int] = []
    assert tokenization.count_terms(texts, TokenizerConfig(), done.append) == serial
    assert done == [3, 3, 3, 3] and serial[0]["火星"] == 1


def test_term_spans_of_wanted_terms_equal_the_filtered_full_list() -> None:
    tokenizer = Tokenizer(BASE)
    text = normalize("東京に行きました。ＭＡＲＳへ行った。𩸽を食べる人たち、食べた?")
    every = tokenizer.term_spans(text)
    for wanted in ({"行く"}, {"東京", "mars"}, {"𩸽", "食べる"}, {"た"}, set()):
        assert tokenizer.term_spans(text, wanted) == [span for span in every if span[0] in wanted]
    assert [term for term, _, _ in every].count("食べる") == 2


def test_the_default_lemma_folds_spelling_variants() -> None:
    tokenizer = Tokenizer()
    assert tokenizer.config.term_form is TermForm.LEMMA
    for a, b in (
        ("問い合わせ", "問合せ"),
        ("か国", "カ国"),
        ("申し込み", "申込"),
        ("福澤諭吉", "福沢諭吉"),
        ("ご飯", "御飯"),
    ):
        assert tokenizer.document_terms(a)[-1] == tokenizer.document_terms(b)[-1], (a, b)
    assert Tokenizer(BASE).document_terms("問合せ") != Tokenizer(BASE).document_terms("問い合わせ")
