"""streamer._compat.gevent: the gevent internals it reads are still there (read from gevent
26.9.0)."""

from __future__ import annotations

import _socket
import contextlib
import inspect
import socket
import threading
from typing import Any

import gevent
import gevent.socket

from streamer._compat import gevent as compat_gevent


def test_gevent_hub_if_exists_finds_a_threads_hub_without_making_one() -> None:
    seen: list[Any] = []

    def run() -> None:  # a fresh real thread: no hub yet
        seen.append(compat_gevent.get_hub_if_exists())
        hub = gevent.get_hub()
        seen.append(compat_gevent.get_hub_if_exists() is hub)
        hub.destroy(destroy_loop=True)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert seen == [None, True], "gevent._hub_local.get_hub_if_exists changed"


def test_gevent_socket_wraps_the_real_socket_in_sock() -> None:
    a, b = gevent.socket.socketpair()
    with contextlib.closing(a), contextlib.closing(b):
        raw = compat_gevent.raw_socket(a)
        # The C-level socket, not gevent's cooperative wrapper (whose methods may switch).
        assert isinstance(raw, _socket.socket) and not isinstance(raw, gevent.socket.socket), (
            "gevent socket's _sock changed"
        )
        assert raw.fileno() == a.fileno()
    plain, other = socket.socketpair()
    with contextlib.closing(plain), contextlib.closing(other):
        assert compat_gevent.raw_socket(plain) is plain


def test_gevent_selector_ready_is_the_event_select_waits_on() -> None:
    from gevent.selectors import GeventSelector

    source = inspect.getsource(GeventSelector)
    assert "self._ready.wait(timeout)" in source and "self._ready.set()" in source, (
        "GeventSelector no longer waits on its _ready event"
    )
    a, b = socket.socketpair()
    selector = GeventSelector()
    with contextlib.closing(a), contextlib.closing(b), contextlib.closing(selector):
        selector.register(a, 1)  # EVENT_READ
        assert compat_gevent.selector_has_ready(selector) is False
        selector._ready.set()
        assert compat_gevent.selector_has_ready(selector) is True
        selector._ready.clear()
        b.send(b"x")
        assert selector.select(1), "GeventSelector no longer reports the ready socket"
