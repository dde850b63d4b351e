"""Ports for the servers the tests start (gunicorn, redis-server, nginx, Sentinels).

``bind(("127.0.0.1", 0))`` and close hands out a port from the kernel's ephemeral range,
which is also where every outgoing connection takes its local port and where the other
pytest-xdist worker asks for its own: between the close and the server's bind, the port can
go to someone else. Seen in CI: instance B of a test could not bind its port, which a keyed
server of the other worker had taken, and that server answered B's readiness check and then
its reads (401). So each worker takes its ports from a range of its own below the ephemeral
range, and never hands one out twice in a session."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

LOW = 10_000
_used: set[int] = set()


def _high() -> int:
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32_768
    return max(LOW + 2_000, min(ephemeral, 32_768))


def _span() -> range:
    """This worker's range (the whole one without xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    width = (_high() - LOW) // max(1, count)
    start = LOW + (index % max(1, count)) * width
    return range(start, start + width)


def free_port() -> int:
    """A loopback port nobody listens on, of this worker's range, not handed out before."""
    span = _span()
    for port in random.sample(span, len(span)):
        if port in _used:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _used.add(port)
        return port
    raise RuntimeError(f"no free port left in {span.start}-{span.stop - 1}")
