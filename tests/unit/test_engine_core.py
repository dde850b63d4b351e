"""streamer.engine.core: timer seconds that both of gevent's loops take alike, and who runs the
producer (the inline strategy or a pump greenlet), with the hand-over between them in either
direction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import gevent
import gevent.socket
import pytest

from streamer.engine import StreamBody
from streamer.engine.core import MAX_BUFFER, hand_over, loop_s
from streamer.engine.inline import INLINE
from streamer.engine.pump import PUMP
from streamer.wire.framing import Text


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-1.0, 0.0),
        (0.0, 0.0),
        (0.00012, 0.001),
        (0.0009999, 0.001),
        (0.001, 0.001),
        (0.25, 0.25),
    ],
)
def test_no_timer_is_below_libuvs_millisecond(seconds: float, expected: float) -> None:
    assert loop_s(seconds) == expected


@contextlib.contextmanager
def inline_body(producer: Iterator[str]) -> Iterator[StreamBody]:
    """A text body over a chunked socket: the inline strategy's case."""
    ours, peer = gevent.socket.socketpair()
    with ours, peer:
        body = StreamBody(
            producer, Text, heartbeat_s=30.0, max_stream_s=60.0, sock=ours, chunked=True
        )
        try:
            yield body
        finally:
            body.close()


def test_the_first_items_pump_hands_the_producer_to_the_handler() -> None:
    """The pump greenlet fetches the first item and ends there; the greenlet that iterates the
    body resumes the producer for every item after it."""
    runs_in = []

    def producer() -> Iterator[str]:
        for i in range(3):
            runs_in.append(gevent.getcurrent())
            yield f"{i}\n"
            gevent.sleep(0.001)  # blocks: stays inline

    with inline_body(producer()) as body:
        body.wait_first(5.0)
        assert body._strategy is INLINE and body._pump is None
        assert b"".join(body) == b"0\n1\n2\n"
    assert runs_in[0] is not gevent.getcurrent()
    assert runs_in[1:] == [gevent.getcurrent()] * 2
    assert body._strategy is INLINE and body.stats.outcome == "complete"


def test_a_bulk_producer_goes_from_inline_to_a_pump(monkeypatch: pytest.MonkeyPatch) -> None:
    """A producer that fills MAX_BUFFER without blocking is handed to a new pump mid-stream,
    which resumes it where the handler left it: nothing lost, nothing twice."""
    monkeypatch.setattr("streamer.engine.inline.MAX_BATCH_S", 60.0)  # no early break
    records = [f"{i:09}\n" * 100 for i in range(300)]  # 1 KB each: 300 KB
    with inline_body(iter(records)) as body:
        body.wait_first(5.0)
        out = [next(body)]  # the headers and the first item
        assert body._strategy is INLINE
        out.append(next(body))  # inline, up to a full buffer: then the hand-over
        assert len(out[1]) >= MAX_BUFFER
        assert body._strategy is PUMP and body._pump is not None
        out.extend(body)
    assert b"".join(out) == "".join(records).encode()
    assert body.stats.outcome == "complete" and body.stats.records == len(records)


def test_a_pump_hands_over_to_inline_after_its_current_item() -> None:
    """Through the interface, either way: a running pump ends after its current item once
    another strategy is in charge, and that one resumes the producer."""
    runs_in = []

    def producer() -> Iterator[str]:
        for i in range(4):
            runs_in.append(gevent.getcurrent())
            yield f"{i}\n"
            gevent.sleep(0.001)

    body = StreamBody(producer(), Text, heartbeat_s=30.0, max_stream_s=60.0)
    body.wait_first(5.0)
    assert body._strategy is PUMP
    out = [next(body)]
    hand_over(body, INLINE)
    out.extend(body)
    assert b"".join(out) == b"0\n1\n2\n3\n"
    assert runs_in[0] is not gevent.getcurrent() and runs_in[-1] is gevent.getcurrent()
    assert body._pump is None and body.stats.outcome == "complete"
