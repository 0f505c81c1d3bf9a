"""The Qdrant backend against the local one: retrieval quality on jsquad, and speed at 10k chunks.

    .venv/bin/python bench/qdrant_backend.py quality [--queries 500]
    .venv/bin/python bench/qdrant_backend.py speed [--chunks 10000] [--queries 200]

`quality` indexes the jsquad dev corpus with the embedded model into a local folder and into
`qdrant+local://` and scores the same dev queries on both (nDCG@10 at alpha 0, the default and 1).
`speed` indexes `--chunks` records (the jsquad and jaquad dev passages, then again with their
sentences reversed; about one chunk each) with the tests' instant bigram encoder, so the times
are the backends' own (tokenizing included, encoding nearly free), then times `--queries` dev
questions on each (p50 / p95 of a warm `HybridIndex.search`).
Both run qdrant-client's local mode: in-process, every filter and search a Python scan of the
points, so its latency says nothing about a server's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import FakeEncoder  # noqa: E402
from scale import passages, queries  # noqa: E402

from hybridsearch import HybridIndex, IndexConfig  # noqa: E402
from hybridsearch.chunking import split_sentences  # noqa: E402
from hybridsearch.config import LoaderConfig  # noqa: E402
from hybridsearch.evaluate import evaluate, load_dataset  # noqa: E402

JSQUAD = Path(__file__).resolve().parents[2] / "shared" / "bench" / "jsquad" / "dev"


def quality(count: int) -> None:
    dataset = load_dataset(JSQUAD)
    kept = list(dataset.queries)[:count]
    subset = replace(dataset, queries={q: dataset.queries[q] for q in kept}, qrels={q: dataset.qrels[q] for q in kept})
    config = IndexConfig()
    with tempfile.TemporaryDirectory() as folder:
        for location in (f"{folder}/local", f"qdrant+local://{folder}/qdrant/jsquad"):
            started = time.perf_counter()
            with HybridIndex.build([dataset.corpus], location, config=config) as index:
                built = time.perf_counter() - started
                started = time.perf_counter()
                result = evaluate(index, subset, [0.0, index.config.alpha, 1.0])
                searched = time.perf_counter() - started
                if "://" in location:
                    sizes(index)
            scores = {alpha: round(metrics["ndcg@10"], 4) for alpha, metrics in result.results.items()}
            print(f"{location.split('://')[0] if '://' in location else 'local'}: nDCG@10 {scores} "
                  f"({len(kept)} queries; built in {built:.0f} s, evaluated in {searched:.0f} s)")  # fmt: skip


def sizes(index: HybridIndex) -> None:
    """Bytes per chunk point as stored: `dense` at float32, `sentences` at float16 (the collection's
    datatypes on a server), `bm25` as 4-byte indexes and values, and the payload as JSON."""
    from qdrant_client import models

    with index.searcher() as searcher:
        backend = searcher.backend
        kind = models.FieldCondition(key="kind", match=models.MatchValue(value="chunk"))
        records, _ = backend.client.scroll(  # type: ignore[attr-defined]
            backend.target.collection, scroll_filter=models.Filter(must=[kind]), limit=1000,  # type: ignore[attr-defined]
            with_payload=True, with_vectors=True,
        )  # fmt: skip
    count = len(records)
    found = {
        "dense": sum(len(r.vector["dense"]) * 4 for r in records) / count,
        "sentences": sum(len(r.vector.get("sentences", [])) * index.model.dim * 2 for r in records) / count,
        "bm25 (index + value)": sum(len(r.vector["bm25"].indices) * 8 for r in records) / count,
        "payload (JSON)": sum(len(json.dumps(r.payload, ensure_ascii=False).encode()) for r in records) / count,
    }
    text = sum(len(r.payload["text"]) for r in records) / count
    print(f"bytes per chunk over {count} points ({text:.0f} characters each): "
          + ", ".join(f"{name} {size:,.0f}" for name, size in found.items()))  # fmt: skip


def records(count: int, folder: Path) -> Path:
    """A JSONL file of `count` records: the dev passages, and after them the passages again with their
    sentences in reverse order (other chunks, the same words)."""
    sources = passages()
    path = folder / "records.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            title, text = sources[i % len(sources)]
            if i >= len(sources):
                text = "".join(reversed([text[a:b] for a, b in split_sentences(text)]))
            handle.write(json.dumps({"id": f"r{i}", "title": title, "text": text}, ensure_ascii=False) + "\n")
    return path


def speed(chunks: int, count: int) -> None:
    asked = queries(count)
    config = IndexConfig(loader=LoaderConfig(max_file_mb=4096))
    with tempfile.TemporaryDirectory() as folder:
        corpus = records(chunks, Path(folder))
        for location in (f"{folder}/local", f"qdrant+local://{folder}/qdrant/speed"):
            started = time.perf_counter()
            with HybridIndex.build([corpus], location, encoder=FakeEncoder(), config=config) as index:
                built = time.perf_counter() - started
                held = index.info()["counts"]["chunks"]
                name = location.split("://")[0] if "://" in location else "local"
                print(f"{name}: {held:,} chunks indexed in {built:.1f} s ({held / built:,.0f} chunks/s)", flush=True)
                for query in asked[:5]:
                    index.search(query, k=10)  # warm
                times = []
                for query in asked:
                    started = time.perf_counter()
                    index.search(query, k=10)
                    times.append(time.perf_counter() - started)
            p50, p95 = statistics.median(times) * 1000, sorted(times)[int(0.95 * (len(times) - 1))] * 1000
            print(f"{name}: search p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(times)} queries", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["quality", "speed"])
    parser.add_argument("--queries", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=10_000)
    args = parser.parse_args()
    if args.what == "quality":
        quality(args.queries or 500)
    else:
        speed(args.chunks, args.queries or 200)


if __name__ == "__main__":
    main()
