"""BM25-only nDCG@10 per term form, with and without the title, at document level (no chunking).

.venv/bin/python bench/term_forms.py ../shared/bench/jsquad/dev
"""

from __future__ import annotations

import json
import sys

from hybridsearch.bm25 import BM25Index, top_k
from hybridsearch.chunking import model_input
from hybridsearch.config import TermForm, TokenizerConfig
from hybridsearch.evaluate import load_dataset, score_ranking
from hybridsearch.tokenization import Tokenizer


def main(folder: str) -> None:
    dataset = load_dataset(folder)
    with open(dataset.corpus, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    ids = [record["_id"] for record in records]
    print("| term form | title | nDCG@10 |\n|---|---|---|")
    for form in TermForm:
        tokenizer = Tokenizer(TokenizerConfig(term_form=form))
        for with_title in (False, True):
            bm25 = BM25Index.build(
                [tokenizer.document_terms(model_input(r["title"] if with_title else "", r["text"])) for r in records]
            )
            total = 0.0
            for query_id, text in dataset.queries.items():
                ranked = top_k(bm25.scores(tokenizer.query_terms(text)), 10)
                total += score_ranking([ids[i] for i in ranked], dataset.qrels[query_id])["ndcg@10"]
            print(f"| {form} | {'yes' if with_title else 'no'} | {total / len(dataset.queries):.4f} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
