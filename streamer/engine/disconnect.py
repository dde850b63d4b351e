"""Notice a client that went away while its stream is idle, without waiting for a write.

gunicorn learns that a client left only when a write fails, which is the second write after
the client closed (the first one is accepted by the kernel and answered with RST). A producer
waiting a minute for its next item, or a model silent before its first token, would keep
running (and billing) all that time. Instead, an event-loop I/O watcher waits for the client
socket to become readable: during a streamed response a well-behaved HTTP/1.1 client sends
nothing, so readability means EOF or a reset, and a non-blocking ``MSG_PEEK`` tells which.
If the client did send bytes (a pipelined request) we cannot tell, so the watcher stops and
the next failed write is the signal, as before.

The watcher is a libev/libuv callback, not a greenlet: it costs no stack per stream.

:func:`wait_closed` is the other direction, for the end of a stream that failed: the server
lets the client close first (see its docstring). :func:`linger` is the same for a connection
closed with request bytes still unread (nginx's lingering close).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from gevent.hub import get_hub
from gevent.socket import wait_read

from .._compat.gevent import loop_s, raw_socket

_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT

#: A lingering close reads and drops at most this long and this much. nginx's are 30 s
#: (``lingering_time``) and 5 s per read (``lingering_timeout``); a client that has its answer
#: needs one round trip to close, and a refused 1 MiB body is all in a receive buffer already.
LINGER_S = 2.0
LINGER_BYTES = 4 << 20


class DisconnectWatcher:
    """Calls ``on_gone()`` once, from the event loop, when the peer of ``sock`` closes."""

    __slots__ = ("_on_gone", "_raw", "_watcher")  # one per open stream

    def __init__(self, sock: Any, on_gone: Callable[[], None]) -> None:
        # gevent sockets wrap a real socket in ``_sock``; peek on that one, because the
        # gevent socket would try to wait (switch greenlets) inside the loop's callback.
        self._raw: socket.socket = raw_socket(sock)
        self._on_gone = on_gone
        self._watcher: Any = get_hub().loop.io(sock.fileno(), 1)  # 1 = READ
        self._watcher.start(self._readable)

    def _readable(self) -> None:
        try:
            peeked = self._raw.recv(1, _PEEK)
        except (BlockingIOError, InterruptedError):
            return  # spurious wake-up: keep watching
        except OSError:
            peeked = b""  # reset or otherwise broken: gone
        self.stop()
        if not peeked:
            self._on_gone()

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.close()
            self._watcher = None


def wait_closed(sock: Any, timeout: float, max_bytes: int = LINGER_BYTES) -> None:
    """Wait until the peer of ``sock`` closes (EOF or reset), at most ``timeout`` seconds,
    reading and dropping whatever it sends meanwhile, at most ``max_bytes`` of it (a peer
    that keeps sending at line rate would otherwise cost the worker's CPU all that time).

    For the cut after an in-band ``error`` record. A browser reports a broken body at once and
    drops what it received but had not yet handed to the page (Chromium's fetch body does so
    on a network error), so cutting right after the record can lose it; a reader that knows
    the protocol stops at the record and closes, and only then is the connection cut. Reading
    the input also keeps the kernel from answering the final ``close()`` with a reset, which
    would throw away what is still in the send queue for a slow reader: the record again.
    """
    raw = raw_socket(sock)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0 and max_bytes > 0:
        try:
            wait_read(raw.fileno(), timeout=loop_s(left))  # libuv: no timer under 1 ms
            got = len(raw.recv(65536, socket.MSG_DONTWAIT))
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:  # the peer kept the connection (socket.timeout), or reset it
            return
        if not got:
            return  # EOF: the peer closed
        max_bytes -= got


def linger(sock: Any, timeout: float = LINGER_S, max_bytes: int = LINGER_BYTES) -> None:
    """Before closing a connection whose request may not have been read to its end: send
    FIN after the answer (``shutdown(SHUT_WR)``), then read and drop what the client still
    sends until it closes, at most ``timeout`` seconds and ``max_bytes``.

    A server that answers early (a 413 before reading the body) and closes with the body in
    its receive buffer makes the kernel send RST instead of FIN (RFC 1122 4.2.2.13), and a
    client still sending, or one whose stack discards received data on RST, never sees the
    answer. A client that has its answer and nothing left to send closes at once.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return  # already gone
    try:
        wait_closed(sock, timeout, max_bytes)
    except ValueError:
        pass  # a TLS socket takes no recv flags: it closes at once, as before
