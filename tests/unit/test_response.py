"""Fast tier: the response helper and the views through Flask's test client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from streamer.config import Config
from streamer.decoders import NDJSONDecoder, SSEDecoder
from streamer.errors import UpstreamError
from streamer.records import Data, End, Error, Ping
from streamer.response import StreamAborted, stream_for_request


@pytest.fixture
def app() -> Flask:
    return create_app(Config(heartbeat_s=0.2, max_stream_s=5, testing=True))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def records(body: bytes, fmt: str = "ndjson") -> list[Any]:
    decoder = NDJSONDecoder() if fmt == "ndjson" else SSEDecoder()
    return [*decoder.feed(body), *decoder.close()]


@pytest.mark.parametrize(("query", "accept", "media"), [
    pytest.param("", None, "text/plain; charset=utf-8", id="default"),
    pytest.param("&format=ndjson", None, "application/x-ndjson", id="query-ndjson"),
    pytest.param("", "text/event-stream", "text/event-stream; charset=utf-8", id="accept-sse"),
    pytest.param("", "application/x-ndjson;q=0.9, */*", "application/x-ndjson", id="accept"),
    pytest.param("&format=text", "text/event-stream", "text/plain; charset=utf-8", id="query-wins"),
])
def test_format_negotiation_and_headers(client: FlaskClient, query: str, accept: str | None,
                                        media: str) -> None:
    headers = {"Accept": accept} if accept else {}
    response = client.get(f"/stream/data?count=2&interval=0{query}", headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == media
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert "Content-Length" not in response.headers


def test_text_ndjson_and_sse_bodies(client: FlaskClient) -> None:
    text = client.get("/stream/data?count=3&interval=0").data
    assert text == b"data chunk 1\ndata chunk 2\ndata chunk 3\n"
    nd = records(client.get("/stream/data?count=3&interval=0&format=ndjson").data)
    assert nd == [Data(1, "data chunk 1\n"), Data(2, "data chunk 2\n"), Data(3, "data chunk 3\n"),
                  End(3)]
    body = client.get("/stream/data?count=2&interval=0&format=sse").data
    assert body.startswith(b"retry: 3000\n\n")
    assert records(body, "sse") == [Data(1, "data chunk 1\n"), Data(2, "data chunk 2\n"), End(2)]


def test_series_is_reproducible_with_a_seed(client: FlaskClient) -> None:
    url = "/stream/series?count=20&interval=0&seed=7&format=ndjson"
    first, second = records(client.get(url).data), records(client.get(url).data)
    assert first == second and len(first) == 21
    other = records(client.get(url.replace("seed=7", "seed=8")).data)
    assert other != first
    assert all(isinstance(r.data["y"], float) for r in first[:-1])


@pytest.mark.parametrize("query", [
    "count=-1", "count=abc", "count=100001", "interval=nan", "interval=61", "interval=-0.5",
    "format=xml",
])
def test_bad_parameters_give_400_naming_the_parameter(client: FlaskClient, query: str) -> None:
    response = client.get(f"/stream/data?{query}")
    assert response.status_code == 400
    name = query.split("=")[0]
    assert response.json is not None
    assert response.json["error"]["type"] == "invalid_parameter"
    assert repr(name) in response.json["error"]["message"]


def test_unknown_paths_and_methods_are_json(client: FlaskClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json == {
        "error": {"type": "not_found", "message": missing.json["error"]["message"]}}
    wrong = client.delete("/stream/data")
    assert wrong.status_code == 405
    assert wrong.json is not None and wrong.json["error"]["type"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


def test_failure_before_first_item_is_a_real_status(client: FlaskClient) -> None:
    internal = client.get("/_test/stream?fail_before=1")
    assert internal.status_code == 500
    assert internal.json == {"error": {"type": "internal_error", "message": "internal error"}}
    assert b"secret" not in internal.data
    upstream = client.get("/_test/stream?fail_before=1&error=upstream")
    assert upstream.status_code == 502
    assert upstream.json == {"error": {"type": "upstream_error",
                                       "message": "the upstream failed"}}


@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_failure_after_first_item_writes_error_and_no_end(client: FlaskClient, fmt: str) -> None:
    response = client.get(f"/_test/stream?count=5&fail_after=3&format={fmt}")
    assert response.status_code == 200
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    got = records(body, fmt)
    assert got[-1] == Error("internal_error", "internal error")
    assert [r.id for r in got if isinstance(r, Data)] == [1, 2, 3]
    assert not any(isinstance(r, End) for r in got)


def test_text_failure_after_first_item_aborts(client: FlaskClient) -> None:
    response = client.get("/_test/stream?count=5&fail_after=2")
    with pytest.raises(StreamAborted):
        b"".join(response.response)


def test_heartbeats_fill_silence_before_and_between_items(client: FlaskClient) -> None:
    # heartbeat 0.2 s; the producer idles 0.5 s first and 0.5 s between its two items.
    body = client.get("/_test/stream?count=2&interval=0.5&idle_first=0.5&format=ndjson").data
    got = records(body)
    first_data = next(i for i, r in enumerate(got) if isinstance(r, Data))
    assert first_data >= 2 and all(isinstance(r, Ping) for r in got[:first_data])
    assert isinstance(got[first_data + 1], Ping)
    assert got[-1] == End(2)


def make_view_app(producer_factory: Any, **config: Any) -> FlaskClient:
    app = create_app(Config(heartbeat_s=0.2, **config))

    @app.get("/p")
    def view() -> Any:
        return stream_for_request(producer_factory())

    return app.test_client()


def test_generator_return_value_goes_into_end() -> None:
    def producer() -> Iterator[str]:
        yield "a"
        return {"usage": {"total_tokens": 2}}

    got = records(make_view_app(producer).get("/p?format=ndjson").data)
    assert got == [Data(1, "a"), End(1, {"usage": {"total_tokens": 2}})]


def test_records_from_the_producer_keep_their_ids() -> None:
    def producer() -> Iterator[Any]:
        yield Data(41, "replayed")
        yield "next"
        yield End(2, {"resumed": True})

    got = records(make_view_app(producer).get("/p?format=ndjson").data)
    assert got == [Data(41, "replayed"), Data(42, "next"), End(2, {"resumed": True})]


def test_streamer_error_after_first_item_keeps_its_type() -> None:
    def producer() -> Iterator[str]:
        yield "a"
        raise UpstreamError("upstream went away", type="upstream_disconnected")

    response = make_view_app(producer).get("/p?format=ndjson")
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    assert records(body)[-1] == Error("upstream_disconnected", "upstream went away")


def test_maximum_stream_duration_ends_with_a_timeout_record() -> None:
    closed: list[bool] = []

    def producer() -> Iterator[str]:
        try:
            while True:
                yield "tick"
                gevent.sleep(0.05)
        finally:
            closed.append(True)

    response = make_view_app(producer, max_stream_s=0.3).get("/p?format=ndjson")
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    last = records(body)[-1]
    assert isinstance(last, Error) and last.type == "timeout"
    gevent.sleep(0.05)
    assert closed == [True]


def test_closing_the_response_runs_the_producers_finally() -> None:
    state: list[str] = []

    def producer() -> Iterator[str]:
        try:
            yield "first"
            gevent.sleep(60)
            yield "never"
        finally:
            state.append("finally")

    response = make_view_app(producer).get("/p")
    it = iter(response.response)
    assert next(it) == b"first"
    started = time.monotonic()
    response.close()
    gevent.sleep(0)
    assert state == ["finally"]
    assert time.monotonic() - started < 0.1


def test_a_fast_producer_is_coalesced_into_few_writes() -> None:
    response = make_view_app(lambda: (f"{i}," for i in range(10_000))).get("/p")
    chunks = list(response.response)
    assert b"".join(chunks) == "".join(f"{i}," for i in range(10_000)).encode()
    assert len(chunks) < 100
