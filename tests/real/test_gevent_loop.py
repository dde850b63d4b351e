"""The gunicorn workers run the gevent loop that ``GEVENT_LOOP`` names (libev by default;
CI runs the streaming real tier a second time with ``GEVENT_LOOP=libuv``, see .ci/run), and
streams behave on both: the engine relies on nothing one loop has and the other lacks."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.real


def expected_loop(env: str | None) -> str:
    return "gevent.libuv" if env and "libuv" in env else "gevent.libev"


def test_the_worker_runs_the_loop_that_GEVENT_LOOP_names(server: Any) -> None:
    loop = requests.get(server.url("/_test/loop"), timeout=5).json()["loop"]
    assert loop.startswith(expected_loop(os.environ.get("GEVENT_LOOP"))), loop


@pytest.mark.parametrize("name", ["libev-cext", "libuv"])
def test_a_text_stream_is_incremental_and_complete_on_each_loop(
    make_server: Any, name: str
) -> None:
    # Text over HTTP/1.1 chunked runs the inline path, whose "did the producer block" check
    # once read libev's loop.iteration (always -1 on libuv).
    srv = make_server({"GEVENT_LOOP": name})
    loop = requests.get(srv.url("/_test/loop"), timeout=5).json()["loop"]
    assert loop.startswith(expected_loop(name)), loop
    url = srv.url("/_test/stream?format=text&count=4&interval=0.3&tag=loop-" + name)
    started = time.monotonic()
    with requests.get(url, stream=True, timeout=10) as resp:
        assert resp.status_code == 200
        chunks = resp.iter_content(chunk_size=None)
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = b"".join(chunks)
    total = time.monotonic() - started
    assert first == b"item 1\n"
    assert rest == b"item 2\nitem 3\nitem 4\n"
    assert first_at < total - 0.5, (first_at, total)  # the first record did not wait
