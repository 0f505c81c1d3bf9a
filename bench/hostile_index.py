"""Hostile indexes: every mutation of tests/hostile_index.py on every file of a generation, then open,
search and `--check`, each case in a process of its own (a crash shows as a signal).

    .venv/bin/python bench/hostile_index.py            # about 10 minutes on two cores
    .venv/bin/python bench/hostile_index.py --cycles 1000   # memory over open/search/close cycles

Counted per file: cases, searches that answered, one-line errors, what `--check` caught, crashes,
tracebacks, and silently different results (a search that answers differently from the intact
index while `--check` passes). The indexes: corpora/ with the tests' fake encoder (the damage is to
files, not to a model), flat vectors, and HNSW and HNSW-over-8-bit copies for vectors.faiss. Two
planted cases (a manifest pointing the model at an endpoint on loopback with a secret's variable; a
custom-code model folder inside the generation) count requests received and code executed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))

from hostile_index import MARKER, MUTATIONS, generation, mutate, plant_remote_code, point_at_endpoint  # noqa: E402

QUERY = "赤い惑星は?"
CASE = """
import json, sys
sys.path.insert(0, {tests!r})
import conftest  # the fake:… encoder
from click.testing import CliRunner
from hybridsearch.cli import cli
runner, out = CliRunner(), {{}}
for name, args in (("query", ["query", {query!r}, "--json", "-k", "5"]), ("bm25", ["query", {query!r}, "--json",
                   "-k", "5", "--alpha", "0"]), ("check", ["info", "--check"])):
    result = runner.invoke(cli, [*args, "--index", sys.argv[1]], env={{"SECRET_TOKEN": "s3cr3t"}})
    error = result.exception if result.exception and not isinstance(result.exception, SystemExit) else None
    out[name] = {{"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                  "traceback": repr(error) if error else None}}
print(json.dumps(out))
"""


class Listener(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.requests.append(self.headers.get("Authorization", ""))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def build(folder: Path, vectors: str) -> Path:
    index = folder / f"index-{vectors}"
    command = [sys.executable, str(TESTS / "fake_hsearch.py"), "index", str(ROOT / "corpora"), "--index", str(index),
               "--model", "fake:bigrams", "--vectors", vectors, "-q"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return index


def hits(stdout: str) -> list[tuple[str, float]]:
    return [(hit["id"], round(hit["score"], 6)) for hit in json.loads(stdout)["hits"]]


def run_case(index: Path) -> dict[str, Any]:
    code = CASE.format(tests=str(TESTS), query=QUERY)
    result = subprocess.run([sys.executable, "-c", code, str(index)], capture_output=True, text=True, timeout=300)
    if result.returncode < 0 or not result.stdout.strip():
        return {"crash": result.returncode, "stderr": result.stderr[-500:]}
    return json.loads(result.stdout.splitlines()[-1])


def classify(case: dict[str, Any], intact: dict[str, list[tuple[str, float]]]) -> Counter[str]:
    found: Counter[str] = Counter(cases=1)
    if "crash" in case:
        found["crashes"] += 1
        return found
    check_passed = case["check"]["code"] == 0
    found["check caught"] += not check_passed
    for side in ("query", "bm25"):
        outcome = case[side]
        if outcome["traceback"] or "Traceback" in outcome["stderr"]:
            found["tracebacks"] += 1
        elif outcome["code"] == 0:
            found["answered"] += 1
            if hits(outcome["stdout"]) != intact[side] and check_passed:
                found["silently different"] += 1
        elif outcome["stderr"].startswith("Error: ") and outcome["stderr"].count("\n") == 1:
            found["one-line errors"] += 1
        else:
            found["other failures"] += 1
    found["tracebacks"] += bool(case["check"]["traceback"])
    return found


def mutations(folder: Path) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = {}
    pristine = {kind: build(folder, kind) for kind in ("flat", "hnsw", "hnsw-sq8")}
    for kind, index in pristine.items():
        intact_case = run_case(index)
        intact = {side: hits(intact_case[side]["stdout"]) for side in ("query", "bm25")}
        live = generation(index)
        files = ["../CURRENT", *sorted(p.relative_to(live).as_posix() for p in live.rglob("*") if p.is_file())]
        if kind != "flat":
            files = ["vectors.faiss"]
        for name in files:
            label = name.removeprefix("../") + (f" ({kind})" if kind != "flat" else "")
            row = table.setdefault(label, Counter())
            for number, mutation in enumerate(MUTATIONS):
                work = folder / "case"
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(index, work, symlinks=True)
                target = generation(work) / name if name != "../CURRENT" else work / "CURRENT"
                before = target.read_bytes()
                mutate(target, mutation, seed=number)
                row["no change"] += target.read_bytes() == before  # e.g. two equal bytes swapped
                row.update(classify(run_case(work), intact))
            print(f"{name} ({kind}): {dict(row)}", file=sys.stderr)
    return table


def planted(folder: Path) -> dict[str, int]:
    """Requests received by a planted endpoint and runs of planted code, over query, BM25 query and check."""
    import tiny_models

    server = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = build(folder / "planted-endpoint", "flat")
    point_at_endpoint(endpoint, f"http://127.0.0.1:{server.server_address[1]}/v1", "SECRET_TOKEN")
    endpoint_case = run_case(endpoint)
    code = build(folder / "planted-code", "flat")
    model = tiny_models.build_custom_code(folder / "model", "火星は赤い惑星と呼ばれる。金星、地球、木星。")
    marker = plant_remote_code(code, model)
    code_case = run_case(code)
    server.shutdown()
    server.server_close()
    caught = sum(case["check"]["code"] != 0 for case in (endpoint_case, code_case))
    return {"requests received": len(Listener.requests), "code executed": int(marker.exists()), "check caught": caught}


def cycles(count: int) -> list[tuple[int, float, int]]:
    """(cycles done, resident MB, mappings) over open/search/close cycles on the quickstart index (the real model)."""
    from hybridsearch import HybridIndex

    index_dir = ROOT / "indexes" / "quickstart"
    if not (index_dir / "CURRENT").exists():
        subprocess.run([str(Path(sys.executable).with_name("hsearch")), "index", str(ROOT / "corpora"), "--index",
                        str(index_dir), "-q"], check=True)  # fmt: skip

    def resident() -> tuple[float, int]:
        status = Path("/proc/self/status").read_text().splitlines()
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
        return rss, len(Path("/proc/self/maps").read_text().splitlines())

    found = []
    for done in range(count + 1):
        if done in (0, 10, 100, 250, 500, 750, 1000) or done == count:
            found.append((done, *resident()))
        if done < count:
            with HybridIndex.open(index_dir) as index:
                index.search(QUERY, k=5)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, help="measure memory over this many open/search/close cycles instead")
    args = parser.parse_args()
    if args.cycles:
        print("| cycles | resident MB | mappings |\n|---|---|---|")
        for done, rss, maps in cycles(args.cycles):
            print(f"| {done} | {rss:.0f} | {maps} |")
        return
    with tempfile.TemporaryDirectory() as tmp:
        table = mutations(Path(tmp))
        extra = planted(Path(tmp))
    columns = ["cases", "no change", "answered", "one-line errors", "check caught", "crashes", "tracebacks",
               "silently different", "other failures"]  # fmt: skip
    print("| file | " + " | ".join(columns) + " |\n|" + "---|" * (len(columns) + 1))
    total: Counter[str] = Counter()
    for name, row in table.items():
        total.update(row)
        print(f"| {name} | " + " | ".join(str(row[c]) for c in columns) + " |")
    print("| **all** | " + " | ".join(f"**{total[c]}**" for c in columns) + " |")
    print(f"\nplanted endpoint and planted code: {extra} (MARKER file: {MARKER})")


if __name__ == "__main__":
    main()
