"""Dense indexing throughput: hybridsearch's document encoder against plain sentence-transformers
(torch, fp32, batch 32) on the same chunks, side by side in one run.

    .venv/bin/python bench/encode_speed.py              # 320 dev passages, median of 3 alternating runs

Both sides encode title + text of passages sampled from `../shared/bench/{jsquad,jaquad}/dev` with
the embedded model and its `passage: ` prompt. Prints passages/s, the ratio, and the cosine between
the two sides' vectors.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import numpy as np

from hybridsearch.chunking import model_input
from hybridsearch.config import DenseConfig, Precision
from hybridsearch.encoders import EmbeddedEncoder, cpu_has_bf16
from hybridsearch.encoders.embedded_model import DOCUMENT_PROMPT, ensure_embedded_model
from hybridsearch.textnorm import normalize

DEV = [Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / n / "dev" for n in ("jsquad", "jaquad")]


def sample(count: int) -> list[str]:
    texts = []
    for folder in DEV:
        with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
            texts += [model_input(r.get("title", ""), r["text"]) for r in map(json.loads, handle)]
    return random.Random(0).sample(texts, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", choices=[p.value for p in Precision], default="auto")
    parser.add_argument("--batch-size", type=int, default=DenseConfig.batch_size)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    texts = [normalize(text) for text in sample(args.passages)]  # what the encoder is given, for both
    plain = SentenceTransformer(str(ensure_embedded_model()), device="cpu")
    ours = EmbeddedEncoder(DenseConfig(precision=args.precision))
    plain.encode(texts[:8], prompt=DOCUMENT_PROMPT)
    ours.encode_documents(texts[:8], args.batch_size)  # load and warm both
    plain_rates, our_rates = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        reference = plain.encode(texts, prompt=DOCUMENT_PROMPT, batch_size=32, normalize_embeddings=True)
        plain_rates.append(len(texts) / (time.perf_counter() - started))
        started = time.perf_counter()
        vectors = ours.encode_documents(texts, args.batch_size)
        our_rates.append(len(texts) / (time.perf_counter() - started))
    cosine = (np.asarray(reference) * vectors).sum(axis=1)
    ratio = statistics.median(our_rates) / statistics.median(plain_rates)
    print(f"| plain sentence-transformers, fp32, batch 32 | {statistics.median(plain_rates):.1f} passages/s |")
    label = f"hybridsearch, precision {args.precision} (CPU bf16: {cpu_has_bf16()}), batch {args.batch_size}"
    print(f"| {label} | {statistics.median(our_rates):.1f} passages/s ({ratio:.2f}×) |")
    print(f"| cosine between the two sides' vectors, mean / min | {cosine.mean():.5f} / {cosine.min():.5f} |")


if __name__ == "__main__":
    main()
