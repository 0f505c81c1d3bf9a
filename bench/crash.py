"""Crash test: SIGKILL `hsearch index` at random moments, then check the index survived.

    .venv/bin/python bench/crash.py --trials 50

Each trial changes the folder (rewrites, deletes and adds files; every fifth trial rebuilds from
scratch), starts `hsearch index`, kills it with SIGKILL after a random delay (0 to 1.2 × the time of
an uninterrupted run), then requires `hsearch info --check` (checksums; docstore, BM25 and FAISS
agree) and a query to succeed. The next trial's writer must not be blocked by the killed one's lock.
Works on a copy of corpora/ in a temporary folder. Exit status 1 if any trial failed.
"""

from __future__ import annotations

import argparse
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hsearch", default=str(Path(sys.executable).with_name("hsearch")), help="command to run")
    parser.add_argument("--model", default=None, help="--model for the first build")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    hsearch = shlex.split(args.hsearch)

    with tempfile.TemporaryDirectory() as tmp:
        docs, index_dir = Path(tmp) / "docs", Path(tmp) / "index"
        shutil.copytree(ROOT / "corpora", docs)
        sentences = [
            s + "。" for f in docs.rglob("*.txt") for s in f.read_text(errors="ignore").split("。") if s.strip()
        ]
        first = [*hsearch, "index", str(docs), "--index", str(index_dir), "-q"]
        started = time.perf_counter()
        subprocess.run([*first, *(["--model", args.model] if args.model else [])], check=True, capture_output=True)
        full_run = time.perf_counter() - started

        killed = survived = 0
        failures: list[str] = []
        for trial in range(args.trials):
            _mutate(docs, sentences, rng, trial)
            command = [*hsearch, "index", str(docs), "--index", str(index_dir), "-q"]
            if trial % 5 == 4:
                command.append("--rebuild")
            writer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0, 1.2 * full_run))
            if writer.poll() is None:
                writer.send_signal(signal.SIGKILL)
                killed += 1
            writer.wait()
            problem = _check(hsearch, index_dir)
            if problem:
                failures.append(f"trial {trial}: {problem}")
            else:
                survived += 1
    print(f"{survived}/{args.trials} trials survived ({killed} killed mid-run; uninterrupted run {full_run:.1f} s)")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


def _mutate(docs: Path, sentences: list[str], rng: random.Random, trial: int) -> None:
    files = sorted(p for p in docs.rglob("*") if p.suffix in (".txt", ".md"))
    for path in rng.sample(files, k=min(2, len(files))):
        path.write_text("".join(rng.sample(sentences, k=3)), encoding="utf-8")
    if len(files) > 10 and rng.random() < 0.5:
        rng.choice(files).unlink()
    (docs / f"added-{trial}.txt").write_text("".join(rng.sample(sentences, k=4)), encoding="utf-8")


def _check(hsearch: list[str], index_dir: Path) -> str:
    for args in (["info", "--check"], ["query", "火星", "-k", "3"]):
        result = subprocess.run([*hsearch, *args, "--index", str(index_dir)], capture_output=True, text=True)
        if result.returncode != 0:
            return f"hsearch {' '.join(args)} failed: {result.stderr.strip()}"
    return ""


if __name__ == "__main__":
    sys.exit(main())
