"""Real tier: clients that stop reading. Memory stays bounded while they hang (backpressure:
the producer waits once MAX_BUFFER bytes are queued), then each stream is dropped after
STREAMER_SEND_TIMEOUT_S and counted in /metrics as outcome ``send_timeout``; clients that
read slowly are not dropped.

``STREAMER_SLOW_CLIENT_S`` (default 30) is how long the 50 clients read nothing; the send
timeout is set 10 s below it (at least 2 s) so the drop happens inside that window.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from ..conftest import Server

pytestmark = pytest.mark.real

CLIENTS = 50
HOLD_S = float(os.environ.get("STREAMER_SLOW_CLIENT_S", "30"))
SEND_TIMEOUT_S = max(2.0, HOLD_S - 10)
# A producer this fast could send ~10 GB per client; what it may hand over is bounded by the
# kernel's buffers plus MAX_BUFFER (64 KiB) plus one chunk in flight.
PATH = "/stream/bench?n=10000000&size=1024"
RSS_BOUND_MIB = 40  # over the idle worker, for all 50 stuck streams together
SENT_BOUND_PER_STREAM = 16 << 20  # bytes handed to the kernel per stuck stream


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def metric(server: Server, name: str, **labels: str) -> float:
    text = requests.get(server.url("/metrics"), timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def stuck_client(server: Server, path: str) -> socket.socket:
    sock = socket.socket()
    # A small receive window, so the server's writes block soon (loopback autotuning would
    # otherwise buffer several MiB per connection in the kernel first).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def read_all(sock: socket.socket, limit_s: float = 20.0) -> tuple[bytes, str]:
    """Everything the server sent, and how the connection ended ("reset" or "eof")."""
    data = bytearray()
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(1 << 16)
            if not chunk:
                return bytes(data), "eof"
            data += chunk
    except ConnectionResetError:
        return bytes(data), "reset"
    raise AssertionError("the connection was not closed")


@pytest.mark.timeout(HOLD_S + 90)
def test_fifty_stuck_clients_bounded_memory_then_dropped_and_counted(make_server: Any) -> None:
    server: Server = make_server(
        {"STREAMER_BENCH": "1", "STREAMER_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S)}
    )
    [pid] = server.worker_pids()
    requests.get(server.url("/stream/bench?n=1000&size=1024"), timeout=10).raise_for_status()
    idle_kib = rss_kib(pid)
    clients = [stuck_client(server, PATH) for _ in range(CLIENTS)]
    try:
        check_stuck_clients(server, pid, idle_kib, clients)
    finally:
        for sock in clients:
            sock.close()


def check_stuck_clients(
    server: Server, pid: int, idle_kib: int, clients: list[socket.socket]
) -> None:
    started = time.monotonic()
    peak = idle_kib
    dropped_at = None
    while time.monotonic() - started < HOLD_S:
        peak = max(peak, rss_kib(pid))
        if (
            dropped_at is None
            and metric(server, "streamer_streams_finished_total", outcome="send_timeout") >= CLIENTS
        ):
            dropped_at = time.monotonic() - started
        time.sleep(0.5)
    print(
        f"\nworker RSS idle {idle_kib / 1024:.1f} MiB, peak with {CLIENTS} stuck clients "
        f"{peak / 1024:.1f} MiB (+{(peak - idle_kib) / 1024:.1f} MiB); all dropped after "
        f"{dropped_at} s (send timeout {SEND_TIMEOUT_S:g} s)"
    )
    assert (peak - idle_kib) / 1024 < RSS_BOUND_MIB
    assert dropped_at is not None, "the stuck streams were not dropped within the hold"
    assert dropped_at >= SEND_TIMEOUT_S * 0.9, "dropped before the send timeout"
    assert metric(server, "streamer_open_streams") == 0
    sent = metric(server, "streamer_bytes_sent_total", format="text")
    # The producer paused: it handed over a bounded amount, not gigabytes.
    assert 0 < sent < CLIENTS * SENT_BOUND_PER_STREAM, sent
    print(f"bytes handed over per stuck stream: {sent / CLIENTS / 1024:.0f} KiB")
    for sock in clients:
        data, how = read_all(sock)
        assert data.startswith(b"HTTP/1.1 200"), data[:100]
        assert not data.endswith(b"0\r\n\r\n")  # never looks complete
        assert how in ("reset", "eof")
    log = server.log()
    assert "Traceback" not in log and "Socket error" not in log
    assert len(re.findall(r"outcome=send_timeout", log)) == CLIENTS


@pytest.mark.timeout(60)
def test_a_slow_reader_is_not_dropped(make_server: Any) -> None:
    server: Server = make_server({"STREAMER_BENCH": "1", "STREAMER_SEND_TIMEOUT_S": "1"})
    sock = stuck_client(server, "/stream/bench?n=100000&size=1024")
    got = 0
    with sock:
        # ~20 KiB/s for 5 send timeouts: the server's write stays blocked (the kernel holds
        # MiBs), and no new chunk is handed over, but the client keeps acknowledging bytes,
        # so it is slow, not stuck.
        until = time.monotonic() + 5
        while time.monotonic() < until:
            chunk = sock.recv(2048)
            assert chunk, "the server closed a slow reader's stream"
            got += len(chunk)
            time.sleep(0.1)
        assert metric(server, "streamer_open_streams") == 1
    assert got > 40 * 1024
    assert metric(server, "streamer_streams_finished_total", outcome="send_timeout") == 0


@pytest.mark.timeout(60)
def test_a_reader_behind_with_unread_input_still_gets_the_error_record(make_server: Any) -> None:
    """A failed stream's ``error`` record reaches a reader that is behind and has sent bytes
    the server never read. Closing a socket with unread input makes the kernel answer with a
    reset, which throws away what is still queued for the client: the record among it."""
    server: Server = make_server()
    path = "/_test/stream?count=2000&interval=0&fail_after=2000&format=ndjson&tag=behind"
    with stuck_client(server, path) as sock:
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # unread: mid-stream
        deadline = time.monotonic() + 20
        while metric(server, "streamer_streams_finished_total", outcome="error") < 1:
            assert time.monotonic() < deadline, "the stream did not end"
            time.sleep(0.1)
        # The server is done and ~90 KiB are still queued for this reader.
        data, how = read_all(sock)
    assert data.endswith(
        b'{"event":"error","error":{"type":"internal_error","message":"internal error"}}\n\r\n'
    ), (how, data[-200:])
    assert how == "eof"
