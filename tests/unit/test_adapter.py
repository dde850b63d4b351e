"""Tests of streamer.adapter, the async-to-sync bridge.

This process stays unpatched. Consumers run in two contexts, as in real use: a plain thread
(no gevent hub: blocks on a real lock) and a greenlet on this thread's hub (waits in the hub).
What needs a patched process (the hub never blocked, to_thread, name lookup, fork) runs in
tests/_adapter_gevent_check.py in a subprocess (tests/real/test_adapter_live.py). Every wait
has a deadline.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, TypeVar

import gevent
import pytest

from streamer.adapter import CLOSE_WAIT_S, SyncStream, iterate_async, loop_local, run_sync

T = TypeVar("T")
DEADLINE = 30.0  # seconds; generous: the machine is shared and noisy


def in_thread(fn: Callable[[], T]) -> T:
    """Run fn in a fresh OS thread (no gevent hub there) and return its result."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(DEADLINE)
    assert not t.is_alive(), f"consumer thread still running after {DEADLINE} s"
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def in_greenlet(fn: Callable[[], T]) -> T:
    """Run fn in a greenlet on this thread's hub and return its result."""
    g = gevent.spawn(fn)
    g.join(DEADLINE)
    if not g.ready():
        g.kill(block=False)
        pytest.fail(f"consumer greenlet still running after {DEADLINE} s")
    return g.get()  # type: ignore[no-any-return]


@pytest.fixture(params=[in_thread, in_greenlet], ids=["thread", "greenlet"])
def consume(request: pytest.FixtureRequest) -> Callable[[Callable[[], Any]], Any]:
    return request.param  # type: ignore[no-any-return]


def wait_until(cond: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


async def numbers(n: int, every: int = 10) -> AsyncIterator[int]:
    for i in range(n):
        if i % every == 0:
            await asyncio.sleep(0)  # a real suspension now and then
        yield i


# -- items, ends, errors -----------------------------------------------------------------------


def test_items_arrive_in_order(consume: Callable[[Callable[[], Any]], Any]) -> None:
    assert consume(lambda: list(iterate_async(lambda: numbers(5000), buffer=16))) == list(
        range(5000)
    )


def test_first_item_arrives_before_producer_ends(
    consume: Callable[[Callable[[], Any]], Any],
) -> None:
    finished = threading.Event()

    async def slow() -> AsyncIterator[str]:
        yield "first"
        await asyncio.sleep(0.2)
        yield "second"
        finished.set()

    def body() -> tuple[str, bool, list[str]]:
        stream = iterate_async(slow)
        first = next(stream)
        return first, finished.is_set(), list(stream)

    first, finished_before_first, rest = consume(body)
    assert (first, finished_before_first, rest) == ("first", False, ["second"])


def test_end_is_stop_iteration_and_stays_ended(
    consume: Callable[[Callable[[], Any]], Any],
) -> None:
    def body() -> list[bool]:
        stream = iterate_async(lambda: numbers(2))
        assert [next(stream), next(stream)] == [0, 1]
        ends = []
        for _ in range(3):
            try:
                next(stream)
                ends.append(False)
            except StopIteration:
                ends.append(True)
        return ends

    assert consume(body) == [True, True, True]


def test_exception_reaches_consumer_as_raised(
    consume: Callable[[Callable[[], Any]], Any],
) -> None:
    error = LookupError("upstream went away")

    async def failing_producer() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(0.01)
        raise error

    def body() -> tuple[list[int], BaseException | None, bool]:
        stream = iterate_async(failing_producer)
        got = [next(stream)]
        caught = None
        try:
            next(stream)
        except LookupError as exc:
            caught = exc
        try:
            next(stream)
            ended = False
        except StopIteration:
            ended = True
        return got, caught, ended

    got, caught, ended = consume(body)
    assert got == [1]
    assert caught is error  # the same object, not a copy or a wrapper
    frames = [f.name for f in traceback.extract_tb(error.__traceback__)]
    assert "failing_producer" in frames  # the producer's frame is kept
    assert error.__context__ is None  # the adapter added no context of its own
    assert ended  # after the error, the stream is over


def test_factory_error_reaches_consumer(consume: Callable[[Callable[[], Any]], Any]) -> None:
    error = RuntimeError("bad config")

    def factory() -> AsyncIterator[int]:
        raise error

    def body() -> BaseException | None:
        try:
            next(iterate_async(factory))
        except RuntimeError as exc:
            return exc
        return None

    assert consume(body) is error


def test_factory_runs_on_the_loop_thread(consume: Callable[[Callable[[], Any]], Any]) -> None:
    seen: dict[str, Any] = {}

    def factory() -> AsyncIterator[int]:
        seen["thread"] = threading.get_ident()
        seen["loop"] = asyncio.get_running_loop()  # raises if not on a running loop
        return numbers(1)

    consumer_thread = consume(lambda: (list(iterate_async(factory)), threading.get_ident())[1])
    assert seen["thread"] != consumer_thread
    assert isinstance(seen["loop"], asyncio.AbstractEventLoop)


# -- close ------------------------------------------------------------------------------------


class Probe:
    """What a producer saw: how far it got and how it was stopped."""

    def __init__(self) -> None:
        self.produced = 0
        self.stopped_by: str | None = None
        self.cleanup_error: str | None = None
        self.finally_ran = threading.Event()

    async def awaiting(self) -> AsyncIterator[int]:
        """Yields one item, then waits on a silent upstream."""
        try:
            self.produced += 1
            yield 1
            await asyncio.sleep(60)
            yield 2
        except BaseException as exc:
            self.stopped_by = type(exc).__name__
            raise
        finally:
            self.finally_ran.set()

    async def endless(self) -> AsyncIterator[int]:
        """Fast and endless: only backpressure holds it; its cleanup awaits."""
        try:
            while True:
                self.produced += 1
                yield self.produced
        except BaseException as exc:
            self.stopped_by = type(exc).__name__
            raise
        finally:
            try:
                await asyncio.sleep(0.01)  # cleanup that awaits, like closing a connection
            except BaseException as exc:
                self.cleanup_error = type(exc).__name__
                raise
            finally:
                self.finally_ran.set()


def test_close_cancels_a_producer_that_is_awaiting(
    consume: Callable[[Callable[[], Any]], Any],
) -> None:
    probe = Probe()

    def body() -> tuple[int, float, bool]:
        stream = iterate_async(probe.awaiting)
        first = next(stream)
        start = time.monotonic()
        stream.close()
        # close() waits (cooperatively, bounded) for the producer's finally.
        return first, time.monotonic() - start, probe.finally_ran.is_set()

    first, took, finally_ran_at_return = consume(body)
    assert first == 1
    assert finally_ran_at_return
    assert probe.stopped_by == "CancelledError"
    assert took < 5.0  # not the 60 s the producer would have slept


def test_close_stops_a_producer_blocked_by_backpressure(
    consume: Callable[[Callable[[], Any]], Any],
) -> None:
    probe = Probe()

    def body() -> tuple[int, bool, list[int]]:
        stream = iterate_async(probe.endless, buffer=4)
        first = next(stream)
        wait_until(lambda: probe.produced >= 4, "the producer to fill the buffer")
        stream.close()
        return first, probe.finally_ran.is_set(), list(stream)

    first, finally_ran_at_return, after_close = consume(body)
    assert first == 1
    assert finally_ran_at_return
    assert after_close == []  # a closed stream is over, buffered items are dropped
    # Parked on backpressure the producer is closed with aclose() (GeneratorExit at its
    # yield), and its awaiting cleanup is not interrupted by a cancellation.
    assert probe.stopped_by == "GeneratorExit"
    assert probe.cleanup_error is None


def test_close_returns_after_a_bounded_wait_when_cleanup_is_slow(
    consume: Callable[[Callable[[], Any]], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # close() reads CLOSE_WAIT_S from its own module at each call: a tenth of it here, to keep
    # the fast tier fast (the module of SyncStream, wherever the package keeps it).
    close_wait_s = CLOSE_WAIT_S / 10
    monkeypatch.setattr(sys.modules[SyncStream.__module__], "CLOSE_WAIT_S", close_wait_s)
    cleanup_done = threading.Event()

    async def slow_cleanup() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(4 * close_wait_s)  # e.g. an upstream that is slow to hang up
            cleanup_done.set()

    def body() -> tuple[float, bool]:
        stream = iterate_async(slow_cleanup)
        next(stream)
        start = time.monotonic()
        stream.close()
        return time.monotonic() - start, cleanup_done.is_set()

    took, done_at_return = consume(body)
    assert not done_at_return
    assert close_wait_s * 0.9 <= took < close_wait_s + 1.5  # waited, but bounded
    assert cleanup_done.wait(DEADLINE)  # and the cleanup was not cut short


def test_context_manager_closes(consume: Callable[[Callable[[], Any]], Any]) -> None:
    probe = Probe()

    def body() -> int:
        with iterate_async(probe.awaiting) as stream:
            return next(stream)

    assert consume(body) == 1
    assert probe.finally_ran.wait(DEADLINE)
    assert probe.stopped_by == "CancelledError"


def test_dropping_the_stream_closes_it(consume: Callable[[Callable[[], Any]], Any]) -> None:
    probe = Probe()

    def body() -> int:
        stream = iterate_async(probe.awaiting)
        first = next(stream)
        del stream  # no close(): garbage collection must stop the producer
        gc.collect()
        return first

    assert consume(body) == 1
    assert probe.finally_ran.wait(DEADLINE), "producer still running after its stream was dropped"
    assert probe.stopped_by == "CancelledError"


def test_generator_exit_in_consumer_closes(consume: Callable[[Callable[[], Any]], Any]) -> None:
    """A WSGI body generator closed by the server (client gone) stops the producer."""
    probe = Probe()

    def body_generator() -> Generator[bytes, None, None]:
        for item in iterate_async(probe.awaiting):
            yield str(item).encode()

    def body() -> bytes:
        gen = body_generator()
        first = next(gen)
        gen.close()  # GeneratorExit at the yield; the stream is dropped with the frame
        return first

    assert consume(body) == b"1"
    assert probe.finally_ran.wait(DEADLINE)
    assert probe.stopped_by == "CancelledError"


def test_close_after_end_and_twice_is_harmless(
    consume: Callable[[Callable[[], Any]], Any],
) -> None:
    def body() -> list[int]:
        stream = iterate_async(lambda: numbers(3))
        items = list(stream)
        stream.close()
        stream.close()
        return items

    assert consume(body) == [0, 1, 2]


# -- backpressure -----------------------------------------------------------------------------


@pytest.mark.parametrize("buffer", [1, 8])
def test_backpressure_bounds_how_far_the_producer_runs_ahead(
    consume: Callable[[Callable[[], Any]], Any], buffer: int
) -> None:
    consumed = 0
    ahead: list[int] = []

    async def producer() -> AsyncIterator[int]:
        for i in range(200):
            # produced (i + 1) minus consumed: at most `buffer` in the deque, plus the one
            # item the consumer may have popped without counting it yet.
            ahead.append(i + 1 - consumed)
            yield i
            if i % 7 == 0:
                await asyncio.sleep(0)

    def body() -> list[int]:
        nonlocal consumed
        got = []
        for item in iterate_async(producer, buffer=buffer):
            got.append(item)
            consumed += 1
            if item % 20 == 0:
                time.sleep(0.01)  # a slow consumer: the producer runs into the bound
        return got

    assert consume(body) == list(range(200))
    assert max(ahead) <= buffer + 1
    assert max(ahead) >= buffer  # it did run ahead: buffering is real, not lock-step


# -- run_sync and loop_local ------------------------------------------------------------------


def test_run_sync_returns_values_and_raises(consume: Callable[[Callable[[], Any]], Any]) -> None:
    error = KeyError("missing")

    async def value() -> int:
        await asyncio.sleep(0.01)
        return 42

    async def failing() -> int:
        await asyncio.sleep(0.01)
        raise error

    def body() -> tuple[int, BaseException | None]:
        got = run_sync(value)
        try:
            run_sync(failing)
        except KeyError as exc:
            return got, exc
        return got, None

    got, caught = consume(body)
    assert got == 42
    assert caught is error


def test_run_sync_timeout_cancels_the_coroutine(
    consume: Callable[[Callable[[], Any]], Any],
) -> None:
    probe = Probe()

    async def hang() -> None:
        try:
            await asyncio.sleep(60)
        except BaseException as exc:
            probe.stopped_by = type(exc).__name__
            raise
        finally:
            probe.finally_ran.set()

    def body() -> float:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            run_sync(hang, timeout=0.1)
        return time.monotonic() - start

    assert consume(body) < 5.0
    assert probe.finally_ran.wait(DEADLINE)
    assert probe.stopped_by == "CancelledError"


def test_loop_local_is_one_object_per_loop(consume: Callable[[Callable[[], Any]], Any]) -> None:
    made: list[object] = []
    key = f"test-client-{uuid.uuid4()}"  # the bridge loop outlives a test: a fresh key

    def make() -> object:
        made.append(object())
        return made[-1]

    async def get() -> object:
        return loop_local(key, make)

    def body() -> list[object]:
        first = run_sync(get)
        second = next(iterate_async(lambda: _yield_loop_local(key, make)))
        return [first, second]

    first, second = consume(body)
    assert first is second
    assert len(made) == 1
    # Another loop gets its own object.
    assert asyncio.run(get()) is not first
    assert len(made) == 2


async def _yield_loop_local(key: str, factory: Callable[[], object]) -> AsyncIterator[object]:
    yield loop_local(key, factory)


def test_loop_local_outside_a_loop_raises() -> None:
    with pytest.raises(RuntimeError):
        loop_local("nope", object)


def test_waiting_on_the_loop_thread_raises_instead_of_deadlocking() -> None:
    probe = Probe()
    stream = iterate_async(probe.awaiting)
    assert in_thread(lambda: next(stream)) == 1

    async def misuse() -> int:
        return next(stream)  # the next item never comes while the loop is blocked here

    with pytest.raises(RuntimeError, match="deadlock"):
        in_thread(lambda: run_sync(misuse, timeout=DEADLINE))
    stream.close()
    assert probe.finally_ran.wait(DEADLINE)


def test_buffer_must_be_positive() -> None:
    with pytest.raises(ValueError, match="buffer"):
        iterate_async(lambda: numbers(1), buffer=0)


# -- the hub keeps running, nothing leaks ------------------------------------------------------


def test_greenlets_keep_running_while_a_greenlet_waits() -> None:
    """In-process version of the hub check (the subprocess one runs patched)."""
    ticks: list[float] = []

    def ticker() -> None:
        while True:
            gevent.sleep(0.01)
            ticks.append(time.monotonic())

    async def slow() -> AsyncIterator[int]:
        for i in range(3):
            await asyncio.sleep(0.1)
            yield i

    t = gevent.spawn(ticker)
    try:
        start = time.monotonic()
        assert in_greenlet(lambda: list(iterate_async(slow))) == [0, 1, 2]
        end = time.monotonic()
    finally:
        t.kill()
    during = [x for x in ticks if start <= x <= end]
    assert len(during) >= 10, f"only {len(during)} ticks in {end - start:.2f} s"


def test_a_lone_greenlet_waiting_on_the_loop_thread_does_not_hit_loop_exit() -> None:
    """With nothing else in its hub, a greenlet waiting only on another thread must not get
    LoopExit: the adapter's watcher is referenced while it waits."""

    async def slow() -> AsyncIterator[int]:
        for i in range(2):
            await asyncio.sleep(0.1)
            yield i

    def body() -> list[int]:
        gevent.get_hub()  # this thread's own hub, with no timers or other greenlets in it
        return list(iterate_async(slow))  # waits in the hub, from the thread's main greenlet

    assert in_thread(body) == [0, 1]


def test_an_idle_hub_is_not_kept_alive_by_the_adapter() -> None:
    """Once its greenlets stopped waiting, a hub may end (LoopExit, ``gevent.wait()``): the
    adapter's watcher no longer counts. On libuv a stopped async watcher still counted unless
    unreferenced: ``hub.join()`` sat until its timeout."""

    def body() -> bool:
        hub = gevent.get_hub()  # this thread's own hub
        assert gevent.spawn(lambda: list(iterate_async(lambda: numbers(3)))).get() == [0, 1, 2]
        return bool(hub.join(timeout=5))  # True: the loop ran out of work

    assert in_thread(body) is True


def test_a_wake_up_for_a_hub_that_went_away_is_dropped() -> None:
    """The bridge loop never raises because of a consumer's hub: a send to a destroyed hub
    (a thread's hub destroyed under a waiting greenlet) is dropped, not raised into the pump
    (the stream's error) or the loop."""
    from streamer.adapter._wake import _HubWaker

    def body() -> _HubWaker:
        hub = gevent.get_hub()
        waker = _HubWaker(hub)
        waker.enter()  # a greenlet waits...
        hub.destroy(destroy_loop=True)  # ...when its hub goes away
        return waker

    waker = in_thread(body)
    waker.send()  # raised ValueError (libev) / Exception("Closing handle") (libuv)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_many_streams_leave_threads_and_fds_flat(
    consume: Callable[[Callable[[], Any]], Any],
) -> None:
    async def stuck() -> AsyncIterator[int]:
        yield 0
        await asyncio.sleep(60)

    def body() -> list[tuple[int, int]]:
        counts = []
        for i in range(2000):
            if i % 10 == 9:  # every tenth stream is closed early, mid-wait
                with iterate_async(stuck) as stream:
                    next(stream)
            else:
                assert list(iterate_async(lambda: numbers(5, every=2))) == list(range(5))
            if i in (9, 1999):
                gc.collect()
                counts.append((threading.active_count(), open_fds()))
        return counts

    after_10, after_2000 = consume(body)
    assert after_2000 == after_10


# -- a gevent-patched process -------------------------------------------------------------------


def test_sync_stream_is_an_iterator() -> None:
    stream = iterate_async(lambda: numbers(1))
    assert isinstance(stream, SyncStream)
    assert iter(stream) is stream
    assert in_thread(lambda: list(stream)) == [0]
