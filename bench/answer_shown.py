"""Answer shown rate: of the questions whose first hit is a relevant passage that contains an answer,
the share whose snippet (as the CLI and HTTP show it, default width) contains that answer.

    .venv/bin/python bench/answer_shown.py ../shared/bench/jsquad/dev [--index-root DIR] [--misses N]

Uses the index `hsearch eval` builds for the dataset under `--index-root` (built here when missing),
default search settings, and `answers.jsonl` beside the queries ({"_id": …, "answers": [...]}).
Answers and snippets are compared with whitespace removed (a snippet folds line breaks into spaces).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from hybridsearch import HybridIndex
from hybridsearch.config import IndexConfig, LoaderConfig
from hybridsearch.evaluate import eval_index_dir, load_dataset
from hybridsearch.snippets import snippet

_SPACE = re.compile(r"\s+")


def _bare(text: str) -> str:
    return _SPACE.sub("", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--index-root", default="indexes")
    parser.add_argument("--misses", type=int, default=0, help="print this many questions whose snippet missed")
    args = parser.parse_args()
    dataset = load_dataset(args.dataset)
    answers = {}
    with open(Path(args.dataset) / "answers.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            answers[record["_id"]] = [_bare(answer) for answer in record["answers"] if _bare(answer)]
    config = IndexConfig(loader=LoaderConfig(id_field="_id"))
    index_dir = eval_index_dir(dataset, config, args.index_root)
    if HybridIndex.stored_config(index_dir) is None:
        HybridIndex.build(dataset.corpus, index_dir, config=config).close()
    counted = shown = 0
    misses = []
    with HybridIndex.open(index_dir) as index:
        for query_id, question in dataset.queries.items():
            wanted = answers.get(query_id)
            hits = index.search(question, k=1) if wanted else []
            if not hits or hits[0].record not in dataset.qrels[query_id]:
                continue
            in_chunk = [answer for answer in wanted if answer in _bare(hits[0].text)]
            if not in_chunk:
                continue
            counted += 1
            line = _bare(snippet(hits[0]).text)
            if any(answer in line for answer in in_chunk):
                shown += 1
            elif len(misses) < args.misses:
                misses.append((question, in_chunk[0], snippet(hits[0]).text))
    print(f"{args.dataset}: answer shown in {shown} of {counted} snippets ({shown / max(counted, 1):.4f})")
    for question, answer, line in misses:
        print(f"  {question}  [{answer}]  {line}")


if __name__ == "__main__":
    main()
