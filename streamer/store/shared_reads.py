"""One blocking read per followed stream per process, shared by every reader waiting there.

A live stream's readers are caught up at the same record most of the time: a thousand
followers of one answer each wait for record ``n + 1``. Each used to hold a connection of its
own in a blocking ``XREAD`` for it, so followers beyond the blocking pool
(``STREAMER_REDIS_MAX_CONNECTIONS``) fell back to polling, and every record cost one command
per reader. Here the first reader to wait after record ``n`` of a stream makes the read (the
*leader*); readers that come to wait at the same place while it is out join it and get its
records, decoded once. Blocking connections are then bounded by the streams followed, not
the readers, and a record costs one ``XREAD`` per stream per process.

A waiting reader makes the whole read (the quick read, the stream's meta, then the blocking
read) only as leader; a joiner skips all three and waits as long as the leader's read may
take. When the leader's read fails (the store timed out, or the leader's client left and
its greenlet was killed), its joiners get an empty answer and each asks again on its own,
as after any empty wait: one slow read under load must not end a hundred readers, and a
store that is really down fails each of them in its own next read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["SharedReads"]

T = TypeVar("T")


class _Round(Generic[T]):
    __slots__ = ("done", "failed", "result")

    def __init__(self) -> None:
        self.done = threading.Event()  # gevent's, under the worker's patching
        self.result: list[T] = []
        self.failed = False


class SharedReads(Generic[T]):
    """``read(key, after, wait_s)`` made once for every caller waiting at ``(key, after)``."""

    def __init__(self, read: Callable[[str, int, float], list[T]], slack_s: float) -> None:
        self._read = read
        self._slack_s = slack_s  # how much longer than its wait a read may take (timeouts)
        self._rounds: dict[tuple[str, int], _Round[T]] = {}

    def __len__(self) -> int:
        """The reads out now (each holds one blocking connection)."""
        return len(self._rounds)

    def read(self, key: str, after: int, wait_s: float) -> list[T]:
        at = (key, after)
        joined = self._rounds.get(at)
        if joined is not None:
            if not joined.done.wait(wait_s + self._slack_s) or joined.failed:
                return []  # the caller asks again, on its own
            return joined.result
        led: _Round[T] = _Round()
        self._rounds[at] = led
        try:
            led.result = self._read(key, after, wait_s)
            return led.result
        except BaseException:
            led.failed = True
            raise
        finally:
            del self._rounds[at]
            led.done.set()
