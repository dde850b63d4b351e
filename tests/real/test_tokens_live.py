"""Real tier of tests/unit/test_security_tokens.py: the same subject through gunicorn on loopback
(and redis-server where it says so)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from streamer.security.tokens import TOKEN_HEADER

from ..conftest import Server
from ..redis_fixture import RedisServer, redis_server
from ..unit.test_security_tokens import BEARER, KEYS

__all__ = ["redis_server"]  # a fixture, imported for pytest


@pytest.mark.real
@pytest.mark.timeout(60)
def test_tokens_work_across_workers_and_never_reach_a_log_line(
    make_server: Callable[..., Server], redis_server: RedisServer
) -> None:
    # Two workers on Redis, no secret configured: gunicorn.conf.py makes one for the
    # instance, so a token issued by one worker reads on the other. Nothing logs the token.
    env = {k: v for k, v in KEYS.items() if k != "STREAMER_TOKEN_SECRET"}
    env["REDIS_URL"] = redis_server.url
    server = make_server(env, workers=2)
    tokens = []
    for _ in range(8):  # several starts, so both workers issue and both verify
        start = requests.get(
            server.url("/stream/data?count=2&interval=0&resumable=1"), headers=BEARER, timeout=10
        )
        assert start.status_code == 200
        sid, token = start.headers["X-Stream-Id"], start.headers[TOKEN_HEADER]
        tokens.append(token)
        for _ in range(2):
            read = requests.get(
                server.url(f"/streams/{sid}?format=ndjson&token={token}"), timeout=10
            )
            assert read.status_code == 200, read.text
            assert read.text.endswith('{"event":"end","count":2}\n'), read.text
        bad = requests.get(server.url(f"/streams/{sid}?token={token}x"), timeout=10)
        assert bad.status_code == 401 and bad.json()["error"]["type"] == "invalid_token"
    time.sleep(0.3)  # the access log line is written when the stream ends
    log = server.log()
    assert "route=/streams/<stream_id>" in log
    assert "STREAMER_TOKEN_SECRET is not set" in log
    for token in tokens:
        assert token not in log
        assert token.split(".")[1] not in log
