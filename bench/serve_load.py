"""`hsearch serve` under load on loopback while `hsearch index` re-indexes the folder three times:
queries/s, latency percentiles, errors and the generations answers came from, against one process
calling `search` in a loop.

    .venv/bin/python bench/serve_load.py [--seconds 60]      # about 12 minutes on two cores

The folder is the jsquad dev passages as Markdown files plus ten marker files (bench/threads.py's, in
a temporary folder), indexed with the embedded model. First the loop: one process, one thread,
`HybridIndex.search` for `--seconds` with alpha 0 / 0.6 / 1 in turn, then for `--seconds` at 0.6 only.
Then the server (a subprocess on 127.0.0.1) and 1, 4 and 16 clients (threads, each with its own
keep-alive connection) for `--seconds` each with the same mix; halfway through each of those phases
the markers are rewritten and `hsearch index` run on the folder. Every tenth request asks for the
markers (alpha 0): its ten hits must carry one version, or the list mixed two generations. Last,
16 clients at alpha 0.6 only, without re-indexing, to compare with the loop at 0.6. It stops by itself:
every phase has a deadline, every request a 30 s timeout, the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from threads import MARKER_QUERY, MARKERS, make_folder, write_markers

from hybridsearch import HybridIndex, SearchRequest

MIX = (0.0, 0.6, 1.0)
HSEARCH = shutil.which("hsearch", path=str(Path(sys.executable).parent)) or "hsearch"


class Tally:
    """What one phase saw, from any number of threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.mixed = 0
        self.answers: list[tuple[float, str]] = []  # (wall-clock time answered, generation)

    def add(self, started: float, generation: str, hits: list[dict] | None) -> None:
        ended, answered = time.perf_counter(), time.time()
        mixed = False
        if hits is not None:
            versions = {m.group(1) for h in hits if (m := re.search(r"更新番号(\d+)の", h["text"]))}
            mixed = len(versions) != 1 or sum("更新番号" in h["text"] for h in hits) != MARKERS
        with self.lock:
            self.latencies.append((ended - started) * 1000)
            self.answers.append((answered, generation))
            self.mixed += mixed

    def fail(self, error: str) -> None:
        with self.lock:
            self.errors.append(error)

    def row(self, name: str, clients: int, seconds: float) -> dict[str, object]:
        ordered = sorted(self.latencies)

        def percentile(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

        return {
            "phase": name, "clients": clients, "requests": len(ordered) + len(self.errors),
            "qps": len(ordered) / seconds, "p50_ms": statistics.median(ordered), "p95_ms": percentile(0.95),
            "p99_ms": percentile(0.99), "errors": len(self.errors), "mixed_lists": self.mixed,
            "generations": sorted({generation for _, generation in self.answers}), "error_samples": self.errors[:3],
        }  # fmt: skip


def request_plan(questions: list[str], offset: int, alphas: tuple[float, ...]) -> Callable[[int], tuple]:
    """The i-th request of a client: (text, alpha, is_marker)."""

    def plan(i: int) -> tuple[str, float, bool]:
        if len(alphas) > 1 and i % 10 == 9:
            return MARKER_QUERY, 0.0, True
        return questions[(offset * 7919 + i) % len(questions)], alphas[i % len(alphas)], False

    return plan


def loop(index: HybridIndex, questions: list[str], alphas: tuple[float, ...], seconds: float) -> dict[str, object]:
    """One thread calling `search` for `seconds`."""
    tally, plan, i = Tally(), request_plan(questions, 0, alphas), 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        text, alpha, marker = plan(i)
        started = time.perf_counter()
        with index.searcher() as searcher:
            hits = searcher.respond(SearchRequest(query=text, k=10, alpha=alpha)).hits
            generation = searcher.backend.version
        tally.add(started, generation, [{"text": h.text} for h in hits] if marker else None)
        i += 1
    return tally.row("loop, one process", 1, seconds)


def client(port: int, plan: Callable[[int], tuple], deadline: float, tally: Tally) -> None:
    connection, i = http.client.HTTPConnection("127.0.0.1", port, timeout=30), 0
    while time.perf_counter() < deadline:
        text, alpha, marker = plan(i)
        i += 1
        query = urllib.parse.urlencode({"q": text, "k": 10, "alpha": alpha})
        started = time.perf_counter()
        try:
            connection.request("GET", f"/search?{query}")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                tally.fail(f"HTTP {response.status}: {body[:200]!r}")
                continue
            answer = json.loads(body)
            tally.add(started, answer["generation"], answer["hits"] if marker else None)
        except (OSError, http.client.HTTPException, ValueError) as error:
            tally.fail(f"{type(error).__name__}: {error}")
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.close()


def reindex(docs: Path, index_dir: Path, version: int) -> tuple[float, str, float]:
    """Rewrite the markers and run `hsearch index`; (when it replaced CURRENT, the generation it wrote,
    the command's seconds)."""
    write_markers(docs, version)
    started = time.perf_counter()
    subprocess.run([HSEARCH, "index", str(docs), "--index", str(index_dir), "-q"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    current = index_dir / "CURRENT"
    return current.stat().st_mtime, current.read_text().split()[0], time.perf_counter() - started


def served(
    port: int, questions: list[str], clients: int, alphas: tuple[float, ...], seconds: float,
    during: Callable[[], tuple[float, str, float]] | None,
) -> dict[str, object]:  # fmt: skip
    """`clients` threads against the server for `seconds`; `during` runs once, halfway."""
    tally = Tally()
    deadline = time.perf_counter() + seconds
    threads = [threading.Thread(target=client, args=(port, request_plan(questions, n, alphas), deadline, tally))
               for n in range(clients)]  # fmt: skip
    for thread in threads:
        thread.start()
    row: dict[str, object] = {}
    if during is not None:
        time.sleep(seconds / 2)
        published, generation, took = during()
        row = {"reindexed_to": generation, "reindex_s": took}
    for thread in threads:
        thread.join()
    name = "served, mixed α + re-index" if during else "served"
    row = tally.row(name, clients, seconds) | row
    if during is not None:
        seen = [at for at, answered in tally.answers if answered == row["reindexed_to"]]
        row["lag_s"] = min(seen) - published if seen else None  # CURRENT replaced → first answer from it
    return row


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int, server: subprocess.Popen, log: Path) -> None:
    for _ in range(600):
        if server.poll() is not None:
            sys.exit(f"the server stopped: {log.read_text()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not answer /health within two minutes")


def table(rows: list[dict[str, object]]) -> None:
    print("| phase | clients | α | requests | queries/s | p50 / p95 / p99 ms | errors | lists from two generations "
          "| generations answered from | new generation answered after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        lag = row.get("lag_s")
        print(
            f"| {row['phase']} | {row['clients']} | {row['alphas']} | {row['requests']:,} | {row['qps']:.1f} "
            f"| {row['p50_ms']:.1f} / {row['p95_ms']:.1f} / {row['p99_ms']:.1f} | {row['errors']} "
            f"| {row['mixed_lists']} | {len(row['generations'])} "  # type: ignore[arg-type]
            f"| {'—' if lag is None else f'{lag:.2f} s'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        docs, index_dir, log = Path(tmp) / "docs", Path(tmp) / "idx", Path(tmp) / "server.log"
        questions = make_folder(docs)
        print(f"indexing {len(list(docs.iterdir()))} files …", file=sys.stderr)
        with HybridIndex.build(docs, index_dir) as index:
            index.search("準備", k=10)  # the model is loaded outside the phases, as the server's is
            for alphas in (MIX, (0.6,)):
                rows.append(loop(index, questions, alphas, args.seconds) | {"alphas": "/".join(map(str, alphas))})
                print(json.dumps(rows[-1]), file=sys.stderr)

        port = free_port()
        with open(log, "w") as output:
            server = subprocess.Popen([HSEARCH, "serve", "--index", str(index_dir), "--port", str(port)],
                                      stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_healthy(port, server, log)
            served(port, questions, 2, MIX, 5.0, None)  # warm-up: the server's model, tagger, caches
            versions = iter(range(1, 4))
            for clients in (1, 4, 16):
                row = served(port, questions, clients, MIX, args.seconds,
                             lambda: reindex(docs, index_dir, next(versions)))  # fmt: skip
                rows.append(row | {"alphas": "0/0.6/1"})
                print(json.dumps(rows[-1]), file=sys.stderr)
            rows.append(served(port, questions, 16, (0.6,), args.seconds, None) | {"alphas": "0.6"})
            print(json.dumps(rows[-1]), file=sys.stderr)
        finally:
            server.terminate()
            server.wait(30)
        if any(row["errors"] for row in rows):
            print(log.read_text()[-3000:], file=sys.stderr)
    table(rows)
    hybrid_loop, hybrid_served = rows[1]["qps"], rows[-1]["qps"]
    print(f"\n16 clients at α 0.6 / one process's loop at α 0.6: {hybrid_served / hybrid_loop:.2f}")  # type: ignore[operator]


if __name__ == "__main__":
    main()
