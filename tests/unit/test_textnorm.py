from hypothesis import given
from hypothesis import strategies as st

from hybridsearch.textnorm import normalize, normalize_with_offsets


def test_width_and_case_folding() -> None:
    assert normalize("ＡＢＣ１２３ｶﾀｶﾅ") == "abc123カタカナ"
    assert normalize("MARS") == "mars"


def test_half_width_voiced_kana_compose() -> None:
    assert normalize("ｶﾞｷﾞ") == "ガギ"
    assert normalize("か\u3099") == "が"


def test_standalone_sound_marks_and_wave_dash_survive() -> None:
    assert normalize("゛゜") == "゛゜"  # NFKC alone would give " \u3099 \u309a"
    assert normalize("10〜20") == "10〜20"


def test_offsets_point_back_to_source() -> None:
    source = "㍿ＡＢｶﾞ!"
    normalized = normalize_with_offsets(source)
    assert normalized.text == "株式会社abガ!"
    assert normalized.source_span(0, 4) == (0, 1)  # 株式会社 came from ㍿
    assert normalized.source_span(6, 7) == (3, 5)  # ガ came from ｶﾞ
    assert source[slice(*normalized.source_span(4, 6))] == "ＡＢ"


@given(st.text())
def test_offsets_are_monotone_and_cover_the_source(text: str) -> None:
    normalized = normalize_with_offsets(text)
    assert normalized.text == normalize(text)
    assert len(normalized.starts) == len(normalized.ends) == len(normalized.text)
    assert all(s < e for s, e in zip(normalized.starts, normalized.ends))
    assert normalized.starts == sorted(normalized.starts)
    if normalized.text:
        assert normalized.source_span(0, len(normalized.text))[1] == len(text)
