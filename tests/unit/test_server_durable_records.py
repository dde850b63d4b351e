"""Fast tier of streamer.server.durable.records: a Durable Stream read with streamer's
formats at GET /streams/<path>: numbered records, a resume after Last-Event-ID, the End of a
closed stream, base64 for bytes."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from streamer import Streamer
from streamer.server.durable.records import records
from streamer.store.durable import ZERO, Info, Message
from streamer.wire.records import Data, End

PATH = "chat-0123456789abcdef"  # the shape of a stream id


@pytest.fixture
def client() -> FlaskClient:
    app = Flask(__name__)
    app.config.update(STREAMER_DURABLE=True, STREAMER_HEARTBEAT_S=0.2)
    Streamer(app)
    return app.test_client()


def test_records_of_each_content_type() -> None:
    json_msgs = [Message(b'{"a":1},[2],', ZERO), Message(b'"x",', ZERO)]
    assert records(Info("application/json", ZERO, closed=True), json_msgs) == [
        Data(1, {"a": 1}),
        Data(2, [2]),
        Data(3, "x"),
        End(3),
    ]
    assert records(Info("text/plain", ZERO), [Message("é".encode(), ZERO)]) == [Data(1, "é")]
    assert records(Info("application/octet-stream", ZERO), [Message(b"\xff", ZERO)]) == [
        Data(1, "/w==")
    ]


@pytest.mark.timeout(20)
def test_a_closed_durable_stream_is_served_as_records(client: FlaskClient) -> None:
    url = f"/v1/stream/{PATH}"
    json_type = {"Content-Type": "application/json"}
    client.put(url, headers=json_type, data=b'[{"n":1},{"n":2}]')
    client.post(url, headers={**json_type, "Stream-Closed": "true"}, data=b'{"n":3}')
    lines = client.get(f"/streams/{PATH}?format=ndjson").get_data(as_text=True).splitlines()
    assert [json.loads(line) for line in lines] == [
        {"event": "data", "id": 1, "data": {"n": 1}},
        {"event": "data", "id": 2, "data": {"n": 2}},
        {"event": "data", "id": 3, "data": {"n": 3}},
        {"event": "end", "count": 3},
    ]
    resumed = client.get(f"/streams/{PATH}?format=ndjson", headers={"Last-Event-ID": "2"})
    assert [json.loads(line)["event"] for line in resumed.get_data(as_text=True).splitlines()] == [
        "data",
        "end",
    ]
    past = client.get(f"/streams/{PATH}?format=ndjson", headers={"Last-Event-ID": "9"})
    assert past.status_code == 400 and past.get_json()["error"]["type"] == "invalid_last_event_id"
    # An EventSource that saw the end (its id: one past the last record) is told to stop.
    at_end = client.get(f"/streams/{PATH}?format=sse", headers={"Last-Event-ID": "4"})
    assert at_end.status_code == 204
    assert client.get("/streams/" + "y" * 20).status_code == 404  # neither kind of stream
