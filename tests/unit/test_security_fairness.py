"""Per-client limits (streamer.security.fairness), in process: the counts alone, then the demo
service through Flask's test client (the store is in memory: counted per worker). Across
workers and instances on Redis, and through nginx: tests/real/test_fairness_live.py."""

from __future__ import annotations

import time
from typing import Any

import gevent
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from streamer.errors import ConfigError
from streamer.service.settings import ServiceConfig

A, B = "203.0.113.1", "203.0.113.2"
STREAM = "/_test/stream?count=3&interval=0.05"
KEY = "alpha-key-0001"


def client(**env: str) -> FlaskClient:
    return create_app({"STREAMER_TESTING": "1", "STREAMER_HEARTBEAT_S": "0.2", **env}).test_client()


def get(c: FlaskClient, peer: str, path: str = STREAM, **headers: str) -> TestResponse:
    return c.get(path, environ_base={"REMOTE_ADDR": peer}, headers=headers, buffered=False)


def assert_429(response: TestResponse, type_: str) -> dict[str, Any]:
    assert response.status_code == 429, response.data
    assert response.headers["Retry-After"] == "1"
    body: dict[str, Any] = response.get_json()
    assert body["error"]["type"] == type_
    return body


@pytest.mark.timeout(20)
@pytest.mark.parametrize("keys", [False, True], ids=["open", "keys"])
def test_a_client_over_its_open_streams_gets_429_and_others_do_not(keys: bool) -> None:
    env = {"STREAMER_MAX_STREAMS_PER_CLIENT": "2"}
    auth = {}
    if keys:
        env["STREAMER_API_KEYS"] = f"{KEY},beta-key-0002"
        auth = {"Authorization": f"Bearer {KEY}"}
    c = client(**env)
    held = [get(c, A, **auth) for _ in range(2)]
    assert [r.status_code for r in held] == [200, 200]
    body = assert_429(get(c, A, **auth), "too_many_streams_for_client")
    assert body["error"]["message"] == (
        "this client already has 2 open streams; retry when one ends"
    )
    assert get(c, A, "/chat", **auth).status_code == 405  # not a GET: no slot, no count
    assert_429(
        c.post(
            "/chat",
            json={"messages": [{"role": "user", "content": "hi"}]},
            environ_base={"REMOTE_ADDR": A},
            headers=auth,
        ),
        "too_many_streams_for_client",
    )
    other = get(c, B, **auth)
    assert other.status_code == 200  # another address is not touched
    other.close()
    held.pop().close()  # a slot goes back when its body is closed
    again = get(c, A, **auth)
    assert again.status_code == 200
    for r in [*held, again]:
        r.close()
    # Refusals that are not streams give theirs back at once.
    for _ in range(3):
        assert get(c, A, "/stream/data?count=-1", **auth).status_code == 400
    both = [get(c, A, **auth) for _ in range(2)]
    assert [r.status_code for r in both] == [200, 200]
    for r in both:
        r.close()
    metrics = c.get("/metrics").get_data(as_text=True)
    assert 'streamer_requests_refused_total{limit="too_many_streams_for_client"} 2.0' in metrics


@pytest.mark.timeout(20)
def test_a_client_over_its_new_streams_per_second_gets_429() -> None:
    c = client(STREAMER_NEW_STREAMS_PER_CLIENT_S="3")
    for _ in range(5):  # a window boundary inside the burst lets more through: try again
        began = int(time.time())
        codes = []
        for _ in range(4):
            r = get(c, A, "/stream/data?count=1&interval=0")
            codes.append(r.status_code)
            if r.status_code == 429:
                assert_429(r, "too_many_new_streams_for_client")
            r.close()
        other = get(c, B, "/stream/data?count=1&interval=0")
        if int(time.time()) == began:
            break
        time.sleep(1.0 - time.time() % 1.0)
    assert codes == [200, 200, 200, 429]
    assert other.status_code == 200
    other.close()
    time.sleep(1.0 - time.time() % 1.0 + 0.01)  # the next window
    assert get(c, A, "/stream/data?count=1&interval=0").status_code == 200


@pytest.mark.timeout(20)
def test_unauthenticated_requests_count_against_their_address() -> None:
    c = client(STREAMER_API_KEYS=f"{KEY},b-key-0002", STREAMER_NEW_STREAMS_PER_CLIENT_S="2")
    for _ in range(5):
        began = int(time.time())
        codes = [
            c.post("/chat", json={}, environ_base={"REMOTE_ADDR": A}).status_code for _ in range(3)
        ]
        if int(time.time()) == began:
            break
        time.sleep(1.0 - time.time() % 1.0)
    assert codes == [401, 401, 429]


@pytest.mark.timeout(20)
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() -> None:
    c = client(STREAMER_MAX_STREAMS_PER_CLIENT="1", STREAMER_TRUSTED_PROXIES="10.0.0.5")

    def via_proxy(xff: str) -> TestResponse:
        return c.get(
            STREAM,
            environ_base={"REMOTE_ADDR": "10.0.0.5"},
            headers={"X-Forwarded-For": xff},
            buffered=False,
        )

    first, second = via_proxy(A), via_proxy(f"6.6.6.6, {B}")
    assert first.status_code == second.status_code == 200
    # A client cannot spoof its way out: what it writes left of the proxy's entry is ignored.
    assert_429(via_proxy(f"{B}, {A}"), "too_many_streams_for_client")
    # And a client that is not the proxy is believed about nothing.
    direct = c.get(
        STREAM, environ_base={"REMOTE_ADDR": A}, headers={"X-Forwarded-For": "198.51.100.1"}
    )
    assert_429(direct, "too_many_streams_for_client")
    first.close()
    second.close()


@pytest.mark.timeout(20)
def test_health_and_other_requests_are_not_counted() -> None:
    c = client(STREAMER_MAX_STREAMS_PER_CLIENT="1")
    held = get(c, A)
    assert held.status_code == 200
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/api"):
        assert c.get(path, environ_base={"REMOTE_ADDR": A}).status_code == 200, path
    held.close()


@pytest.mark.timeout(20)
def test_both_limits_off() -> None:
    c = client(STREAMER_MAX_STREAMS_PER_CLIENT="0", STREAMER_NEW_STREAMS_PER_CLIENT_S="0")
    held = [get(c, A, "/stream/data?count=1&interval=0") for _ in range(100)]
    assert {r.status_code for r in held} == {200}
    for r in held:
        r.close()


def test_defaults() -> None:
    cfg = ServiceConfig.from_env({})
    assert cfg.max_streams_per_client == 64 and cfg.new_streams_per_client_s == 20
    assert cfg.trusted_proxies == () and cfg.client_address_header == "x-forwarded-for"
    assert cfg.max_token_readers == 20


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMER_TRUSTED_PROXIES", "10.0.0.1,nginx"),
        ("STREAMER_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("STREAMER_CLIENT_ADDRESS_HEADER", "x-real-ip"),
        ("STREAMER_MAX_STREAMS_PER_CLIENT", "-1"),
        ("STREAMER_NEW_STREAMS_PER_CLIENT_S", "many"),
        ("STREAMER_MAX_TOKEN_READERS", "0"),
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        create_app({name: value})


@pytest.mark.timeout(20)
@pytest.mark.parametrize("keys", [False, True], ids=["open", "keys"])
def test_resumable_producers_a_client_left_running_hold_its_places(keys: bool) -> None:
    # Start, leave, start again: without this, one address piled up detached producers.
    env = {"STREAMER_MAX_STREAMS_PER_CLIENT": "3"}
    auth = {}
    if keys:
        env["STREAMER_API_KEYS"] = f"{KEY},beta-key-0002"
        auth = {"Authorization": f"Bearer {KEY}"}
    c = client(**env)
    long = "/stream/data?count=100&interval=0.2&resumable=1&format=ndjson"
    started = []
    for _ in range(2):
        r = get(c, A, long, **auth)
        assert r.status_code == 200, r.data
        started.append(r.headers["X-Stream-Id"])
        r.close()  # the reader leaves; its producer runs on and holds a place
    # A third start needs two places (its reader and its producer): one is left.
    body = assert_429(get(c, A, long, **auth), "too_many_streams_for_client")
    assert "3 open streams" in body["error"]["message"]
    one = get(c, A, "/stream/data?count=1&interval=0", **auth)
    assert one.status_code == 200  # a plain stream fits in the one place left
    one.close()
    other = get(c, B, long, **auth)  # another address is untouched
    assert other.status_code == 200
    other.close()
    # A cancelled producer gives its place back.
    deleted = c.delete(f"/streams/{started[0]}", environ_base={"REMOTE_ADDR": A}, headers=auth)
    assert deleted.status_code == 202
    deadline = time.monotonic() + 5
    while True:
        again = get(c, A, long, **auth)
        if again.status_code == 200:
            break
        again.close()
        assert time.monotonic() < deadline, "the cancelled producer kept its place"
        gevent.sleep(0.05)
    again.close()
    for sid in [*started[1:], again.headers["X-Stream-Id"], other.headers["X-Stream-Id"]]:
        c.delete(f"/streams/{sid}", environ_base={"REMOTE_ADDR": B}, headers=auth)


@pytest.mark.timeout(20)
def test_durable_live_reads_hold_an_open_place_and_appends_are_not_streams() -> None:
    c = client(
        STREAMER_MAX_STREAMS_PER_CLIENT="1",
        STREAMER_NEW_STREAMS_PER_CLIENT_S="2",
        STREAMER_DURABLE_LONG_POLL_S="0.05",
    )
    base = {"REMOTE_ADDR": A}
    text = {"Content-Type": "text/plain"}
    assert c.put("/v1/stream/f", headers=text, environ_base=base).status_code == 201
    # Appends and catch-up reads: neither the open streams nor the rate of new ones.
    for _ in range(5):
        assert c.post("/v1/stream/f", data=b"x", headers=text, environ_base=base).status_code == 204
        assert c.get("/v1/stream/f?offset=-1", environ_base=base).status_code == 200
    sse = get(c, A, "/v1/stream/f?offset=-1&live=sse")
    assert sse.status_code == 200
    next(iter(sse.response))
    for live in ("sse", "long-poll"):
        assert_429(get(c, A, f"/v1/stream/f?offset=-1&live={live}"), "too_many_streams_for_client")
    assert c.get("/v1/stream/f?offset=-1", environ_base=base).status_code == 200
    sse.close()
    # Long-polls, one after another as a reader makes them: past the rate of 2 a second.
    tail = c.head("/v1/stream/f", environ_base=base).headers["Stream-Next-Offset"]
    for _ in range(6):  # 6 in about 0.3 s: over 2 in a window however the windows fall
        poll = c.get(f"/v1/stream/f?offset={tail}&live=long-poll", environ_base=base)
        assert poll.status_code == 204, poll.data
