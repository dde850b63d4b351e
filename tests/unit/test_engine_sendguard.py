"""Fast tier of streamer.engine.sendguard: a stream whose client stopped reading is dropped, one
that is slow but moving is not (through gunicorn: tests/real/test_slow_clients.py)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from streamer.engine.sendguard import SendGuard, check_interval


@pytest.mark.parametrize(("timeout_s", "every"), [(0.1, 0.05), (8.0, 1.0), (600.0, 2.0)])
def test_checks_come_about_every_eighth_of_the_timeout_within_bounds(
    timeout_s: float, every: float
) -> None:
    assert check_interval(timeout_s) == every


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A loopback TCP connection: (server side, client side)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    yield server, client
    server.close()
    client.close()


def fill(sock: socket.socket) -> None:
    """Write until the kernel takes no more: the peer is not reading."""
    sock.setblocking(False)
    try:
        while True:
            sock.send(b"x" * 65536)
    except BlockingIOError:
        pass


def test_a_writable_socket_is_not_stuck(pair: tuple[socket.socket, socket.socket]) -> None:
    stuck: list[bool] = []
    guard = SendGuard(pair[0], 0.0, lambda: 0, lambda: stuck.append(True), timer=False)
    guard.check()
    guard.check()
    assert stuck == []


def test_a_full_socket_without_progress_is_dropped_once(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, _ = pair
    fill(server)
    stuck: list[bool] = []
    guard = SendGuard(server, 0.0, lambda: 0, lambda: stuck.append(True), timer=False)
    guard.check()
    guard.check()
    assert stuck == [True]
    # Reset: linger 0 (the close that follows sends RST, dropping the unsent bytes) and shut.
    assert struct.unpack("ii", server.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)) == (1, 0)
    with pytest.raises(OSError):
        server.send(b"more")


def test_new_chunks_count_as_progress(pair: tuple[socket.socket, socket.socket]) -> None:
    server, _ = pair
    fill(server)
    sent = [0]
    stuck: list[bool] = []
    guard = SendGuard(server, 0.0, lambda: sent[0], lambda: stuck.append(True), timer=False)
    sent[0] += 1
    guard.check()
    assert stuck == []
    guard.stop()
    guard.check()  # stopped: never fires
    assert stuck == []
