"""BM25-only nDCG@10 at document level (no chunking) for tokenizer settings, with and without title.

Round 1 of the ablations: words only (no word pairs), k1 1.5, b 0.75, the settings of that time.

.venv/bin/python bench/term_forms.py ../shared/bench/jsquad/dev
"""

from __future__ import annotations

import json
import sys

from hybridsearch.bm25 import BM25Index, top_k
from hybridsearch.chunking import model_input
from hybridsearch.config import BM25Config, TermForm, TokenizerConfig
from hybridsearch.evaluate import load_dataset, score_ranking
from hybridsearch.tokenization import Tokenizer

ROUND_1_BM25 = BM25Config(k1=1.5, b=0.75)
SETTINGS = [
    *[
        (TokenizerConfig(term_form=form, drop_question_words=False, word_pairs=False), title)
        for form in TermForm
        for title in (False, True)
    ],
    (TokenizerConfig(term_form=TermForm.BASE, drop_question_words=True, word_pairs=False), True),
]


def main(folder: str) -> None:
    dataset = load_dataset(folder)
    with open(dataset.corpus, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    ids = [record["_id"] for record in records]
    print("| term form | question words dropped | title | nDCG@10 |\n|---|---|---|---|")
    for config, with_title in SETTINGS:
        tokenizer = Tokenizer(config)
        bm25 = BM25Index.build(
            [tokenizer.document_terms(model_input(r["title"] if with_title else "", r["text"])) for r in records],
            ROUND_1_BM25,
        )
        total = 0.0
        for query_id, text in dataset.queries.items():
            ranked = top_k(bm25.scores(tokenizer.query_terms(text)), 10)
            total += score_ranking([ids[i] for i in ranked], dataset.qrels[query_id])["ndcg@10"]
        flags = (
            f"{config.term_form} | {'yes' if config.drop_question_words else 'no'} | {'yes' if with_title else 'no'}"
        )
        print(f"| {flags} | {total / len(dataset.queries):.4f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
