"""What one blocked greenlet costs in RSS (the floor under M3's memory per stream).

    .venv/bin/python bench/greenlet_mem.py
Spawns 10,000 greenlets blocked in ``gevent.sleep`` (directly, inside a generator, or on an
``Event``) and prints the RSS growth per greenlet; also Event pairs and libev timers alone.
"""

from __future__ import annotations

import subprocess
import sys

import gevent
from gevent.event import Event

N = 10_000


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def sleeper() -> None:
    gevent.sleep(100)


def in_generator() -> None:
    def gen():  # type: ignore[no-untyped-def]
        while True:
            gevent.sleep(100)
            yield b"x"

    for _ in gen():
        pass


def measure(mode: str) -> None:
    base = rss_kib()
    keep: list[object] = []
    if mode == "greenlet in sleep":
        keep = [gevent.spawn(sleeper) for _ in range(N)]
    elif mode == "greenlet in a generator's sleep":
        keep = [gevent.spawn(in_generator) for _ in range(N)]
    elif mode == "greenlet on an Event":
        keep = [gevent.spawn(Event().wait, 100) for _ in range(N)]
    elif mode == "two Events (no greenlet)":
        keep = [(Event(), Event()) for _ in range(N)]
    elif mode == "libev timer (no greenlet)":
        loop = gevent.get_hub().loop
        keep = [loop.timer(100) for _ in range(N)]
        for t in keep:
            t.start(lambda: None)  # type: ignore[attr-defined]
    gevent.sleep(0.3)
    print(f"| {mode} | {(rss_kib() - base) / N:.1f} |")
    del keep


if __name__ == "__main__":
    if len(sys.argv) > 1:
        measure(sys.argv[1])
    else:
        print(f"| {N:,} of each, fresh process | KiB each |\n| --- | ---: |")
        for mode in (
            "greenlet in sleep",
            "greenlet in a generator's sleep",
            "greenlet on an Event",
            "two Events (no greenlet)",
            "libev timer (no greenlet)",
        ):
            subprocess.run([sys.executable, __file__, mode], check=True)
