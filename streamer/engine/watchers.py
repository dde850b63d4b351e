"""What stops a stream from outside, beside the body: the watchers' callbacks.

- disconnect: :class:`streamer.engine.disconnect.DisconnectWatcher` calls :meth:`_client_gone`;
- send timeout: :class:`streamer.engine.sendguard.SendGuard` asks :meth:`_bytes_handed_over` and
  calls :meth:`_send_timed_out` (then resets the socket);
- deadline: one timer per stream (:meth:`_start_deadline_timer`) or the registry's sweep
  (:meth:`tick`) calls :meth:`_on_deadline`;
- shutdown: the registry calls :meth:`shutdown`;
- heartbeat: the pump's wait for data (:meth:`streamer.engine.pump.PumpStrategy.step`).

Each runs in the hub (or another greenlet): it asks to stop (:meth:`_request_stop`: the first
reason asked wins, a :class:`streamer.engine.lifecycle.Stop`), the strategy stops the producer, the
writer wakes; the handler greenlet then ends the stream (:meth:`_stopped` in :mod:`.ending`).
"""

from __future__ import annotations

import time

import gevent

from .core import BodyCore, loop_s
from .lifecycle import CLIENT_GONE, DEADLINE, FINAL, SEND_TIMEOUT, SHUTDOWN, Stop


class Watchers(BodyCore):
    __slots__ = ()

    def _request_stop(self, stop: Stop) -> None:
        if self._stop is None:
            self._stop = stop  # set once: the first reason wins
        self._strategy.stop(self)
        if self._wake is not None:
            self._wake.set()

    def _client_gone(self) -> None:
        self._request_stop(CLIENT_GONE)

    def _bytes_handed_over(self) -> int:
        return self.stats.bytes

    def _send_timed_out(self) -> None:  # in the hub; the SendGuard then resets the socket
        if self.stats.outcome == "open":
            self.stats.outcome = "send_timeout"
        self._request_stop(SEND_TIMEOUT)

    def shutdown(self) -> None:
        """The worker is stopping: end this stream with a ``shutdown`` error record (after an
        SSE ``retry`` hint) so clients reconnect elsewhere, never with ``end``."""
        self._request_stop(SHUTDOWN)

    def tick(self, now: float) -> None:  # in the hub, from the registry's sweep
        if now >= self._deadline and self._stop is None and self._state not in FINAL:
            self._on_deadline()
        if self._send_guard is not None:
            self._send_guard.check()

    def _start_deadline_timer(self) -> None:
        """Text waits only for data or the deadline: one timer per stream, started once
        (none with a registry, whose sweep calls tick())."""
        if self._deadline_timer is None and self._registry is None:
            self._deadline_timer = gevent.get_hub().loop.timer(
                loop_s(self._deadline - time.monotonic())
            )
            self._deadline_timer.start(self._on_deadline)

    def _on_deadline(self) -> None:  # in the hub
        self._request_stop(DEADLINE)
