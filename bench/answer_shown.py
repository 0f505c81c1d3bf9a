"""Answer shown rate: of the questions whose first hit is a relevant passage that contains an answer,
the share whose snippet (as the CLI and HTTP show it, default width) contains that answer.

    .venv/bin/python bench/answer_shown.py ../shared/bench/jsquad/dev [--index-root DIR] [--misses N]

Uses the index `hsearch eval` builds for the dataset under `--index-root` (built here when missing),
default search settings, and `answers.jsonl` beside the queries ({"_id": …, "answers": [...]}).
Answers and snippets are compared with whitespace removed (a snippet folds line breaks into spaces).
`--widths 80,100,120` measures several snippet widths in one run; the last line is the share whose
answering sentence (what `answer_start`/`answer_end` hand a page or an LLM prompt) holds the answer.
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
    parser.add_argument("--widths", default="80", help="snippet widths to measure, e.g. 80,100,120")
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
    widths = [int(width) for width in args.widths.split(",")]
    counted = in_answer = 0
    shown = dict.fromkeys(widths, 0)
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
            hit = hits[0]
            sentence = _bare(hit.text[hit.answer_start - hit.start : hit.answer_end - hit.start])
            in_answer += any(answer in sentence for answer in in_chunk)
            for width in widths:
                line = _bare(snippet(hit, width).text)
                if any(answer in line for answer in in_chunk):
                    shown[width] += 1
                elif width == widths[0] and len(misses) < args.misses:
                    misses.append((question, in_chunk[0], snippet(hit, width).text))
    for width in widths:
        rate = shown[width] / max(counted, 1)
        print(
            f"{args.dataset}: answer shown in {shown[width]} of {counted} snippets of {width} characters ({rate:.4f})"
        )
    share = in_answer / max(counted, 1)
    print(f"{args.dataset}: answer in the answering sentence (answer_start:answer_end): {in_answer} ({share:.4f})")
    for question, answer, line in misses:
        print(f"  {question}  [{answer}]  {line}")


if __name__ == "__main__":
    main()
