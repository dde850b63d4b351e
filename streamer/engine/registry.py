"""The open streams of one app in one worker: counted for limits, ended on shutdown, and
swept periodically for their deadline and send guard (one timer per worker instead of two per
stream)."""

from __future__ import annotations

import time
import weakref
from typing import Any, Protocol

from gevent import get_hub


class Closable(Protocol):
    def shutdown(self) -> None: ...

    def tick(self, now: float) -> None: ...


class StreamRegistry:
    """A set of open stream bodies. ``shutdown_all()`` asks each to end with a ``shutdown``
    error record (clients reconnect elsewhere) instead of being cut at the graceful timeout.
    While any is open, every ``tick_s`` seconds each gets ``tick(now)`` from the event loop."""

    def __init__(self, tick_s: float = 1.0) -> None:
        self._open: set[Closable] = set()
        # Resumable producers running detached in this worker: not bodies (nothing to sweep
        # or end on shutdown), but they hold memory and a store lease, so they count toward
        # the worker's stream limit (``len``).
        self.detached = 0
        self.shutting_down = False
        self.tick_s = tick_s
        self._timer: Any = None
        _live.add(self)

    def __len__(self) -> int:
        return len(self._open) + self.detached

    def add(self, body: Closable) -> None:
        self._open.add(body)
        if self._timer is None:
            # Not ref'd: an idle sweep must not keep the loop (a worker's exit) waiting.
            self._timer = get_hub().loop.timer(self.tick_s, self.tick_s, ref=False)
            self._timer.start(self._sweep)

    def discard(self, body: Closable) -> None:
        # The timer stays: the sweep stops it once it finds no stream open, so sequential
        # short streams do not make and close one each (-4k instructions per request).
        self._open.discard(body)

    def _sweep(self) -> None:  # in the hub
        if not self._open:
            if self._timer is not None:
                self._timer.stop()
                self._timer.close()
                self._timer = None
            return
        now = time.monotonic()
        for body in list(self._open):
            body.tick(now)

    def shutdown_all(self) -> int:
        self.shutting_down = True
        bodies = list(self._open)
        for body in bodies:
            body.shutdown()
        return len(bodies)


# Every registry of this process, for a worker that is stopping (streamer.worker): it need
# not know the apps, or find them behind the WSGI middleware that wraps them.
_live: weakref.WeakSet[StreamRegistry] = weakref.WeakSet()


def shutdown_all_registries() -> int:
    """End every open stream of every app in this process with a ``shutdown`` error record;
    how many there were."""
    return sum(registry.shutdown_all() for registry in list(_live))
