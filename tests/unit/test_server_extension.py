"""Fast tier: the extension in a bare Flask app (no create_app), through Flask's test client.

Each producer kind in each format; the request's context for the producer; the app's
teardown functions exactly once however the stream ends; settings from app.config.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import flask
import gevent
import pytest
from flask import Flask, Response, g, request

from streamer import Data, End, Error, Ping, Streamer, StreamerError, UpstreamError, stream
from streamer.errors import ConfigError
from streamer.server.response import StreamAborted
from streamer.server.state import current_config, current_registry, current_store
from streamer.service.settings import ServiceConfig
from streamer.wire.decoders import NDJSONDecoder, SSEDecoder


class Counts:
    def __init__(self) -> None:
        self.request: list[str | None] = []
        self.app: list[str | None] = []
        self.finally_: list[str] = []


def make(settings: dict[str, Any] | None = None) -> tuple[Flask, Counts]:
    app = Flask(__name__)
    app.config.update({"STREAMER_HEARTBEAT_S": 0.2, **(settings or {})})
    Streamer(app)
    counts = Counts()

    @app.teardown_request
    def count_request(exc: BaseException | None) -> None:
        counts.request.append(type(exc).__name__ if exc else None)

    @app.teardown_appcontext
    def count_app(exc: BaseException | None) -> None:
        counts.app.append(type(exc).__name__ if exc else None)

    return app, counts


def settle(counts: Counts) -> None:
    """Let the hub run the killed pump (its ``finally``, then the teardown)."""
    with gevent.Timeout(2, False):
        while not counts.request:
            gevent.sleep(0.005)
    gevent.sleep(0.05)  # and nothing more after it


def decode(body: bytes, fmt: str) -> list[Any]:
    if fmt == "text":
        return [body.decode()]
    decoder = NDJSONDecoder() if fmt == "ndjson" else SSEDecoder()
    return [*decoder.feed(body), *decoder.close()]


def sync_gen() -> Iterator[str]:
    yield "a\n"
    gevent.sleep(0.01)
    yield "b\n"


async def async_gen() -> AsyncIterator[str]:
    yield "a\n"
    await asyncio.sleep(0.01)
    yield "b\n"


def records_gen() -> Iterator[Any]:
    yield Data(1, "a\n")
    yield Ping()
    yield "b\n"
    yield End(2, {"note": "done"})


class AsyncIterable:
    """An async iterable that is not a generator."""

    def __aiter__(self) -> AsyncIterator[str]:
        return async_gen()


PRODUCERS = {
    "sync-gen": sync_gen,
    "list": lambda: ["a\n", "b\n"],
    "async-gen": async_gen,
    "async-iterable": AsyncIterable,
    "records": records_gen,
}


@pytest.mark.parametrize("fmt", ["text", "ndjson", "sse"])
@pytest.mark.parametrize("kind", list(PRODUCERS))
def test_each_producer_kind_in_each_format(kind: str, fmt: str) -> None:
    app, counts = make()

    @app.get("/s")
    def view() -> Response:
        return stream(PRODUCERS[kind]())

    response = app.test_client().get(f"/s?format={fmt}")
    assert response.status_code == 200
    got = decode(response.data, fmt)
    if fmt == "text":
        assert got == ["a\nb\n"]
    else:
        data = [r for r in got if not isinstance(r, Ping)]
        assert data[:2] == [Data(1, "a\n"), Data(2, "b\n")]
        assert isinstance(data[2], End) and data[2].count == 2
    assert counts.request == [None] and counts.app == [None]


def test_format_argument_wins_over_the_request() -> None:
    app, _ = make()

    @app.get("/s")
    def view() -> Response:
        return stream(["x"], format="ndjson", headers={"X-Kind": "fixed"})

    response = app.test_client().get("/s?format=sse")
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers["X-Kind"] == "fixed"
    assert decode(response.data, "ndjson") == [Data(1, "x"), End(1)]


def test_the_producer_reads_request_g_and_current_app() -> None:
    app, counts = make()

    @app.before_request
    def set_user() -> None:
        g.user = "ada"

    def producer() -> Iterator[str]:
        for _ in range(2):
            gevent.sleep(0.01)  # the view has returned: Flask popped its context
            yield f"{request.args['q']} {g.user} {flask.current_app.name}\n"

    @app.get("/s")
    def view() -> Response:
        return stream(producer())

    body = app.test_client().get("/s?q=hi").data.decode()
    assert body == f"hi ada {app.name}\n" * 2
    assert counts.request == [None]


def test_teardown_runs_once_when_the_stream_completes_not_before() -> None:
    app, counts = make()
    seen: list[int] = []

    def producer() -> Iterator[str]:
        yield "a"
        gevent.sleep(0.01)
        seen.append(len(counts.request))  # teardown has not run while the stream is open
        yield "b"

    @app.get("/s")
    def view() -> Response:
        return stream(producer())

    response = app.test_client().get("/s")
    assert response.data == b"ab"
    assert seen == [0]
    assert counts.request == [None] and counts.app == [None]


def test_teardown_runs_once_with_the_error_when_the_stream_fails() -> None:
    app, counts = make()

    def producer() -> Iterator[str]:
        yield "a"
        gevent.sleep(0.01)
        raise UpstreamError("gone", type="upstream_gone")

    @app.get("/s")
    def view() -> Response:
        return stream(producer())

    response = app.test_client().get("/s?format=ndjson")
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    response.close()
    assert decode(body, "ndjson")[-1] == Error("upstream_gone", "gone")
    assert counts.request == ["UpstreamError"] and counts.app == ["UpstreamError"]


def test_teardown_runs_once_when_the_producer_fails_before_its_first_item() -> None:
    app, counts = make()

    def producer() -> Iterator[str]:
        raise UpstreamError("down", type="upstream_down")
        yield "never"

    @app.get("/s")
    def view() -> Response:
        return stream(producer())

    response = app.test_client().get("/s")
    assert response.status_code == 502
    assert response.json == {"error": {"message": "down", "type": "upstream_down"}}
    assert len(counts.request) == 1 and len(counts.app) == 1


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_teardown_runs_once_after_the_producers_finally_when_the_client_leaves(kind: str) -> None:
    app, counts = make()
    order: list[str] = []

    def sync_idle() -> Iterator[str]:
        try:
            yield "first"
            gevent.sleep(60)
            yield "never"
        finally:
            order.append("finally")

    async def async_idle() -> AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.sleep(60)
            yield "never"
        finally:
            order.append("finally")

    @app.teardown_request
    def mark(exc: BaseException | None) -> None:
        order.append("teardown")

    @app.get("/s")
    def view() -> Response:
        return stream(sync_idle() if kind == "sync" else async_idle())

    response = app.test_client().get("/s")
    assert next(iter(response.response)) == b"first"
    assert counts.request == []
    response.close()  # what the server does when the client has gone
    with gevent.Timeout(2):
        while len(order) < 2:
            gevent.sleep(0.005)
    assert order == ["finally", "teardown"]
    gevent.sleep(0.05)
    assert counts.request == [None] and counts.app == [None]


def test_teardown_runs_once_when_the_stream_times_out() -> None:
    app, counts = make({"STREAMER_MAX_STREAM_S": 0.3})

    def forever() -> Iterator[str]:
        while True:
            yield "tick"
            gevent.sleep(0.05)

    @app.get("/s")
    def view() -> Response:
        return stream(forever())

    response = app.test_client().get("/s?format=ndjson")
    body = b""
    with pytest.raises(StreamAborted):
        for chunk in response.response:
            body += chunk
    response.close()
    last = decode(body, "ndjson")[-1]
    assert isinstance(last, Error) and last.type == "timeout"
    settle(counts)  # the killed pump runs the producer's finally, then the teardown
    assert counts.request == [None] and counts.app == [None]


def test_teardown_runs_once_when_the_worker_shuts_down() -> None:
    app, counts = make()

    def forever() -> Iterator[str]:
        while True:
            yield "tick"
            gevent.sleep(0.05)

    @app.get("/s")
    def view() -> Response:
        return stream(forever())

    response = app.test_client().get("/s?format=ndjson")
    it = iter(response.response)
    body = next(it)
    assert counts.request == []
    app.extensions["streamer"].registry.shutdown_all()
    with pytest.raises(StreamAborted):
        for chunk in it:
            body += chunk
    response.close()
    last = decode(body, "ndjson")[-1]
    assert isinstance(last, Error) and last.type == "shutdown"
    settle(counts)
    assert counts.request == [None] and counts.app == [None]


def test_interleaved_streams_in_one_thread_each_tear_down_once() -> None:
    app, counts = make()

    def producer(name: str) -> Iterator[str]:
        yield name
        gevent.sleep(0.02)
        yield request.args["n"]

    @app.get("/s")
    def view() -> Response:
        return stream(producer(request.args["n"]))

    client = app.test_client()
    first, second = client.get("/s?n=1"), client.get("/s?n=2")
    assert first.data == b"11"  # ends while the second request is bound on top
    assert second.data == b"22"
    assert counts.request == [None, None]
    # The second request found the first's app context still bound in the one thread's
    # context and used it (Flask pushes none then): one teardown_appcontext for the two.
    # A server runs each connection in a greenlet or thread of its own.
    assert counts.app == [None]


def test_settings_come_from_app_config_under_the_environment_names() -> None:
    app, _ = make(
        {
            "STREAMER_MAX_STREAMS": 7,
            "STREAMER_SEND_TIMEOUT_S": "0",
            "STREAMER_STREAMS_PREFIX": "/resume",
        }
    )
    with app.test_request_context():
        config = current_config()
        assert (config.heartbeat_s, config.max_streams, config.send_timeout_s) == (0.2, 7, 0.0)
        assert current_registry() is not None
        assert current_store().name == "memory"
    assert {r.rule for r in app.url_map.iter_rules()} >= {"/resume/<stream_id>"}


def test_a_bad_setting_stops_init_app_naming_it() -> None:
    app = Flask(__name__)
    app.config["STREAMER_HEARTBEAT_S"] = -1
    with pytest.raises(ConfigError, match="STREAMER_HEARTBEAT_S"):
        Streamer(app)


def test_init_app_later_and_an_explicit_config() -> None:
    ext = Streamer(config=ServiceConfig(heartbeat_s=3))
    app = Flask(__name__)
    ext.init_app(app)
    with app.test_request_context():
        assert current_config().heartbeat_s == 3


def test_without_the_extension_a_stream_says_what_to_do() -> None:
    app = Flask(__name__)

    @app.get("/s")
    def view() -> Response:
        return stream(["x"])

    with app.test_request_context("/s"), pytest.raises(ConfigError, match="Streamer"):
        view()


def test_only_streamer_errors_become_json_the_apps_own_pages_stay() -> None:
    app, _ = make()

    @app.get("/fail")
    def fail() -> Response:
        raise StreamerError("nope", type="custom", status=409)

    client = app.test_client()
    response = client.get("/fail")
    assert response.status_code == 409
    assert response.json == {"error": {"message": "nope", "type": "custom"}}
    missing = client.get("/missing")
    assert missing.status_code == 404 and missing.mimetype == "text/html"


def test_resumable_stream_and_its_resume_route_under_a_custom_prefix() -> None:
    app, _ = make({"STREAMER_STREAMS_PREFIX": "/resume"})
    apps: list[str] = []

    def producer() -> Iterator[str]:
        apps.append(flask.current_app.name)  # detached, in an app context of its own
        for i in range(1, 4):
            gevent.sleep(0.01)
            yield f"r{i}"

    @app.get("/s")
    def view() -> Response:
        return stream(producer(), resumable=True)

    client = app.test_client()
    response = client.get("/s?format=ndjson")
    stream_id = response.headers["X-Stream-Id"]
    assert decode(response.data, "ndjson") == [Data(1, "r1"), Data(2, "r2"), Data(3, "r3"), End(3)]
    resumed = client.get(f"/resume/{stream_id}?format=ndjson", headers={"Last-Event-ID": "2"})
    assert decode(resumed.data, "ndjson") == [Data(3, "r3"), End(3)]
    assert apps == [app.name]
    assert client.delete(f"/resume/{stream_id}").status_code == 204
    assert client.get("/resume/not-an-id").status_code in (400, 404)


def test_without_the_request_context_teardown_runs_when_the_view_returns() -> None:
    app, counts = make()
    seen: list[object] = []

    def producer() -> Iterator[str]:
        yield "a"
        gevent.sleep(0.01)  # the view has returned
        seen.append((len(counts.request), flask.has_request_context()))
        yield "b"

    @app.get("/s")
    def view() -> Response:
        return stream(producer(), request_context=False)

    response = app.test_client().get("/s")
    assert response.data == b"ab"
    assert seen == [(1, False)]  # torn down before the stream ended, and not bound for it
    assert counts.request == [None] and counts.app == [None]  # once, not again at the end
