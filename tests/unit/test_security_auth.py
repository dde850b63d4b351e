"""Client keys, the per-key stream limit and CORS (fast tier, Flask's test client), and the
per-key limit through gunicorn (real tier)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from streamer.errors import ConfigError
from streamer.security.auth import KeyRing, bearer_token

KEYS = "alpha-key-0001,beta-key-0002"
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def client(**env: str) -> FlaskClient:
    return create_app(
        {"STREAMER_API_KEYS": KEYS, "STREAMER_ECHO_DELAY_S": "0", "STREAMER_TESTING": "1", **env}
    ).test_client()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_401(response: Any, invalid: bool) -> None:
    assert response.status_code == 401
    assert response.get_json()["error"]["type"] == "unauthorized"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer realm=")
    assert ("invalid_token" in challenge) is invalid


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        pytest.param("post", "/chat", {"json": CHAT}, id="chat"),
        pytest.param("get", "/streams/abc", {}, id="follow"),
        pytest.param("delete", "/streams/abc", {}, id="cancel"),
        pytest.param("get", "/_test/stream", {}, id="test-endpoint"),
    ],
)
def test_protected_endpoints_need_a_valid_key(
    method: str, path: str, kwargs: dict[str, Any]
) -> None:
    c = client()
    assert_401(getattr(c, method)(path, **kwargs), invalid=False)
    assert_401(getattr(c, method)(path, headers=bearer("wrong"), **kwargs), invalid=True)
    assert_401(
        getattr(c, method)(path, headers={"Authorization": "Basic eDp5"}, **kwargs), invalid=True
    )
    assert_401(getattr(c, method)(path, headers=bearer("alpha-key-0001x"), **kwargs), invalid=True)
    ok = getattr(c, method)(path, headers=bearer("beta-key-0002"), **kwargs)
    assert ok.status_code != 401


def test_open_and_demo_endpoints() -> None:
    c = client()
    for path in (
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/",
        "/api",
        "/stream/data?count=2&interval=0",
        "/stream/series?count=2&interval=0",
    ):
        with c.get(path) as response:  # "/" is a file response: close it
            assert response.status_code == 200, path
    closed = client(STREAMER_OPEN_DEMO="false")
    for path in (
        "/",
        "/api",
        "/stream/data?count=2&interval=0",
        "/stream/series?count=2&interval=0",
    ):
        assert_401(closed.get(path), invalid=False)
        with closed.get(path, headers=bearer("alpha-key-0001")) as response:
            assert response.status_code == 200
    assert closed.get("/healthz").status_code == 200


def test_without_keys_the_service_is_open_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="streamer"):
        c = create_app({"STREAMER_API_KEYS": "", "STREAMER_ECHO_DELAY_S": "0"}).test_client()
    assert "open to anyone" in caplog.text
    assert c.post("/chat", json=CHAT).status_code == 200


def test_key_comparison_checks_every_key() -> None:
    ring = KeyRing(["a", "b", "a"])
    assert ring.match("a") == "key1" and ring.match("b") == "key2"
    assert ring.match("c") is None and ring.match("") is None
    assert bearer_token("bearer  tok ") == "tok" and bearer_token("Bearer") is None
    assert bearer_token("Token tok") is None and bearer_token(None) is None


def test_a_key_over_its_stream_limit_gets_429_until_one_closes() -> None:
    c = client(STREAMER_MAX_STREAMS_PER_KEY="2")
    url = "/_test/stream?count=3&interval=0.05"
    first = c.get(url, headers=bearer("alpha-key-0001"), buffered=False)
    second = c.get(url, headers=bearer("alpha-key-0001"), buffered=False)
    third = c.get(url, headers=bearer("alpha-key-0001"))
    assert third.status_code == 429
    assert third.headers["Retry-After"] == "1"
    assert third.get_json()["error"]["type"] == "too_many_streams_for_key"
    # Another key has its own slots; errors before the first byte release theirs.
    assert c.get(url, headers=bearer("beta-key-0002")).status_code == 200
    for _ in range(3):
        assert c.get("/stream/data?count=-1", headers=bearer("alpha-key-0001")).status_code in (
            400,
            429,
        )
    first.close()
    assert c.get(url, headers=bearer("alpha-key-0001")).status_code == 200
    second.close()


ORIGIN = "https://app.example"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMER_OPEN_DEMO", "sometimes"),
        ("STREAMER_MAX_STREAMS_PER_KEY", "0"),
        ("STREAMER_SEND_TIMEOUT_S", "-1"),
        ("STREAMER_SEND_TIMEOUT_S", "nan"),
    ],
)
def test_new_settings_name_the_variable_when_bad(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        create_app({name: value})


def test_new_settings_defaults() -> None:
    from streamer.service.settings import ServiceConfig as Config

    cfg = Config.from_env({})
    assert cfg.open_demo and cfg.max_streams_per_key == 100 and cfg.send_timeout_s == 30.0
