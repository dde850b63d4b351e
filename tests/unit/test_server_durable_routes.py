"""Fast tier of streamer.server.durable.routes: PUT, POST, HEAD, DELETE through Flask's test
client; refusals are JSON with the protocol's headers and the browser security headers."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from streamer import Streamer

TEXT = {"Content-Type": "text/plain"}


@pytest.fixture
def client() -> FlaskClient:
    app = Flask(__name__)
    app.config.update(STREAMER_DURABLE=True, STREAMER_DURABLE_LONG_POLL_S=0.2)
    Streamer(app)
    return app.test_client()


def assert_refused(response: object, status: int, type: str) -> None:
    assert getattr(response, "status_code", None) == status
    body = response.get_json()  # type: ignore[attr-defined]
    assert body["error"]["type"] == type and body["error"]["message"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # type: ignore[attr-defined]


def test_create_append_close_head_delete(client: FlaskClient) -> None:
    assert client.put("/v1/stream/s", headers={**TEXT, "Stream-TTL": "60"}).status_code == 201
    assert client.put("/v1/stream/s", headers={**TEXT, "Stream-TTL": "60"}).status_code == 200
    assert_refused(client.put("/v1/stream/s", headers=TEXT), 409, "conflict")
    appended = client.post("/v1/stream/s", data=b"x", headers=TEXT)
    assert appended.status_code == 204 and "Content-Type" not in appended.headers
    closed = client.post("/v1/stream/s", headers={"Stream-Closed": "true"})
    assert closed.status_code == 204 and closed.headers["Stream-Closed"] == "true"
    late = client.post("/v1/stream/s", data=b"y", headers=TEXT)
    assert_refused(late, 409, "stream_closed")
    assert late.headers["Stream-Closed"] == "true"
    assert late.headers["Stream-Next-Offset"] == appended.headers["Stream-Next-Offset"]
    head = client.head("/v1/stream/s")
    assert head.headers["Stream-TTL"] == "60" and head.headers["Cache-Control"] == "no-store"
    assert head.headers["Stream-Closed"] == "true"
    assert client.delete("/v1/stream/s").status_code == 204
    assert_refused(client.delete("/v1/stream/s"), 404, "not_found")


@pytest.mark.parametrize(
    ("headers", "body", "type"),
    [
        pytest.param(
            {"Stream-TTL": "1", "Stream-Expires-At": "2030-01-01T00:00:00Z"},
            b"",
            "invalid_expiry",
            id="both",
        ),
        pytest.param({"Stream-TTL": "01"}, b"", "invalid_ttl", id="ttl"),
        pytest.param({"Content-Type": "application/json"}, b"{", "invalid_json", id="json"),
        pytest.param(
            {"Stream-Forked-From": "/v1/stream/x", "Stream-Fork-Offset": "?"},
            b"",
            "invalid_offset",
            id="fork-offset",
        ),
    ],
)
def test_bad_puts_are_400(
    client: FlaskClient, headers: dict[str, str], body: bytes, type: str
) -> None:
    assert_refused(client.put("/v1/stream/bad", headers=headers, data=body), 400, type)


def test_producer_refusals_carry_their_headers(client: FlaskClient) -> None:
    client.put("/v1/stream/p", headers=TEXT)

    def send(epoch: int, seq: int) -> object:
        producer = {"Producer-Id": "w", "Producer-Epoch": str(epoch), "Producer-Seq": str(seq)}
        return client.post("/v1/stream/p", data=b"x", headers={**TEXT, **producer})

    first = send(1, 0)
    assert first.status_code == 200 and first.headers["Producer-Seq"] == "0"  # type: ignore[attr-defined]
    assert send(1, 0).status_code == 204  # type: ignore[attr-defined]
    gap = send(1, 5)
    assert_refused(gap, 409, "producer_sequence_gap")
    assert gap.headers["Producer-Expected-Seq"] == "1"  # type: ignore[attr-defined]
    stale = send(0, 0)
    assert_refused(stale, 403, "stale_producer_epoch")
    assert stale.headers["Producer-Epoch"] == "1"  # type: ignore[attr-defined]
    assert_refused(
        client.post("/v1/stream/p", data=b"x", headers={**TEXT, "Producer-Id": "w"}),
        400,
        "invalid_producer",
    )


def test_append_needs_a_body_and_a_matching_type(client: FlaskClient) -> None:
    client.put("/v1/stream/t", headers=TEXT)
    assert_refused(client.post("/v1/stream/t", headers=TEXT), 400, "empty_body")
    assert_refused(client.post("/v1/stream/t", data=b"x"), 400, "missing_content_type")
    assert_refused(
        client.post("/v1/stream/t", data=b"x", headers={"Content-Type": "text/html"}),
        409,
        "content_type_mismatch",
    )
    assert_refused(client.post("/v1/stream/none", data=b"x", headers=TEXT), 404, "not_found")


def test_reserved_paths_are_not_streams(client: FlaskClient) -> None:
    assert_refused(client.put("/v1/stream/__ds/subscriptions/a"), 404, "not_found")


def test_with_client_keys_a_stream_is_its_creators_keys() -> None:
    from app import create_app

    app = create_app({"STREAMER_API_KEYS": "key-a-0123456789abcdef,key-b-0123456789abcdef"})
    client = app.test_client()
    a = {"Authorization": "Bearer key-a-0123456789abcdef", **TEXT}
    b = {"Authorization": "Bearer key-b-0123456789abcdef", **TEXT}
    assert client.put("/v1/stream/mine", headers=a, data=b"x").status_code == 201
    assert client.get("/v1/stream/mine", headers=a).data == b"x"
    assert_refused(client.put("/v1/stream/mine", headers=b), 409, "conflict")
    for method in ("get", "post", "delete"):
        refused = getattr(client, method)("/v1/stream/mine", headers=b, data=b"y")
        assert_refused(refused, 404, "not_found")
    assert client.head("/v1/stream/mine", headers=b).status_code == 404
    fork = {**b, "Stream-Forked-From": "/v1/stream/mine"}
    assert_refused(client.put("/v1/stream/theirs", headers=fork), 404, "source_missing")
    anonymous = client.get("/v1/stream/mine")
    assert anonymous.status_code == 401 and anonymous.is_json
    assert client.get("/v1/stream/mine", headers=a).data == b"x"  # untouched by b


def test_with_client_keys_a_live_read_holds_one_of_the_keys_slots() -> None:
    from app import create_app

    app = create_app(
        {
            "STREAMER_API_KEYS": "key-a-0123456789abcdef,key-b-0123456789abcdef",
            "STREAMER_MAX_STREAMS_PER_KEY": "1",
            "STREAMER_DURABLE_LONG_POLL_S": "0.2",
        }
    )
    client = app.test_client()
    a = {"Authorization": "Bearer key-a-0123456789abcdef"}
    assert client.put("/v1/stream/slots", headers={**a, **TEXT}).status_code == 201
    held = client.get("/v1/stream/slots?offset=-1&live=sse", headers=a, buffered=False)
    next(iter(held.response))
    for live in ("sse", "long-poll"):
        over = client.get(f"/v1/stream/slots?offset=-1&live={live}", headers=a)
        assert_refused(over, 429, "too_many_streams_for_key")
        assert over.headers["Retry-After"] == "1"
    # Catch-up reads and writes are requests, not open streams: no slot.
    assert client.get("/v1/stream/slots?offset=-1", headers=a).status_code == 200
    assert client.post("/v1/stream/slots", headers={**a, **TEXT}, data=b"x").status_code == 204
    assert client.head("/v1/stream/slots", headers=a).status_code == 200
    held.close()
    tail = client.head("/v1/stream/slots", headers=a).headers["Stream-Next-Offset"]
    poll = client.get(f"/v1/stream/slots?offset={tail}&live=long-poll", headers=a)
    assert poll.status_code == 204  # released: the long-poll waits its 0.2 s
