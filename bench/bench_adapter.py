"""Benchmark the async-to-sync adapter in a gevent-patched process (as under gunicorn).

    python bench/bench_adapter.py [--items 100000] [--smoke]

Measures, for a consuming greenlet:
- throughput: microseconds per item through ``iterate_async`` for a producer that never waits,
  per buffer size, against a plain sync generator of the same items;
- hand-off latency: the time from a producer's ``yield`` (after sleeping ``--gap-ms``) to the
  consumer holding the item, p50/p99, with the consumer already waiting;
- CPU seconds of the whole process, and that a ticker greenlet kept ticking meanwhile.

Prints a markdown table. Numbers are noisy on a shared machine: run a few times.
"""

from gevent import monkey

monkey.patch_all()

# ruff: noqa: E402 - patching must come first
import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator

import gevent

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from streamer.adapter import iterate_async


def plain(n: int) -> Iterator[int]:
    yield from range(n)


async def fast(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def timed(n: int, gap: float) -> AsyncIterator[float]:
    for _ in range(n):
        await asyncio.sleep(gap)
        yield time.perf_counter()


def per_item_us(make: object, n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = 0
        for _ in make():  # type: ignore[operator]
            count += 1
        elapsed = time.perf_counter() - t0
        assert count == n
        best = min(best, elapsed)
    return best / n * 1e6


def handoff_us(n: int, gap: float) -> list[float]:
    lat = []
    with iterate_async(lambda: timed(n, gap), buffer=64) as stream:
        for produced_at in stream:
            lat.append((time.perf_counter() - produced_at) * 1e6)
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000, help="items per throughput run")
    ap.add_argument("--handoffs", type=int, default=1000, help="items for the latency run")
    ap.add_argument("--gap-ms", type=float, default=1.0, help="producer sleep between items")
    ap.add_argument("--repeat", type=int, default=3, help="best of N throughput runs")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a few seconds")
    args = ap.parse_args()
    if args.smoke:
        args.items, args.handoffs, args.repeat = 20_000, 200, 1
    n = args.items

    # Start the bridge loop thread outside the measurements.
    assert list(iterate_async(lambda: fast(10))) == list(range(10))
    cpu0, wall0 = time.process_time(), time.perf_counter()

    rows: list[tuple[str, str]] = []
    base = per_item_us(lambda: plain(n), n, args.repeat)
    rows.append(("plain sync generator", f"{base:.2f} µs/item"))
    for buffer in (16, 64, 256):
        us = per_item_us(lambda b=buffer: iterate_async(lambda: fast(n), buffer=b), n, args.repeat)
        rows.append((f"iterate_async, fast producer, buffer={buffer}", f"{us:.2f} µs/item"))

    def latency_rows(label: str) -> None:
        lat = sorted(handoff_us(args.handoffs, args.gap_ms / 1000))
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        rows.append(
            (f"hand-off to a waiting consumer, {label}: p50 / p99", f"{p50:.0f} µs / {p99:.0f} µs")
        )

    latency_rows(f"producer sleeps {args.gap_ms:g} ms")

    # Again with a greenlet ticking every 1 ms on the consumer's hub: it keeps ticking (the
    # hub is not blocked), and its wake-ups compete with the hand-offs for the GIL.
    ticks = 0

    def ticker() -> None:
        nonlocal ticks
        while True:
            gevent.sleep(0.001)
            ticks += 1

    tick_g = gevent.spawn(ticker)
    t0 = time.perf_counter()
    latency_rows("with a 1 ms ticker greenlet")
    tick_wall = time.perf_counter() - t0
    tick_g.kill()
    rows.append(("ticker greenlet ticks during that run", f"{ticks} in {tick_wall:.2f} s"))

    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    rows.append(("process CPU / wall, whole run", f"{cpu:.2f} s / {wall:.2f} s"))

    print(
        f"gevent-patched: {monkey.is_module_patched('threading')}, items={n}, "
        f"python {sys.version.split()[0]}, gevent {gevent.__version__}\n"
    )
    print("| measurement | result |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
