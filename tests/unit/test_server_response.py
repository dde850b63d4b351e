"""Fast tier: the response helper and the views through Flask's test client."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from streamer.server.response import stream_for_request
from streamer.service.settings import ServiceConfig
from streamer.wire.decoders import NDJSONDecoder, SSEDecoder
from streamer.wire.records import Data, End


def records(body: bytes, fmt: str = "ndjson") -> list[Any]:
    decoder = NDJSONDecoder() if fmt == "ndjson" else SSEDecoder()
    return [*decoder.feed(body), *decoder.close()]


@pytest.mark.parametrize(
    ("query", "accept", "media"),
    [
        pytest.param("", None, "text/plain; charset=utf-8", id="default"),
        pytest.param("&format=ndjson", None, "application/x-ndjson", id="query-ndjson"),
        # Exactly, no charset parameter: strict SSE clients compare the whole header, and
        # text/event-stream is UTF-8 by definition (WHATWG 9.2.5).
        pytest.param("", "text/event-stream", "text/event-stream", id="accept-sse"),
        pytest.param("", "application/x-ndjson;q=0.9, */*", "application/x-ndjson", id="accept"),
        pytest.param(
            "&format=text", "text/event-stream", "text/plain; charset=utf-8", id="query-wins"
        ),
    ],
)
def test_format_negotiation_and_headers(
    client: FlaskClient, query: str, accept: str | None, media: str
) -> None:
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
    assert nd == [
        Data(1, "data chunk 1\n"),
        Data(2, "data chunk 2\n"),
        Data(3, "data chunk 3\n"),
        End(3),
    ]
    body = client.get("/stream/data?count=2&interval=0&format=sse").data
    assert body.startswith(b"retry: 3000\nid: 1\ndata: data chunk 1\n")
    assert records(body, "sse") == [Data(1, "data chunk 1\n"), Data(2, "data chunk 2\n"), End(2)]


def test_series_is_reproducible_with_a_seed(client: FlaskClient) -> None:
    url = "/stream/series?count=20&interval=0&seed=7&format=ndjson"
    first, second = records(client.get(url).data), records(client.get(url).data)
    assert first == second and len(first) == 21
    other = records(client.get(url.replace("seed=7", "seed=8")).data)
    assert other != first
    assert all(isinstance(r.data["y"], float) for r in first[:-1])


@pytest.mark.parametrize(
    "query",
    [
        "count=-1",
        "count=abc",
        "count=100001",
        "interval=nan",
        "interval=61",
        "interval=-0.5",
        "format=xml",
    ],
)
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
        "error": {"type": "not_found", "message": missing.json["error"]["message"]}
    }
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
    assert upstream.json == {"error": {"type": "upstream_error", "message": "the upstream failed"}}


def make_view_app(producer_factory: Any, **config: Any) -> FlaskClient:
    app = create_app(ServiceConfig(heartbeat_s=0.2, **config))

    @app.get("/p")
    def view() -> Any:
        return stream_for_request(producer_factory())

    return app.test_client()
