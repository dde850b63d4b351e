"""A Durable Stream followed on its streamer face (``GET /streams/<path>``), in process: µs
of CPU for one follower's wake-up (one new message appended, then read) against the stream's
length, on the memory store.

    .venv/bin/python bench/durable_face.py

A follower of the streamer face asks :class:`streamer.server.durable.records.DurableRecords`
for the records after the last one it has (``follow`` in streamer.server.resumable). The
figure to watch is how the cost grows with the length: a read from the stream's start at
every wake-up costs in proportion to it. Median of 5 rounds of 200 wake-ups each, per length.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamer.server.durable.records import DurableRecords
from streamer.store.durable import AppendSpec, CreateSpec
from streamer.store.durable.memory import MemoryDurableStore

LENGTHS = (100, 1_000, 10_000)
WAKEUPS = 200


def wakeup_us(length: int, content_type: str) -> float:
    durable = MemoryDurableStore()
    faces = DurableRecords(durable)
    path = f"bench-{length}-{content_type.replace('/', '-')}-0123456789"
    durable.create(path, CreateSpec(content_type))
    body = b'{"token":"word"}' if content_type == "application/json" else b"word "
    for _ in range(length):
        durable.append(path, AppendSpec(body))
    read = faces.reader(path) if hasattr(faces, "reader") else None
    last = len(faces.read(path, 0, 0))
    rounds = []
    for _ in range(5):
        began = time.process_time()
        for _ in range(WAKEUPS):
            durable.append(path, AppendSpec(body))
            got = read(last, 0) if read is not None else faces.read(path, last, 0)
            assert len(got) == 1
            last += 1
        rounds.append((time.process_time() - began) / WAKEUPS * 1e6)
    return statistics.median(rounds)


def main() -> None:
    print("| messages in the stream | text/plain, µs per wake-up | application/json, µs |")
    print("| ---: | ---: | ---: |")
    for length in LENGTHS:
        text = wakeup_us(length, "text/plain")
        js = wakeup_us(length, "application/json")
        print(f"| {length:,} | {text:.1f} | {js:.1f} |")


if __name__ == "__main__":
    main()
