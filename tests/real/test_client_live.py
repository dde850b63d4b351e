"""Real tier of tests/unit/test_client.py: the same subject through gunicorn on loopback
(and redis-server where it says so)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from streamer import Client, Data, End, IncompleteStream, StreamErrorRecord
from streamer.errors import HTTPStatusError, IdleTimeout

from ..conftest import Server
from ..unit.test_client import collect


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    """A client of the session's gunicorn server (this fixture lived in the fast tier's
    tests/unit/test_client.py, which must not start gunicorn)."""
    with Client(server.base_url, timeout=10) as c:
        yield c


def chunks_expected(n: int) -> list[Data | End]:
    return [*(Data(i, f"data chunk {i}\n") for i in range(1, n + 1)), End(n)]


@pytest.mark.real
@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_real_stream_data_records_arrive_as_produced(client: Client, fmt: str) -> None:
    start = time.monotonic()
    arrivals = []
    with client.records("/stream/data", params={"count": 5, "interval": 0.3}, format=fmt) as stream:
        for record in stream:
            arrivals.append((time.monotonic() - start, record))
    assert [r for _, r in arrivals] == chunks_expected(5)
    assert stream.format == fmt and stream.end == End(5)
    # The producer needs 1.2 s; the first record must not wait for the last.
    assert arrivals[0][0] < arrivals[-1][0] - 0.8, arrivals


@pytest.mark.real
@pytest.mark.timeout(30)
def test_real_stream_data_as_text(client: Client) -> None:
    start = time.monotonic()
    arrivals = []
    with client.text("/stream/data?count=5&interval=0.3") as text:
        for piece in text:
            arrivals.append((time.monotonic() - start, piece))
    assert "".join(p for _, p in arrivals) == "".join(f"data chunk {i}\n" for i in range(1, 6))
    assert text.complete and text.encoding == "utf-8"
    assert arrivals[0][0] < arrivals[-1][0] - 0.8, arrivals


@pytest.mark.real
@pytest.mark.timeout(30)
def test_real_fast_stream_many_records(client: Client) -> None:
    with client.records("/stream/data?count=20000&interval=0") as stream:
        got = list(stream)
    assert (
        len(got) == 20001 and got[-1] == End(20000) and got[-2] == Data(20000, "data chunk 20000\n")
    )


@pytest.mark.real
@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_real_failure_after_three_records_is_an_error_record(client: Client, fmt: str) -> None:
    with (
        client.records(f"/_test/stream?count=10&fail_after=3&format={fmt}") as stream,
        pytest.raises(StreamErrorRecord) as info,
    ):
        collect(stream)
    assert [r.id for r in info.value.got] == [1, 2, 3]  # type: ignore[attr-defined]
    assert (info.value.type, info.value.message, info.value.received) == (
        "internal_error",
        "internal error",
        3,
    )


@pytest.mark.real
@pytest.mark.timeout(30)
def test_real_failure_after_three_items_makes_text_incomplete(client: Client) -> None:
    with (
        client.text("/_test/stream?count=10&fail_after=3") as text,
        pytest.raises(IncompleteStream),
    ):
        collect(text)
    assert text.received == len("item 1\nitem 2\nitem 3\n")


@pytest.mark.real
@pytest.mark.timeout(30)
def test_real_errors_before_the_first_byte(client: Client) -> None:
    with pytest.raises(HTTPStatusError) as info:
        client.records("/_test/stream?fail_before=1&error=upstream")
    assert (info.value.status_code, info.value.type, info.value.message) == (
        502,
        "upstream_error",
        "the upstream failed",
    )
    with pytest.raises(HTTPStatusError) as info:
        client.text("/stream/data", params={"count": -5})
    assert (info.value.status_code, info.value.type) == (400, "invalid_parameter")
    assert "'count'" in info.value.message


@pytest.mark.real
@pytest.mark.timeout(30)
def test_real_heartbeats_keep_a_quiet_stream_alive_but_silence_times_out(server: Server) -> None:
    # The producer is quiet for 1.6 s; the server pings every 0.5 s; we allow 1 s of silence.
    with Client(server.base_url, timeout=1.0) as client:
        with client.records("/_test/stream?count=1&idle_first=1.6") as stream:
            assert list(stream) == [Data(1, "item 1\n"), End(1)]
        # Text has no heartbeats: the same quiet producer is silence.
        with (
            pytest.raises(IdleTimeout),
            client.text("/_test/stream?count=1&idle_first=2.5") as text,
        ):
            list(text)


@pytest.mark.real
@pytest.mark.timeout(60)
def test_real_worker_killed_mid_stream_is_resumed_without_duplicates(make_server: Any) -> None:
    # The worker serving the stream dies (SIGKILL) after record 3; gunicorn starts another,
    # the client reconnects with Last-Event-ID: 3. /stream/data ignores the header and
    # replays from 1, so this also proves that the client drops what it has already seen.
    srv = make_server({"STREAMER_HEARTBEAT_S": "0.5"})
    with (
        Client(srv.base_url, timeout=15) as client,
        client.records("/stream/data?count=10&interval=0.1", resume=True, backoff=0.2) as stream,
    ):
        got = []
        for record in stream:
            got.append(record)
            if isinstance(record, Data) and record.id == 3:
                for pid in srv.worker_pids():
                    os.kill(pid, signal.SIGKILL)
    assert got == chunks_expected(10)
    assert stream.reconnects >= 1
