"""A real hybridsearch server on loopback for the tests: the app `hsearch serve` runs, under uvicorn,
in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any


@contextmanager
def running(
    locations: Mapping[str, str],
    token: str | None = None,
    cors: Sequence[str] = (),
    reranker: Any = None,
    allowed_hosts: Sequence[str] = (),
    address: str = "127.0.0.1",
    caller: Any = None,
    **limits: Any,
) -> Iterator[str]:
    """Serve `locations` ({name: index folder}) on `address`, its callers identified by `caller` (a
    `guards.Caller`); yields the base URL, stops the server after."""
    from hybridsearch.server.http import Limits, create_app
    from hybridsearch.server.indexes import ServedIndexes
    from hybridsearch.server.mcp import build_server

    indexes = ServedIndexes(dict(locations), every=0.2, reranker=reranker)
    try:
        app = create_app(indexes, token, cors, Limits(**limits), build_server(indexes), allowed_hosts, caller)
        with serving(app, address) as url:
            yield url
    finally:
        indexes.close()


@contextmanager
def serving(app: Any, address: str = "127.0.0.1") -> Iterator[str]:
    """Run the ASGI `app` under uvicorn (as `hsearch serve` does) on a free port of `address`; yields its base URL."""
    import uvicorn

    from hybridsearch.server.http import lenient_http

    listener = socket.socket()
    listener.bind((address, 0))
    config = uvicorn.Config(app, log_level="warning", http=lenient_http(), lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            listener.close()
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://{address}:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        listener.close()


def wait_for_new_generation(url: str, name: str, old: str, seconds: float = 10) -> None:
    """Wait until the server at `url` answers from a generation of index `name` other than `old`."""
    import httpx

    deadline = time.monotonic() + seconds
    while httpx.get(f"{url}/health").json()["indexes"][name] == old:
        assert time.monotonic() < deadline, "the server kept the old generation"
        time.sleep(0.1)
