"""Fast tier of streamer.client._client (the :class:`Client` class itself): URLs resolved
against ``base_url``, the headers every request carries, and which session it closes."""

from __future__ import annotations

import pytest
import requests

from streamer import Client
from streamer.wire.framing import NDJSON

from ..hostile import Conn, HostileServer


def test_urls_resolve_against_the_base_url() -> None:
    client = Client("http://127.0.0.1:1/api/")
    assert client.url("/stream") == "http://127.0.0.1:1/api/stream"
    assert client.url("stream") == "http://127.0.0.1:1/api/stream"
    assert client.url("http://other:2/x") == "http://other:2/x"
    assert Client().url("/x") == "/x"


@pytest.mark.timeout(20)
def test_every_request_carries_the_token_and_asks_for_no_compression() -> None:
    def script(conn: Conn) -> None:
        conn.head()
        conn.chunks([NDJSON.end(0)])
        conn.terminate()

    with (
        HostileServer(script) as srv,
        Client(srv.base_url, token="k-123", headers={"X-Trace": "t1"}) as client,
        client.records("/") as stream,
    ):
        list(stream)
    headers = srv.requests[0].headers
    assert headers["authorization"] == "Bearer k-123" and headers["x-trace"] == "t1"
    assert headers["accept-encoding"] == "identity"
    assert headers["accept"] == "application/x-ndjson"


def test_closes_only_a_session_it_made() -> None:
    session = requests.Session()
    closed: list[bool] = []
    session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    with Client(session=session):
        pass
    assert closed == []
    with Client() as own:
        own.session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    assert closed == [True]
