"""streamer.engine.lifecycle: a stream body's states and the only edges between them; why a stream
stops early (``Stop``), the first reason asked winning."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator

import gevent
import pytest

from streamer.engine import StreamAborted, StreamBody
from streamer.engine.lifecycle import FINAL, IllegalTransition, State, Stop, advance
from streamer.wire.decoders import NDJSONDecoder
from streamer.wire.framing import NDJSON
from streamer.wire.records import Data, Error

EDGES = {
    (State.NEW, State.OPEN),
    (State.NEW, State.DONE),
    (State.NEW, State.ABORTED),
    (State.OPEN, State.ENDING),
    (State.OPEN, State.DONE),
    (State.OPEN, State.ABORTED),
    (State.ENDING, State.DONE),
    (State.ENDING, State.ABORTED),
}


@pytest.mark.parametrize(("current", "to"), sorted(EDGES, key=str))
def test_the_diagram_edges_are_allowed(current: State, to: State) -> None:
    assert advance(current, to) is to


@pytest.mark.parametrize(
    ("current", "to"), sorted(set(itertools.product(State, State)) - EDGES, key=str)
)
def test_every_other_move_is_a_bug(current: State, to: State) -> None:
    with pytest.raises(IllegalTransition, match=f"{current.name.lower()} -> {to.name.lower()}"):
        advance(current, to)


def test_done_and_aborted_are_final() -> None:
    assert {State.DONE, State.ABORTED} == FINAL
    for state in FINAL:
        assert not any(advance_ok(state, to) for to in State)


def advance_ok(current: State, to: State) -> bool:
    try:
        advance(current, to)
    except IllegalTransition:
        return False
    return True


# -- why a stream stops: one Stop, the first reason asked wins ---------------------------------

ASK: dict[Stop, Callable[[StreamBody], None]] = {
    Stop.CLIENT_GONE: lambda body: body._client_gone(),
    Stop.SHUTDOWN: lambda body: body.shutdown(),
    Stop.DEADLINE: lambda body: body._on_deadline(),
    Stop.SEND_TIMEOUT: lambda body: body._send_timed_out(),
}
OUTCOME = {
    Stop.CLIENT_GONE: "disconnect",
    Stop.SHUTDOWN: "shutdown",
    Stop.DEADLINE: "timeout",
    Stop.SEND_TIMEOUT: "send_timeout",
}
LAST_RECORD = {
    Stop.SHUTDOWN: Error("shutdown", "the server is restarting; reconnect to continue"),
    Stop.DEADLINE: Error("timeout", "the stream exceeded its maximum duration of 60 s"),
}


@pytest.mark.parametrize("first", list(Stop), ids=lambda stop: stop.name.lower())
def test_the_first_stop_reason_wins(first: Stop) -> None:
    """Every watcher asks to stop, ``first`` before the others: the stream ends as ``first``
    says (its record, its outcome), and its producer is closed."""
    closed = []

    def producer() -> Iterator[str]:
        try:
            yield "a"
            gevent.sleep(60)
            yield "never"
        finally:
            closed.append(True)

    body = StreamBody(producer(), NDJSON, heartbeat_s=30.0, max_stream_s=60.0)
    body.wait_first(5.0)
    out = [next(body)]
    for stop in [first, *(s for s in Stop if s is not first)]:
        ASK[stop](body)
    assert body._stop is first
    with contextlib.suppress(StreamAborted):  # no socket to cut: it raises
        out.extend(body)
    gevent.sleep(0)  # the hub kills the pump: the producer's finally runs
    decoder = NDJSONDecoder()
    records = [*decoder.feed(b"".join(out)), *decoder.close()]
    assert records[0] == Data(1, "a")
    assert records[1:] == ([LAST_RECORD[first]] if first in LAST_RECORD else [])
    assert body.stats.outcome == OUTCOME[first] and body._state is State.ABORTED
    assert closed == [True]
