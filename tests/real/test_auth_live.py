"""Real tier of tests/unit/test_security_auth.py: the same subject through gunicorn on loopback
(and redis-server where it says so)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from ..conftest import Server
from ..unit.test_security_auth import KEYS, bearer


@pytest.mark.real
@pytest.mark.timeout(60)
def test_per_key_limit_through_gunicorn(make_server: Any) -> None:
    server: Server = make_server({"STREAMER_API_KEYS": KEYS, "STREAMER_MAX_STREAMS_PER_KEY": "3"})
    url = server.url("/_test/stream?count=1000&interval=0.1")
    key = bearer("alpha-key-0001")
    streams = [requests.get(url, headers=key, stream=True, timeout=10) for _ in range(3)]
    assert all(s.status_code == 200 for s in streams)
    over = requests.get(url, headers=key, timeout=10)
    assert over.status_code == 429 and over.headers["Retry-After"] == "1"
    assert over.json()["error"]["type"] == "too_many_streams_for_key"
    streams.pop().close()  # the client leaves: the server notices and frees the slot
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        again = requests.get(url, headers=key, stream=True, timeout=10)
        if again.status_code == 200:
            streams.append(again)
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the slot was not released after the client left")
    for s in streams:
        s.close()
