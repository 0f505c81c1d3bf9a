"""`hsearch` with the fake encoder, for tests that run the CLI in a subprocess (the crash test).

    python tests/fake_hsearch.py index DOCS --index IDX --model fake:bigrams

HSEARCH_FAKE_DELAY (seconds per chunk encoded) widens the window in which a kill lands mid-build;
HSEARCH_FAKE_FILL_BATCH=N makes every write of a chunk or more progressive, filled N chunks a commit (runs of N).
"""

import os
import sys
import time
from collections.abc import Sequence

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [TESTS, os.path.dirname(TESTS)]  # the hybridsearch beside these tests, whatever the environment

import numpy as np  # noqa: E402
from conftest import FakeEncoder  # noqa: E402

from hybridsearch import embedding, filling, register_encoder, writer  # noqa: E402
from hybridsearch.cli import cli  # noqa: E402

DELAY = float(os.environ.get("HSEARCH_FAKE_DELAY", "0"))
if os.environ.get("HSEARCH_FAKE_FILL_BATCH"):
    writer.PROGRESSIVE_FROM = 1
    embedding.ENCODE_RUN = int(os.environ["HSEARCH_FAKE_FILL_BATCH"])
    filling.COMMIT_SHARE = float("inf")  # batches keep their size


class SlowFakeEncoder(FakeEncoder):
    def encode_documents(self, texts: Sequence[str], batch_size: int = 32, progress=None) -> np.ndarray:  # type: ignore[no-untyped-def]
        time.sleep(DELAY * len(texts))
        return super().encode_documents(texts, batch_size, progress)


register_encoder("fake", lambda config, device, known: SlowFakeEncoder(name=config.model))
cli()
