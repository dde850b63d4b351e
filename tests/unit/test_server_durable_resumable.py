"""Fast tier of streamer.server.durable.resumable: a resumable stream of the service read as
a Durable Stream at /v1/stream/resumable/<id>, whole, from a middle offset, over SSE, and
its end in-band; writes are refused."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from app import create_app
from streamer.server.durable.resumable import offset_of, record_after


@pytest.fixture
def client() -> FlaskClient:
    return create_app({"STREAMER_HEARTBEAT_S": "0.2", "STREAMER_DURABLE": "1"}).test_client()


def start(client: FlaskClient, count: int) -> str:
    """A finished resumable stream of ``count`` records (live reads: the real tier,
    tests/real/test_durable_clients.py)."""
    response = client.get(f"/stream/data?count={count}&interval=0&resumable=1&format=ndjson")
    sid: str = response.headers["X-Stream-Id"]
    return sid


def test_offsets_name_records() -> None:
    assert record_after(offset_of(42)) == 42 and record_after("-1") == 0
    assert offset_of(9) < offset_of(10)


@pytest.mark.timeout(20)
def test_the_records_with_the_end_in_band(client: FlaskClient) -> None:
    sid = start(client, 3)
    url = f"/v1/stream/resumable/{sid}"
    whole = client.get(url + "?offset=-1")
    assert whole.get_json() == [
        "data chunk 1\n",
        "data chunk 2\n",
        "data chunk 3\n",
        {"end": {"count": 3}},
    ]
    assert whole.headers["Stream-Closed"] == "true"
    after_one = client.get(f"{url}?offset={offset_of(1)}").get_json()
    assert after_one == ["data chunk 2\n", "data chunk 3\n", {"end": {"count": 3}}]
    head = client.head(url)
    assert head.headers["Stream-Next-Offset"] == offset_of(4)
    assert head.headers["Content-Type"] == "application/json"
    for method in ("put", "post", "delete"):
        refused = getattr(client, method)(url, data=b"x", headers={"Content-Type": "text/plain"})
        assert refused.status_code == 405 and refused.get_json()["error"]["type"] == "read_only"
    assert client.get("/v1/stream/resumable/" + "x" * 43).status_code == 404


@pytest.mark.timeout(20)
def test_sse_carries_the_records_and_closes(client: FlaskClient) -> None:
    sid = start(client, 5)
    response = client.get(f"/v1/stream/resumable/{sid}?offset=-1&live=sse")
    text = response.get_data(as_text=True)
    data = [
        json.loads(block.split("data:", 1)[1])
        for block in text.split("\n\n")
        if block.startswith("event: data")
    ]
    assert [d[0] for d in data] == [f"data chunk {i}\n" for i in range(1, 6)] + [
        {"end": {"count": 5}}
    ]
    assert text.rstrip().endswith('"streamClosed":true,"upToDate":true}')
