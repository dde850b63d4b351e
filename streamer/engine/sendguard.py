"""Drop a stream whose client stopped reading (``STREAMER_SEND_TIMEOUT_S``).

Memory is already bounded without this: a client that reads nothing fills the kernel's socket
buffers, gunicorn's ``sendall`` blocks, the stream's buffer fills to ``MAX_BUFFER`` and its
producer waits (backpressure). But the connection, its greenlets and that buffer would stay
for as long as the stream may last. So each stream gets a guard: a libev timer (no greenlet)
that looks, a few times per timeout, whether the stream has handed the server a new chunk or
the client has acknowledged more bytes (``TCP_INFO``). If neither happened for ``timeout_s``
*and* the socket is not writable (the kernel's send buffer is
full: the server's write is blocked, not idle), the client is stuck: the guard resets the
connection (``SO_LINGER`` 0, ``shutdown``). gunicorn's blocked write then fails with
``EPIPE``, which it ignores without a log line, and the stream ends with outcome
``send_timeout``.

Why not ``sock.settimeout()``: gevent's ``sendall`` would raise ``socket.timeout``, whose
``errno`` is None, and gunicorn logs every such error with a stack trace ("Socket error
processing request."). Why not ``gevent.Timeout``: the blocked write runs in gunicorn's loop,
not in code of ours that could be wrapped.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from gevent import monkey
from gevent.hub import get_hub

from .._compat.gevent import raw_socket

# The real poll, not gevent's cooperative one: this runs inside the event loop's callback,
# where nothing may block or switch greenlets. poll, not select: fds go past FD_SETSIZE.
_poll: Callable[[], Any] = monkey.get_original("select", "poll")
_POLLOUT = select.POLLOUT
_LINGER_RESET = struct.pack("ii", 1, 0)


class SendGuard:
    """Calls ``on_stuck()`` once, from the event loop, then resets the connection, when
    ``progress()`` has not changed for ``timeout_s`` while ``sock`` is not writable."""

    __slots__ = (
        "_last_acked",
        "_last_progress",
        "_on_stuck",
        "_progress",
        "_since",
        "_sock",
        "_stopped",
        "_timeout_s",
        "_timer",
    )  # one per open stream

    def __init__(
        self,
        sock: Any,
        timeout_s: float,
        progress: Callable[[], int],
        on_stuck: Callable[[], None],
        *,
        timer: bool = True,
    ) -> None:
        self._sock = sock
        self._timeout_s = timeout_s
        self._progress = progress
        self._on_stuck = on_stuck
        self._last_progress = progress()
        # Bytes acknowledged when first looked at since the last new chunk (None: not yet).
        # TCP_INFO is read only while no new chunk comes: a stream that keeps sending (the
        # usual case) never pays for the getsockopt (66k of a 20-record stream's ~2,700k
        # worker instructions went to the guard; bench/per_stream.py --callgrind-held).
        self._last_acked: int | None = None
        self._since = time.monotonic()
        self._timer: Any = None
        self._stopped = False
        if timer:  # else the owner calls check() every check_interval(timeout_s)
            every = check_interval(timeout_s)
            self._timer = get_hub().loop.timer(every, every)
            self._timer.start(self.check)

    def check(self) -> None:  # in the hub
        # Progress is a new chunk handed to the server, or the client acknowledging bytes
        # (a slow reader of one big chunk is slow, not stuck).
        if self._stopped:
            return
        now, progress = time.monotonic(), self._progress()
        if progress != self._last_progress:
            self._last_progress, self._last_acked, self._since = progress, None, now
            return
        acked = _acked(self._sock)
        if self._last_acked is None:
            self._last_acked = acked
        elif acked != self._last_acked:
            self._last_acked, self._since = acked, now
            return
        if now - self._since < self._timeout_s or _writable(self._sock):
            return
        self.stop()
        self._on_stuck()
        _reset(self._sock)

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.stop()
            self._timer.close()
            self._timer = None


def check_interval(timeout_s: float) -> float:
    """How often to check: often enough that a drop comes at most ~1/8 of the timeout (and
    at most 2 s) late."""
    return min(max(timeout_s / 8, 0.05), 2.0)


def _acked(sock: Any) -> int:
    """Bytes the client has acknowledged so far (Linux ``tcp_info.tcpi_bytes_acked``, a u64
    at offset 120 since Linux 4.1); 0 where that cannot be read."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except (OSError, AttributeError, ValueError):
        return 0
    return int(struct.unpack_from("Q", info, 120)[0]) if len(info) >= 128 else 0


def _writable(sock: Any) -> bool:
    try:
        poller = _poll()
        poller.register(sock.fileno(), _POLLOUT)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True  # closed already: nothing is stuck


def _reset(sock: Any) -> None:
    raw: socket.socket = raw_socket(sock)
    try:
        # Linger 0: the close that follows sends RST and frees the unsent bytes at once,
        # instead of the kernel retrying them to a client that does not read.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        raw.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
