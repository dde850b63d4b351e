"""Fast tier of streamer.server.durable.records: a Durable Stream read with streamer's
formats at GET /streams/<path>: numbered records, a resume after Last-Event-ID, the End of a
closed stream, base64 for bytes."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from streamer import Streamer
from streamer.errors import BadRequest
from streamer.server.durable.records import Cursor, DurableRecords, records
from streamer.store.durable import ZERO, AppendSpec, CreateSpec, Info, Message
from streamer.store.durable.memory import MemoryDurableStore
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
    assert records("application/json", json_msgs, closed=True) == [
        Data(1, {"a": 1}),
        Data(2, [2]),
        Data(3, "x"),
        End(3),
    ]
    assert records("text/plain", [Message("é".encode(), ZERO)]) == [Data(1, "é")]
    assert records("application/octet-stream", [Message(b"\xff", ZERO)]) == [Data(1, "/w==")]


@pytest.mark.timeout(20)
def test_records_follow_the_records_before_them() -> None:
    got = records("application/json", [Message(b"7,8,", ZERO)], 5, closed=True)
    assert got == [Data(6, 7), Data(7, 8), End(7)]


class Counting(MemoryDurableStore):
    """The memory store, recording the offset of each read; ``bound``: at most that many
    messages a read, as the Redis store's reads are bounded in bytes."""

    def __init__(self, bound: int | None = None) -> None:
        super().__init__()
        self.bound = bound
        self.reads: list[str] = []

    def read(self, path: str, offset: str) -> tuple[Info, list[Message]] | None:
        self.reads.append(offset)
        got = super().read(path, offset)
        if got is None or self.bound is None:
            return got
        return got[0], got[1][: self.bound]


def stream_of(durable: MemoryDurableStore, n: int) -> str:
    durable.create(PATH, CreateSpec("text/plain"))
    for i in range(n):
        durable.append(PATH, AppendSpec(f"m{i + 1}".encode()))
    return PATH


def test_a_followers_cursor_reads_only_the_new_messages() -> None:
    durable = Counting()
    read = DurableRecords(durable).reader(stream_of(durable, 3))
    assert isinstance(read, Cursor)
    assert read(0, 0) == [Data(1, "m1"), Data(2, "m2"), Data(3, "m3")]
    tail = durable.reads[-1]
    durable.append(PATH, AppendSpec(b"m4"))
    assert read(3, 0) == [Data(4, "m4")]
    assert durable.reads[-1] != ZERO and durable.reads[-1] > tail  # from where it left off
    durable.append(PATH, AppendSpec(b"", close=True))
    assert read(4, 0) == [End(4)]
    # An earlier id (a resume further back): from the start again, numbered alike.
    assert read(1, 0) == [Data(2, "m2"), Data(3, "m3"), Data(4, "m4"), End(4)]
    assert durable.reads[-1] == ZERO


def test_a_bounded_store_read_is_continued_not_taken_for_the_end() -> None:
    durable = Counting(bound=2)
    path = stream_of(durable, 5)
    durable.append(path, AppendSpec(b"", close=True))
    faces = DurableRecords(durable)
    # A resume from id 4: further on than one read reaches, not past the end.
    assert faces.read(path, 4, 0) == [Data(5, "m5"), End(5)]
    read = faces.reader(path)
    got: list[object] = []
    while not got or not isinstance(got[-1], End):
        last = got[-1].id if got else 0  # type: ignore[attr-defined]
        got += read(last, 0)
    assert got == [*(Data(i, f"m{i}") for i in range(1, 6)), End(5)]
    with pytest.raises(BadRequest):
        faces.read(path, 6, 0)  # past the end: still the 400


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


def test_a_durable_stream_with_a_path_has_its_streamer_face_at_that_path(
    client: FlaskClient,
) -> None:
    path = "rooms/42/chat.v1"
    client.put(f"/v1/stream/{path}", headers={"Content-Type": "text/plain"}, data=b"hi")
    closing = {"Content-Type": "text/plain", "Stream-Closed": "true"}
    client.post(f"/v1/stream/{path}", headers=closing, data=b"there")
    read = client.get(f"/streams/{path}?format=ndjson", headers={"Last-Event-ID": "1"})
    assert read.status_code == 200 and read.headers["X-Stream-Id"] == path
    assert [json.loads(line) for line in read.get_data(as_text=True).splitlines()] == [
        {"event": "data", "id": 2, "data": "there"},
        {"event": "end", "count": 2},
    ]
    # Only URL-safe segments name a face, and an unknown path is the 404 of an unknown id.
    for bad in ("rooms/42/missing", "rooms/../42", "rooms//42", "rooms/%C3%A9"):
        got = client.get(f"/streams/{bad}")
        assert got.status_code == 404, bad
        assert got.get_json()["error"]["type"] == "not_found"
    assert client.delete(f"/streams/{path}").status_code == 405  # written over the protocol
