"""Bad input through gunicorn (real tier) and hypothesis over query strings and JSON bodies
(fast tier): never a 5xx, every error a JSON body that names what was wrong."""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app

_PARAMS = ["count", "interval", "seed", "format", "resumable", "last_event_id", "x"]
_values = st.one_of(
    st.text(max_size=30),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "0", "1", "ndjson", "sse", "text", "true", "-0"]),
)


@functools.cache
def _fast_app() -> Flask:
    return create_app(
        {"STREAMER_ECHO_DELAY_S": "0", "STREAMER_HEARTBEAT_S": "0.05", "STREAMER_MAX_STREAM_S": "2"}
    )


def _fast_client() -> FlaskClient:
    return _fast_app().test_client()


def _check_error_or_stream(response: Any) -> None:
    assert response.status_code < 500, response.data[:300]
    if response.status_code >= 400:
        assert response.headers["Content-Type"] == "application/json"
        body = response.get_json()
        assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}


@settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(["/stream/data", "/stream/series", "/streams/abc"]),
    query=st.dictionaries(st.sampled_from(_PARAMS), _values, max_size=4),
)
def test_hypothesis_query_strings_never_5xx(path: str, query: dict[str, str]) -> None:
    # Streams stay short: a valid count is capped unless the case is about count itself.
    query.setdefault("count", "3")
    query.setdefault("interval", "0")
    response = _fast_client().get(path, query_string=query)
    _check_error_or_stream(response)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "system", "bot", 1]),
        "content": st.one_of(st.text(max_size=40), _json),
    }
)
_chat = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.one_of(st.lists(_message, max_size=5), _json),
        "model": st.one_of(st.text(max_size=20), _json),
        "temperature": _json | st.floats(-1, 3),
        "max_tokens": _json | st.integers(-5, 40000),
        "resumable": _json,
        "stream": _json,
        "extra": _json,
    },
)


@settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(_chat, _json))
def test_hypothesis_chat_bodies_never_5xx(body: Any) -> None:
    response = _fast_client().post("/chat?format=ndjson", json=body)
    _check_error_or_stream(response)
    if response.status_code == 200:
        assert response.data.rstrip().endswith(b"}")
        assert b'"event":"end"' in response.data.splitlines()[-1]


@settings(deadline=None, database=None)
@given(
    raw_body=st.binary(max_size=200),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x+json",
            "text/plain",
            "application/json; charset=latin-1",
            "",
        ]
    ),
)
def test_hypothesis_raw_bytes_never_5xx(raw_body: bytes, content_type: str) -> None:
    response = _fast_client().post("/chat", data=raw_body, content_type=content_type or None)
    _check_error_or_stream(response)
