"""One client fills a worker, or tries to: docs/hardening.md, "Per-client fairness".

One client (127.0.0.2) opens streams over fresh connections, back to back (or ``--pace`` s
apart), and holds every one it gets; then another client (127.0.0.3) asks for a stream and
``/healthz``. One gevent worker, the per-client limits at their defaults. Prints one JSON line:
the answers' status codes, how many streams the first client holds, and the other client's
two answers with their times (ms). ``--checkout`` serves another tree (a ``git archive`` of an
older commit: the "before" column).

    python bench/fairness.py --attempts 1000
    python bench/fairness.py --attempts 100 --pace 0.06
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import ROOT, Server

STREAM = "/stream/data?count=3600&interval=1"


def _status(sock: socket.socket) -> str:
    buf = b""
    while b"\r\n" not in buf:
        got = sock.recv(4096)
        if not got:
            return "closed"
        buf += got
    return buf.split(b" ")[1].decode()


def ask(port: int, source: str, path: str) -> tuple[str, float, socket.socket]:
    """GET ``path`` from ``source``: (status or error name, seconds, the open socket)."""
    sock = socket.socket()
    sock.settimeout(5.0)
    sock.bind((source, 0))
    began = time.monotonic()
    try:
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        return _status(sock), time.monotonic() - began, sock
    except OSError as exc:
        return type(exc).__name__, time.monotonic() - began, sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between attempts")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the tree to serve")
    args = parser.parse_args()
    env = {
        # The defaults (the test fixture turns them off), no test endpoints.
        "STREAMER_MAX_STREAMS_PER_CLIENT": "64",
        "STREAMER_NEW_STREAMS_PER_CLIENT_S": "20",
        "STREAMER_TESTING": "0",
    }
    log = Path(tempfile.mkdtemp(prefix="fairness-")) / "gunicorn.log"
    server = Server(
        env,
        log,
        cwd=args.checkout,
        argv=lambda port: [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
    )
    held: list[socket.socket] = []
    codes: dict[str, int] = {}
    try:
        began = time.monotonic()
        for _ in range(args.attempts):
            code, _, sock = ask(server.port, "127.0.0.2", STREAM)
            codes[code] = codes.get(code, 0) + 1
            if code == "200":
                held.append(sock)
            else:
                sock.close()
            time.sleep(args.pace)
        spent = time.monotonic() - began
        other = ask(server.port, "127.0.0.3", "/stream/data?count=1&interval=0")
        health = ask(server.port, "127.0.0.3", "/healthz")
        for _, _, sock in (other, health):
            sock.close()
        print(
            json.dumps(
                {
                    "attempts": args.attempts,
                    "seconds": round(spent, 2),
                    "codes": codes,
                    "held": len(held),
                    "other_client_stream": [other[0], round(other[1] * 1000, 1)],
                    "healthz": [health[0], round(health[1] * 1000, 1)],
                }
            )
        )
    finally:
        for sock in held:
            sock.close()
        server.stop()


if __name__ == "__main__":
    main()
