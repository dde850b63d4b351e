"""Fast tier of streamer.engine.disconnect: a client that leaves while its stream is idle is noticed
from the event loop, without a write (through gunicorn: tests/real/test_service.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.socket
import pytest

from streamer.engine.disconnect import DisconnectWatcher, linger


def wait_until(done: Callable[[], bool], timeout: float = 5.0) -> None:
    with gevent.Timeout(timeout):
        while not done():
            gevent.sleep(0.01)


@pytest.mark.timeout(10)
def test_the_peer_closing_is_noticed_without_a_write() -> None:
    ours, peer = gevent.socket.socketpair()
    gone: list[bool] = []
    watcher = DisconnectWatcher(ours, lambda: gone.append(True))
    gevent.sleep(0.05)
    assert gone == []  # an idle, open peer is not gone
    peer.close()
    wait_until(lambda: bool(gone))
    gevent.sleep(0.05)
    assert gone == [True]  # once
    watcher.stop()
    ours.close()


@pytest.mark.timeout(10)
def test_bytes_from_the_peer_end_the_watch_without_calling_it_gone() -> None:
    ours, peer = gevent.socket.socketpair()
    gone: list[bool] = []
    watcher = DisconnectWatcher(ours, lambda: gone.append(True))
    peer.sendall(b"GET /next HTTP/1.1\r\n\r\n")  # pipelined: cannot tell, so stop watching
    wait_until(lambda: watcher._watcher is None)
    peer.close()
    gevent.sleep(0.05)
    assert gone == []
    assert ours.recv(64).startswith(b"GET /next")  # peeked, not consumed
    ours.close()


def _unread(ours: Any, peer: Any, size: int) -> None:
    """``size`` bytes from the peer left unread in ``ours``'s receive buffer."""
    peer.setblocking(False)
    sent = 0
    while sent < size:
        try:
            sent += peer.send(b"x" * min(65536, size - sent))
        except BlockingIOError:
            break  # the buffers are full: what is in them is unread
    peer.setblocking(True)


@pytest.mark.timeout(10)
def test_linger_sends_fin_then_drops_input_until_the_peer_closes() -> None:
    ours, peer = gevent.socket.socketpair()
    _unread(ours, peer, 100_000)
    ours.sendall(b"HTTP/1.1 413 Payload Too Large\r\n\r\n")
    closer = gevent.spawn(lambda: (peer.recv(64), peer.recv(64), peer.close()))
    start = time.monotonic()
    linger(ours, timeout=5)
    assert time.monotonic() - start < 2  # returned at the peer's close, not the timeout
    # The peer read the answer, then EOF (our FIN), not a reset:
    assert closer.get(timeout=1)[:2] == (b"HTTP/1.1 413 Payload Too Large\r\n\r\n", b"")
    ours.close()


@pytest.mark.timeout(10)
def test_linger_is_bounded_in_time_and_bytes() -> None:
    ours, peer = gevent.socket.socketpair()
    start = time.monotonic()
    linger(ours, timeout=0.2)  # a peer that neither closes nor sends
    assert 0.15 < time.monotonic() - start < 2
    assert peer.recv(64) == b""  # it got our FIN
    ours.close()
    peer.close()

    ours, peer = gevent.socket.socketpair()
    stop = False

    def flood() -> None:  # sends for as long as it is let
        while not stop:
            peer.sendall(b"y" * 65536)

    sender = gevent.spawn(flood)
    start = time.monotonic()
    linger(ours, timeout=5, max_bytes=256 * 1024)
    assert time.monotonic() - start < 2  # the byte cap ended it, not the 5 s
    stop = True
    ours.close()
    sender.join(timeout=2)
    peer.close()


@pytest.mark.timeout(10)
def test_linger_on_a_closed_socket_returns_at_once() -> None:
    ours, peer = gevent.socket.socketpair()
    peer.close()
    ours.close()
    linger(ours)  # nothing to do, no error
