"""Fast tier of streamer.engine.disconnect: a client that leaves while its stream is idle is noticed
from the event loop, without a write (through gunicorn: tests/real/test_service.py)."""

from __future__ import annotations

from collections.abc import Callable

import gevent
import gevent.socket
import pytest

from streamer.engine.disconnect import DisconnectWatcher


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
