"""Real tier of tests/unit/test_security_tokens.py: the same subject through gunicorn on loopback
(and redis-server where it says so)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
import requests

from streamer.security.tokens import TOKEN_HEADER

from ..conftest import Server
from ..redis_fixture import RedisServer, redis_server
from ..unit.test_security_tokens import BEARER, KEYS

__all__ = ["redis_server"]  # a fixture, imported for pytest


def start_resumable(server: Server, query: str) -> tuple[str, str]:
    """A resumable ``/stream/data?<query>`` started with the key and left running (its
    first reader leaves at once): its id and read token."""
    start = requests.get(
        server.url(f"/stream/data?{query}&resumable=1&format=ndjson"),
        headers=BEARER,
        stream=True,
        timeout=10,
    )
    assert start.status_code == 200
    sid, token = start.headers["X-Stream-Id"], start.headers[TOKEN_HEADER]
    start.close()
    return sid, token


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


@pytest.mark.real
@pytest.mark.timeout(60)
def test_followers_on_a_token_leave_the_key_its_streams_and_are_cut_at_expiry(
    make_server: Callable[..., Server],
) -> None:
    # The measurement this answers: 19 followers on one token (per-key limit 20) gave the
    # key's owner 429 on new streams and on /chat, still after the token expired.
    env = {
        **KEYS,
        "STREAMER_MAX_STREAMS_PER_KEY": "20",
        "STREAMER_TOKEN_TTL_S": "2",
        "STREAMER_ECHO_DELAY_S": "0",
    }
    server = make_server(env)
    sid, token = start_resumable(server, "count=400&interval=0.05")
    with requests.Session() as followers_session:
        followers = []
        for _ in range(19):
            follower = followers_session.get(
                server.url(f"/streams/{sid}?format=ndjson&token={token}"), stream=True, timeout=10
            )
            assert follower.status_code == 200, follower.text
            followers.append(follower)
        # The owner's own streams and chats are not touched by the token's readers.
        for _ in range(3):
            own = requests.get(
                server.url("/stream/data?count=1&interval=0"), headers=BEARER, timeout=10
            )
            assert own.status_code == 200, own.text
            chat = requests.post(
                server.url("/chat"),
                json={"messages": [{"role": "user", "content": "hi"}]},
                headers=BEARER,
                timeout=10,
            )
            assert chat.status_code == 200, chat.text
        # At the token's expiry every follower ends with an in-band error, body cut.
        began = time.monotonic()
        for follower in followers:
            body = b""
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                for piece in follower.iter_content(None):
                    body += piece
            lines = body.split(b"\n")[:-1]
            assert lines[-1].startswith(b'{"event":"error","error":{"type":"token_expired"'), lines[
                -3:
            ]
        assert time.monotonic() - began < 5
    # After the expiry nothing of the key is held: 20 streams of its own at once.
    held = [
        requests.get(
            server.url("/stream/data?count=2&interval=1"), headers=BEARER, stream=True, timeout=10
        )
        for _ in range(19)  # the running producer holds the twentieth
    ]
    try:
        assert [r.status_code for r in held] == [200] * 19
    finally:
        for r in held:
            r.close()
    requests.delete(server.url(f"/streams/{sid}"), headers=BEARER, timeout=10)


@pytest.mark.real
@pytest.mark.timeout(60)
def test_on_redis_a_streams_token_readers_are_counted_across_workers(
    make_server: Callable[..., Server], redis_server: RedisServer
) -> None:
    # A budget of 3 token readers on two workers: counted per worker, six readers on separate
    # connections (which the kernel spreads over both) would get up to six 200s.
    env = {**KEYS, "REDIS_URL": redis_server.url, "STREAMER_MAX_TOKEN_READERS": "3"}
    server = make_server(env, workers=2)
    sid, token = start_resumable(server, "count=120&interval=0.25")
    follow = server.url(f"/streams/{sid}?format=ndjson&token={token}")
    readers = [requests.get(follow, stream=True, timeout=10) for _ in range(6)]
    db = redis.Redis.from_url(redis_server.url)
    places = f"streamer:token-readers:{{{sid}}}:open"
    try:
        statuses = sorted(r.status_code for r in readers)
        assert statuses == [200] * 3 + [429] * 3, statuses
        over = [r for r in readers if r.status_code == 429]
        assert all(r.json()["error"]["type"] == "too_many_token_readers" for r in over)
        assert db.zcard(places) == 3
    finally:
        for r in readers:
            r.close()
    # The places go back when the readers leave: three new readers, anywhere.
    deadline = time.monotonic() + 5
    while db.zcard(places):
        assert time.monotonic() < deadline, "the readers' places were not given back"
        time.sleep(0.05)
    again = [requests.get(follow, stream=True, timeout=10) for _ in range(3)]
    try:
        assert [r.status_code for r in again] == [200] * 3
    finally:
        for r in again:
            r.close()
    requests.delete(server.url(f"/streams/{sid}"), headers=BEARER, timeout=10)
