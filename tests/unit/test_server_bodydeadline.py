"""Fast tier of streamer.server.bodydeadline: a request body read with a deadline (issue 18 row 1);
tests/real/test_edges_live.py sends slow bodies to gunicorn."""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import gevent
import pytest
from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkSize

from streamer.server.bodydeadline import (
    BodyDeadline,
    BodyTimeout,
    DeadlineInput,
    DropLog,
    MalformedBody,
)


class _Stalling:
    """A body whose first ``ready`` bytes are there at once and the rest never come."""

    def __init__(self, data: bytes, ready: int) -> None:
        self._data, self._ready = io.BytesIO(data), ready

    def read(self, size: int) -> bytes:
        if self._data.tell() + size > self._ready:
            gevent.sleep(30)  # cooperative: the piece's timer interrupts it
        return self._data.read(size)

    def readline(self, size: int) -> bytes:
        return self._data.readline(size)


def test_deadline_input_reads_like_wsgi_input() -> None:
    data = b"".join(b"line %d\n" % i for i in range(5000))
    make = lambda: DeadlineInput(io.BytesIO(data), timeout_s=5, min_rate=500)  # noqa: E731
    assert make().read() == data
    assert make().read(70_000) == data[:70_000]
    assert make().readline() == b"line 0\n"
    assert make().readline(3) == b"lin"
    assert b"".join(make()) == data
    assert len(make().readlines()) == 5000
    body = make()
    assert body.read(10) + body.read(-1) == data and body.read() == b""


@pytest.mark.timeout(10)
def test_deadline_input_drops_a_stalled_body_once() -> None:
    dropped: list[str] = []
    body = DeadlineInput(
        _Stalling(b"x" * 5000, 3072), timeout_s=0.3, min_rate=0, on_drop=dropped.append, length=5000
    )
    start = time.monotonic()
    with pytest.raises(BodyTimeout) as info:
        body.read()
    assert 0.25 < time.monotonic() - start < 2
    assert info.value.status == 408 and info.value.code == 408
    assert info.value.message == "the request body did not arrive within 0.3 s (3072 of 5000 bytes)"
    with pytest.raises(BodyTimeout):
        body.read()  # still refused, but logged and counted once
    assert dropped == ["timeout"]


@pytest.mark.timeout(10)
def test_deadline_input_rate_floor_uses_the_start_time() -> None:
    # 5 s of credit are spent already: 1 KiB more at 100,000 B/s is due in 10 ms.
    body = DeadlineInput(
        _Stalling(b"x" * 5000, 0), timeout_s=30, min_rate=100_000, start=time.monotonic() - 5
    )
    with pytest.raises(BodyTimeout, match="slower than 100000 bytes/s"):
        body.read()


class _BadFraming:
    """A server's body reader that meets bytes it cannot frame after ``good`` bytes."""

    def __init__(self, exc: BaseException, good: int = 0) -> None:
        self._exc, self._good = exc, good

    def read(self, size: int) -> bytes:
        if self._good:
            self._good, size = 0, min(size, self._good)
            return b"x" * size
        raise self._exc

    readline = read


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(InvalidChunkSize(b"ZZ"), id="gunicorn-chunk-size"),
        pytest.param(ChunkMissingTerminator(b"ab"), id="gunicorn-terminator"),
        pytest.param(OSError("Invalid chunk header"), id="pywsgi-ioerror"),
        pytest.param(ValueError("invalid literal for int() with base 16: 'ZZ'"), id="valueerror"),
    ],
)
def test_bad_body_framing_is_a_400_naming_it(exc: Exception) -> None:
    body = DeadlineInput(_BadFraming(exc, good=10), timeout_s=5, min_rate=500)
    with pytest.raises(MalformedBody) as info:
        body.read()
    assert (info.value.status, info.value.type) == (400, "malformed_body")
    assert info.value.message.startswith("the request body is malformed: ")
    assert info.value.__cause__ is exc
    with pytest.raises(MalformedBody):
        body.readline()  # the body stays refused


def test_a_malformed_body_quotes_at_most_40_characters_of_it() -> None:
    body = DeadlineInput(_BadFraming(InvalidChunkSize(b"Z" * 500)), timeout_s=5, min_rate=500)
    with pytest.raises(MalformedBody) as info:
        body.read()
    assert "Z" * 41 not in info.value.message and len(info.value.message) < 120, info.value
    assert "Invalid chunk size" in info.value.message


@pytest.mark.parametrize(
    "exc", [ConnectionResetError(104, "reset"), TimeoutError("timed out")], ids=["reset", "timeout"]
)
def test_a_failed_connection_is_not_called_a_malformed_body(exc: Exception) -> None:
    body = DeadlineInput(_BadFraming(exc), timeout_s=5, min_rate=500)
    with pytest.raises(type(exc)):
        body.read()


def _drops(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "streamer.body"]


@pytest.mark.timeout(20)
def test_a_flood_of_dropped_bodies_is_logged_once_and_every_drop_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Through the middleware, as an app serves them: each request's body stalls past 10 ms.
    counted: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with pytest.raises(BodyTimeout):
            environ["wsgi.input"].read()
        return []

    wrapped = BodyDeadline(app, timeout_s=0.01, min_rate=0, on_drop=counted.append)
    caplog.set_level(logging.WARNING, "streamer.body")
    for _ in range(50):
        environ = {"CONTENT_LENGTH": "5000", "wsgi.input": _Stalling(b"x" * 5000, 0)}
        wrapped(environ, lambda *a: None)
    assert counted == ["timeout"] * 50  # the metric sees every drop
    assert len(_drops(caplog)) == 1, _drops(caplog)[:3]  # the log, the first (one window)
    assert _drops(caplog)[0].startswith("request body dropped: reason=timeout route=")


def test_drop_log_summarises_a_window_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    timers: list[tuple[float, Any]] = []
    drops = DropLog(10.0, clock=lambda: now[0], later=lambda delay, fn: timers.append((delay, fn)))
    caplog.set_level(logging.WARNING, "streamer.body")
    drops.dropped("slow", "/chat", 0, 100000, 7.1)  # the first: in full, at once
    assert _drops(caplog) == [
        "request body dropped: reason=slow route=/chat received=0 length=100000 after_s=7.1"
    ]
    for i in range(2999):  # 8 s of a flood
        now[0] = 100.0 + 8.0 * i / 2999
        drops.dropped("slow" if i % 3 else "timeout", "/chat", 0, None, 7.0)
    assert len(_drops(caplog)) == 1  # counted, not logged
    assert len(timers) == 1 and timers[0][0] == pytest.approx(10.0)  # one timer, at the end
    now[0] = 110.0
    timers[0][1]()  # the window ends
    assert _drops(caplog)[1] == (
        "2999 more request bodies dropped in the last 10 s (slow=1999, timeout=1000)"
    )
    timers[0][1]()  # a second flush with nothing counted says nothing
    assert len(_drops(caplog)) == 2
    now[0] = 111.0
    drops.dropped("timeout", "/v1/chat/completions", 5, 9, 30.0)  # a new window: in full
    assert _drops(caplog)[2].startswith("request body dropped: reason=timeout route=/v1/")
    assert len(timers) == 1


def test_drop_log_flushes_a_window_whose_timer_has_not_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    drops = DropLog(10.0, clock=lambda: now[0], later=lambda delay, fn: None)
    caplog.set_level(logging.WARNING, "streamer.body")
    drops.dropped("slow", "/chat", 0, None, 7.0)
    drops.dropped("slow", "/chat", 0, None, 7.0)
    now[0] = 12.0
    drops.dropped("slow", "/chat", 0, None, 7.0)
    assert [m.split(":")[0].split(" (")[0] for m in _drops(caplog)] == [
        "request body dropped",
        "1 more request bodies dropped in the last 10 s",
        "request body dropped",
    ]
