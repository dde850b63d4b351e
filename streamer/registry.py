"""The open streams of one app in one worker: counted for limits, ended on shutdown."""

from __future__ import annotations

from typing import Protocol


class Closable(Protocol):
    def shutdown(self) -> None: ...


class StreamRegistry:
    """A set of open stream bodies. ``shutdown_all()`` asks each to end with a ``shutdown``
    error record (clients reconnect elsewhere) instead of being cut at the graceful timeout."""

    def __init__(self) -> None:
        self._open: set[Closable] = set()
        self.shutting_down = False

    def __len__(self) -> int:
        return len(self._open)

    def add(self, body: Closable) -> None:
        self._open.add(body)

    def discard(self, body: Closable) -> None:
        self._open.discard(body)

    def shutdown_all(self) -> int:
        self.shutting_down = True
        bodies = list(self._open)
        for body in bodies:
            body.shutdown()
        return len(bodies)
