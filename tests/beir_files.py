"""A tiny BEIR-layout dataset (corpus.jsonl, queries.jsonl, qrels/test.tsv) for the evaluation tests."""

import json
from pathlib import Path


def write_beir(root: Path) -> Path:
    """Three passages, two judged questions and one without a judgement, under `root`."""
    corpus = [
        {"_id": "d1", "title": "火星", "text": "火星は赤い惑星と呼ばれる。"},
        {"_id": "d2", "title": "金星", "text": "金星は明けの明星と呼ばれる。"},
        {"_id": "d3", "title": "味噌汁", "text": "味噌汁はだしを取って味噌を溶く。"},
    ]
    queries = [{"_id": "q1", "text": "赤い惑星"}, {"_id": "q2", "text": "明けの明星"}, {"_id": "q9", "text": "無判定"}]
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in corpus))
    (root / "queries.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in queries))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return root
