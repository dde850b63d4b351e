"""Checks of streamer.adapter in a gevent-patched process, as under gunicorn's gevent worker.

Run by tests/real/test_adapter_live.py in a subprocess (the test process stays unpatched). Prints
one JSON object: {check name: result}. Every check runs under a gevent.Timeout, so a hang
becomes an "error" entry instead of a stuck process.
"""

from gevent import monkey

monkey.patch_all()

# ruff: noqa: E402 - patching must come first
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import gevent

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from streamer.adapter import iterate_async, run_sync


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def check_hub_not_blocked() -> dict[str, Any]:
    """A ticker greenlet keeps ticking while the consumer waits on a slow producer."""
    ticks: list[float] = []

    def ticker() -> None:
        while True:
            gevent.sleep(0.01)
            ticks.append(time.monotonic())

    async def slow() -> AsyncIterator[int]:
        for i in range(4):
            await asyncio.sleep(0.25)
            yield i

    g = gevent.spawn(ticker)
    gevent.sleep(0.05)
    start = time.monotonic()
    items = list(iterate_async(slow))
    end = time.monotonic()
    g.kill()
    during = [t for t in ticks if start <= t <= end]
    gaps = [b - a for a, b in zip([start, *during], [*during, end], strict=True)]
    return {"items": items, "ticks": len(during), "max_gap": max(gaps), "wall": end - start}


def check_to_thread() -> Any:
    async def produce() -> AsyncIterator[int]:
        yield await asyncio.to_thread(lambda: 6 * 7)

    return list(iterate_async(produce))


def check_getaddrinfo() -> Any:
    async def produce() -> AsyncIterator[int]:
        infos = await asyncio.get_running_loop().getaddrinfo("localhost", 80)
        yield len(infos)

    return list(iterate_async(produce))


def check_anyio_to_thread() -> Any:
    import anyio.to_thread

    async def produce() -> AsyncIterator[str]:
        yield await anyio.to_thread.run_sync(lambda: "ok")

    return list(iterate_async(produce))


def check_concurrent_streams() -> dict[str, Any]:
    """50 greenlets, each consuming its own slow stream: they wait at the same time."""

    async def produce(k: int) -> AsyncIterator[int]:
        for i in range(5):
            await asyncio.sleep(0.02)
            yield k * 10 + i

    def consume(k: int) -> list[int]:
        return list(iterate_async(lambda: produce(k)))

    start = time.monotonic()
    greenlets = [gevent.spawn(consume, k) for k in range(50)]
    gevent.joinall(greenlets, raise_error=True)
    ok = all(g.value == [k * 10 + i for i in range(5)] for k, g in enumerate(greenlets))
    return {"ok": ok, "wall": time.monotonic() - start, "serial_wall": 50 * 5 * 0.02}


def check_one_wake_per_tick() -> dict[str, Any]:
    """20 waiting streams that all get their item in one loop tick wake the hub once, not 20
    times (the bridge's wake_soon): count the hub waker's sends around that tick."""
    from streamer.adapter import _wake

    n, sends, box = 20, [0], {}
    send = _wake._HubWaker.send

    def counting(self: Any) -> None:
        sends[0] += 1
        send(self)

    async def produce() -> AsyncIterator[int]:
        event = box.setdefault("go", asyncio.Event())  # on the loop, by the first producer
        await event.wait()
        yield 1

    async def fire() -> None:
        box["go"].set()  # every producer's task becomes ready in the same tick

    streams = [iterate_async(produce) for _ in range(n)]
    greenlets = [gevent.spawn(next, s) for s in streams]
    gevent.sleep(0.2)  # all started and waiting
    _wake._HubWaker.send = counting  # type: ignore[method-assign]
    try:
        run_sync(fire, timeout=5)
        gevent.joinall(greenlets, raise_error=True, timeout=5)
    finally:
        _wake._HubWaker.send = send  # type: ignore[method-assign]
    for s in streams:
        s.close()
    return {"items": sum(g.value or 0 for g in greenlets), "streams": n, "sends": sends[0]}


def check_close_cancels() -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def produce() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.sleep(60)
            yield 2
        except BaseException as exc:
            seen["exc"] = type(exc).__name__
            raise
        finally:
            seen["finally"] = True

    stream = iterate_async(produce)
    first = next(stream)
    start = time.monotonic()
    stream.close()
    return {"first": first, "close_s": time.monotonic() - start, **seen}


def check_no_leaks() -> dict[str, Any]:
    async def produce(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def stuck() -> AsyncIterator[int]:
        yield 0
        await asyncio.sleep(60)
        yield 1

    counts = []
    for i in range(600):
        if i % 10 == 9:
            with iterate_async(stuck) as s:
                next(s)
        else:
            assert list(iterate_async(lambda: produce(5))) == list(range(5))
        if i in (9, 599):
            gevent.sleep(0.05)
            counts.append({"threads": os_threads(), "fds": open_fds()})
    return {"after_10": counts[0], "after_600": counts[1]}


def check_fork() -> dict[str, Any]:
    """A forked child (a gunicorn worker) gets its own loop thread and works."""

    async def produce() -> AsyncIterator[int]:
        for i in range(3):
            await asyncio.sleep(0.001)
            yield i

    assert list(iterate_async(produce)) == [0, 1, 2]  # the parent's loop exists now
    pid = os.fork()
    if pid == 0:  # child
        try:
            ok = list(iterate_async(produce)) == [0, 1, 2] and run_sync(lambda: _answer()) == 42
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return {"child_exit": os.waitstatus_to_exitcode(status)}


async def _answer() -> int:
    await asyncio.sleep(0.001)
    return 42


CHECKS: dict[str, Callable[[], Any]] = {
    "hub_not_blocked": check_hub_not_blocked,
    "to_thread": check_to_thread,
    "getaddrinfo": check_getaddrinfo,
    "anyio_to_thread": check_anyio_to_thread,
    "concurrent_streams": check_concurrent_streams,
    "close_cancels": check_close_cancels,
    "one_wake_per_tick": check_one_wake_per_tick,
    "no_leaks": check_no_leaks,
    "fork": check_fork,
}


def main() -> None:
    names = sys.argv[1:] or list(CHECKS)
    results: dict[str, Any] = {}
    for name in names:
        try:
            with gevent.Timeout(30):
                results[name] = {"result": CHECKS[name]()}
        except BaseException as exc:  # a hang (Timeout) or a failure: report, go on
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(results))
    sys.stdout.flush()
    os._exit(0)  # do not wait for the loop thread's producers at exit


if __name__ == "__main__":
    main()
