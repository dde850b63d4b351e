"""streamer._compat.httpcore: the httpcore2 internal it reads is still there (read from 2.16.2)."""

from __future__ import annotations

import contextlib
import socket

from streamer._compat import httpcore as compat_httpcore


def test_httpcore_is_socket_readable() -> None:
    a, b = socket.socketpair()
    with contextlib.closing(a), contextlib.closing(b):
        assert compat_httpcore.is_socket_readable(a) is False
        b.send(b"x")
        assert compat_httpcore.is_socket_readable(a) is True
