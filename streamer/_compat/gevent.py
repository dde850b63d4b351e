"""gevent internals (read from gevent 26.9.0; tests/unit/test_compat_gevent.py)."""

from __future__ import annotations

import socket
from typing import Any

from gevent._hub_local import get_hub_if_exists as _get_hub_if_exists


def get_hub_if_exists() -> Any:
    """The calling thread's hub, or None without making one (``gevent.get_hub()`` would)."""
    return _get_hub_if_exists()


def loop_s(seconds: float) -> float:
    """``seconds`` for a timer that both of gevent's loops take alike: 0 or more, and not
    between 0 and 1 ms, which libuv rounds up to 1 ms with a warning (an error under pytest)."""
    if seconds <= 0.0:
        return 0.0
    return seconds if seconds >= 0.001 else 0.001


def raw_socket(sock: Any) -> socket.socket:
    """The real socket inside a gevent socket (``_sock``), or ``sock`` itself: peeking or
    setting options on it never switches greenlets, so it is safe in a loop callback."""
    raw: socket.socket = getattr(sock, "_sock", sock)
    return raw


def selector_has_ready(selector: Any) -> bool:
    """Whether a ``gevent.selectors.GeventSelector`` has ready events waiting (``_ready``)."""
    return bool(selector._ready.is_set())
