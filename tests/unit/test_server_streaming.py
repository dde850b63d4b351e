"""Fast tier of streamer.server.streaming: ``stream()``, the one call a view makes (each producer
kind in each format through it: tests/unit/test_server_extension.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from flask import Flask

from streamer import Streamer, stream
from streamer.adapter import SyncStream
from streamer.server.streaming import _sync


class OnlyAsync:
    """An async iterable that is not also a sync one."""

    def __aiter__(self) -> AsyncIterator[str]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[str]:
        yield "x"


def test_an_async_iterable_is_run_through_the_adapter_and_a_sync_one_as_it_is() -> None:
    gen: Iterator[str] = iter(["a"])
    assert _sync(gen) is gen
    bridged = _sync(OnlyAsync())
    assert isinstance(bridged, SyncStream)
    assert list(bridged) == ["x"]  # type: ignore[call-overload]


def test_a_resumable_stream_carries_its_id_and_extra_headers() -> None:
    app = Flask(__name__)
    Streamer(app)

    @app.get("/s")
    def view() -> object:
        return stream(iter(["a", "b"]), format="ndjson", resumable=True, headers={"X-Extra": "1"})

    response = app.test_client().get("/s")
    try:
        assert response.status_code == 200 and response.headers["X-Extra"] == "1"
        assert response.headers["X-Stream-Id"]
        assert response.mimetype == "application/x-ndjson"
        assert b'"a"' in response.get_data()
    finally:
        response.close()  # as a WSGI server does: releases the held request
