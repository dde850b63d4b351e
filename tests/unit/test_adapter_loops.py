"""streamer.adapter on both of gevent's loops, whichever one this test run uses: each check runs
in a fresh process with ``GEVENT_LOOP`` set and warnings as errors (a warning in the bridge
loop's thread stops that loop). libuv takes no timer under 1 ms and warns on one; the adapter
made such timers (the last round of a deadline, the bridge loop's polls) and failed there; and
an idle hub must be able to end, which an adapter watcher kept libuv's from doing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
if sys.argv[1] == "patched":
    from gevent import monkey
    monkey.patch_all()
import asyncio, time
import gevent
from streamer.adapter import iterate_async, run_sync

async def ticks():
    for i in range(20):
        await asyncio.sleep(0.0004)  # the bridge loop polls with timeouts under 1 ms
        yield i

async def hang():
    await asyncio.sleep(60)

def consume():
    assert list(iterate_async(ticks)) == list(range(20))
    for _ in range(5):  # a deadline's last round: under 1 ms left, now and then
        try:
            run_sync(hang, timeout=0.0995)
        except TimeoutError:
            pass
        else:
            raise AssertionError("no timeout")

gevent.spawn(consume).get(timeout=30)
if sys.argv[1] == "unpatched":  # nothing left to wait for: the hub ends (libuv's sat 5 s)
    assert gevent.get_hub().join(timeout=5), "the idle hub was kept alive"
print(gevent.get_hub().loop.__class__.__module__)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["patched", "unpatched"])
@pytest.mark.parametrize("loop", ["libev-cext", "libuv"])
def test_no_timer_under_a_millisecond_and_idle_hubs_end(loop: str, mode: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=ROOT,
        env={**os.environ, "GEVENT_LOOP": loop, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert loop.split("-")[0] in proc.stdout  # the loop asked for really ran
