"""Request-edge figures for docs/hardening.md: issue 18 rows 1, 7, 8, 9, 10, measured against
a real gunicorn (one gevent worker) started from a checkout.

    .venv/bin/python bench/edges.py                      # this checkout
    .venv/bin/python bench/edges.py --root /tmp/before   # another one (e.g. `git archive`)
    .venv/bin/python bench/edges.py --skip-flood         # rows 7-10 and one slow body only
    .venv/bin/python bench/edges.py --flood-only --flood 1000 --worker-connections 10000 \
        --flood-body-timeout 30                          # a flood under the slots, defaults

Bounded: one slow body (at most --slow-cap s), then --flood connections for --seconds s
against STREAMER_WORKER_CONNECTIONS=--worker-connections, all on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="edges-", suffix=".log")[1])
        full = {
            **os.environ,
            "PORT": str(self.port),
            "STREAMER_HOST": "127.0.0.1",
            "WEB_CONCURRENCY": "1",
            "PYTHONUNBUFFERED": "1",
            # These rows measure the request edges themselves, from one address (loopback):
            # the per-client limits would refuse the floods first (bench/fairness.py
            # measures those).
            "STREAMER_MAX_STREAMS_PER_CLIENT": "0",
            "STREAMER_NEW_STREAMS_PER_CLIENT_S": "0",
            **env,
        }
        for name in ("REDIS_URL", "STREAMER_API_KEYS", "OPENAI_API_KEY"):
            full.pop(name, None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=root,
            env=full,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url("/healthz"), timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise SystemExit("gunicorn did not start:\n" + self.log.read_text())

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def worker_pid(self) -> int:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return int(out[0])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def head_of(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1]) if lines and lines[0] else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return status, headers, body


SLOW_HEAD = (
    b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n"
)


def slow_body(port: int, cap_s: float, every_s: float = 1.0) -> str:
    """One body sent a byte every ``every_s``: how long until the server answers or closes."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(SLOW_HEAD)
    sock.setblocking(False)
    start, got, last = time.monotonic(), b"", 0.0
    try:
        while time.monotonic() - start < cap_s:
            try:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
                continue
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            if time.monotonic() - last >= every_s:
                last = time.monotonic()
                try:
                    sock.send(b" ")
                except OSError:
                    break
            time.sleep(0.05)
        else:
            return f"still held after {cap_s:.0f} s (no answer)"
    finally:
        sock.close()
    status, headers, _ = head_of(got)
    return (
        f"dropped after {time.monotonic() - start:.1f} s: "
        f"{status or 'no response'} {headers.get('content-type', '')}".rstrip()
    )


def flood(srv: Gunicorn, conns: int, seconds: float, probe_s: float = 10.0) -> dict[str, object]:
    """``conns`` slow bodies (a byte every 2 s each, opened once) for ``seconds``; meanwhile
    /healthz and then a short stream are probed from fresh connections, each given ``probe_s``
    to answer, one probe a second."""
    pid = srv.worker_pid()
    idle = rss_mib(pid)
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    for _ in range(conns):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", srv.port))
        socks.append(s)
    time.sleep(0.2)
    for s in socks:
        try:
            s.send(SLOW_HEAD)
        except OSError:
            pass
        sel.register(s, selectors.EVENT_READ)
    start = time.monotonic()
    next_byte, probes, peak = start, [], idle
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if now >= next_byte:
            next_byte = now + 2.0
            for s in socks:
                try:
                    s.send(b" ")
                except OSError:
                    pass
        for key, _ in sel.select(timeout=0):
            try:
                key.fileobj.recv(65536)  # type: ignore[union-attr]
            except OSError:
                pass
        t0 = time.monotonic()
        try:
            h = requests.get(srv.url("/healthz"), timeout=probe_s).status_code
            st = requests.get(
                srv.url("/stream/data?count=3&interval=0&format=ndjson"), timeout=probe_s
            )
            probes.append((h == 200 and st.ok and b'"end"' in st.content, time.monotonic() - t0))
        except requests.RequestException:
            probes.append((False, time.monotonic() - t0))
        peak = max(peak, rss_mib(pid))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    for s in socks:
        s.close()
    served = [t for ok, t in probes if ok]
    dropped = 0.0
    try:
        for line in requests.get(srv.url("/metrics"), timeout=5).text.splitlines():
            if line.startswith("streamer_request_bodies_dropped_total{"):
                dropped += float(line.rsplit(" ", 1)[1])
    except requests.RequestException:
        pass
    return {
        "rss_idle_mib": round(idle, 1),
        "rss_peak_mib": round(peak, 1),
        "probes_served": f"{len(served)}/{len(probes)}",
        "slowest_served_probe_s": round(max(served), 2) if served else None,
        "bodies_dropped_metric": dropped,
    }


def rows_7_to_10(srv: Gunicorn) -> dict[str, str]:
    out: dict[str, str] = {}
    before = len(srv.log.read_text(errors="replace"))
    for name, body in [
        ("7 100 KB of [", b"[" * 100_000),
        ('7 {"a": x 50,000', b'{"a":' * 50_000),
        (
            "7 5,000-digit max_tokens",
            b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":' + b"9" * 5000 + b"}",
        ),
    ]:
        r = requests.post(
            srv.url("/chat"), data=body, timeout=10, headers={"Content-Type": "application/json"}
        )
        out[name] = f"{r.status_code} {r.text[:110]}"
    time.sleep(0.3)
    out["7 tracebacks in the log"] = str(
        srv.log.read_text(errors="replace")[before:].count("Traceback")
    )
    status, headers, body = head_of(
        raw(srv.port, b"GET /static//x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    )
    out["8 GET /static//x, Host: evil.example"] = (
        f"{status} Location: {headers.get('location', '-')}; evil.example in body: "
        f"{b'evil.example' in body}"
    )
    for name, data in [
        (
            "9 10 KB header",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n",
        ),
        (
            "9 CL+TE",
            b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "9 unknown transfer coding",
            b"POST /chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n",
        ),
    ]:
        status, headers, body = head_of(raw(srv.port, data))
        out[name] = f"{status} {headers.get('content-type', '-')} {body[:90]!r}"
    r = requests.get(srv.url("/stream/data?count=" + "9" * 3000), timeout=10)
    out["10 count= with 3,000 digits"] = (
        f"{r.status_code}, message of {len(r.json()['error']['message'])} characters"
    )
    return out


def big_body(srv: Gunicorn, runs: int = 15) -> str:
    """What the deadline costs a body that arrives at speed: ``POST /chat`` of 1 MiB (a 422:
    read whole, parsed, refused on a field), median and fastest of ``runs``."""
    body = json.dumps(
        {"messages": [{"role": "user", "content": "x" * ((1 << 20) - 200)}], "model": "-"}
    ).encode()
    session, times = requests.Session(), []
    for _ in range(runs):
        start = time.perf_counter()
        response = session.post(
            srv.url("/chat"), data=body, timeout=10, headers={"Content-Type": "application/json"}
        )
        times.append(time.perf_counter() - start)
    times.sort()
    return (
        f"{response.status_code}, median {times[runs // 2] * 1e3:.1f} ms, "
        f"fastest {times[0] * 1e3:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--flood", type=int, default=300)
    parser.add_argument("--worker-connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--slow-cap", type=float, default=35.0)
    parser.add_argument(
        "--flood-body-timeout",
        type=float,
        default=2.0,
        help="STREAMER_BODY_TIMEOUT_S of the flood's server (default 2)",
    )
    parser.add_argument("--skip-flood", action="store_true")
    parser.add_argument("--flood-only", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {"root": str(args.root)}
    if not args.flood_only:
        srv = Gunicorn(args.root, {})
        try:
            results.update(rows_7_to_10(srv))
            results["1 one body, a byte a second"] = slow_body(srv.port, args.slow_cap)
            results["1 cost: POST /chat of 1 MiB at speed"] = big_body(srv)
        finally:
            srv.stop()
    if not args.skip_flood:
        srv = Gunicorn(
            args.root,
            {
                "STREAMER_WORKER_CONNECTIONS": str(args.worker_connections),
                "STREAMER_BODY_TIMEOUT_S": str(args.flood_body_timeout),
            },
        )
        try:
            results[
                f"1 flood: {args.flood} slow bodies, {args.seconds:g} s, "
                f"worker_connections={args.worker_connections}, "
                f"STREAMER_BODY_TIMEOUT_S={args.flood_body_timeout:g}"
            ] = flood(srv, args.flood, args.seconds)
        finally:
            srv.stop()
    print(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
