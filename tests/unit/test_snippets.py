from pathlib import Path

from conftest import FAKE_MODEL

from hybridsearch import HybridIndex
from hybridsearch.snippets import snippet

RULES = (
    "第1条 この規程は、社員がする手続きを定める。"
    "第2条 申請は所定の様式でする。"
    "第3条 年次有給休暇は入社6か月後に10日付与する。"
    "第4条 社員が結婚したときは、慶弔休暇を5日取得できる。"
    "第5条 この規程は2024年4月1日から施行する。"
)


def test_the_snippet_shows_the_sentence_the_question_is_about(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rules.txt").write_text(RULES, encoding="utf-8")
    with HybridIndex.build(tmp_path / "docs", tmp_path / "idx", model=FAKE_MODEL) as index:
        hit = index.search("結婚したら休暇は何日", k=1, alpha=0)[0]
        shown = snippet(hit)
    # する matches first (第1条), but the sentence that holds 結婚 and 休暇 is the one shown, whole
    assert "社員が結婚したときは、慶弔休暇を5日取得できる。" in shown.text
    marked = [shown.text[start:end] for start, end in shown.marks]
    assert "結婚" in marked and "休暇" in marked
    assert not {"し", "する", "日"} & set(marked)  # light words are not marked
    assert "結婚" in hit.matched_terms and "休暇" in hit.matched_terms  # nor listed as matched terms
    assert not {"為る", "日"} & {word for term in hit.matched_terms for word in term.split()}


def test_a_snippet_without_matched_words_starts_at_the_beginning(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rules.txt").write_text(RULES, encoding="utf-8")
    with HybridIndex.build(tmp_path / "docs", tmp_path / "idx", model=FAKE_MODEL) as index:
        hit = index.search("まったく関係のない質問", k=1, alpha=1)[0]
        assert snippet(hit).text.startswith("第1条 この規程は")
