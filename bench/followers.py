"""Issue 27 row 5: one worker following many readers of a few resumable streams on one Redis.

    .venv/bin/python bench/followers.py                          # 10,000 readers of 100 streams
    .venv/bin/python bench/followers.py --readers 2000 --streams 20
    .venv/bin/python bench/followers.py --root /tmp/base         # another checkout (the base)

One gunicorn gevent worker (``-k streamer.worker.Worker``) on loopback and a redis-server on a
free port; ``--streams`` resumable streams of ``--records`` records ``--interval`` s apart,
started and left (their producers run on detached); then ``--readers`` followers spread over
them (``GET /streams/<id>``, each its own connection, from gevent greenlets in this process),
joining over ``--ramp`` seconds.
Prints the worker's CPU while they follow, its RSS before and at the peak, Redis's peak
connections and its ``XREAD`` calls, and how many readers got every record and the end.
The process's file limit bounds ``--readers`` (each is a socket here and one in the worker).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 (after the patching)
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import conftest  # noqa: E402 (the test suite's gunicorn and redis-server helpers)
from tests.redis_fixture import RedisServer  # noqa: E402


def cpu_s(pid: int) -> float:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass
    return total / 1e9


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def get(port: int, path: str, until_first: bool = False) -> tuple[bytes, dict[str, str]]:
    """A GET over a plain socket: the raw body (chunked framing included) and the headers."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        while not until_first and not body.endswith(b"0\r\n\r\n"):
            more = sock.recv(65536)
            if not more:
                break
            body += more
        return body, headers
    finally:
        sock.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readers", type=int, default=10_000)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--records", type=int, default=20)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--ramp", type=float, default=5.0, help="seconds over which readers join")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args()
    root = args.root.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        r = RedisServer(Path(tmp))
        r.start()
        srv = conftest.Server(
            {
                "REDIS_URL": r.url,
                "STREAMER_TESTING": "0",
                "STREAMER_HEARTBEAT_S": "30",
                "STREAMER_WORKER_CONNECTIONS": str(args.readers + 500),
                "STREAMER_MAX_STREAMS": str(args.readers + 500),
            },
            Path(tmp) / "gunicorn.log",
            cwd=root,
        )
        try:
            (pid,) = srv.worker_pids()
            admin = redis.Redis.from_url(r.url)
            ids = []
            for _ in range(args.streams):
                query = f"count={args.records}&interval={args.interval}&resumable=1"
                _, headers = get(srv.port, f"/stream/data?{query}", until_first=True)
                ids.append(headers["x-stream-id"])
            admin.config_resetstat()
            rss_before, cpu_before = rss_mib(pid), cpu_s(pid)
            started = time.monotonic()
            jobs = []
            for i in range(args.readers):  # joining over --ramp seconds, not all at once
                jobs.append(
                    gevent.spawn(get, srv.port, f"/streams/{ids[i % len(ids)]}?format=ndjson")
                )
                if i % 100 == 99:
                    gevent.sleep(args.ramp * 100 / args.readers)
            peak_clients, peak_rss = 0, rss_before
            while not all(job.ready() for job in jobs):
                peak_clients = max(peak_clients, int(admin.info("clients")["connected_clients"]))
                peak_rss = max(peak_rss, rss_mib(pid))
                gevent.sleep(0.2)
            took = time.monotonic() - started
            cpu = cpu_s(pid) - cpu_before
            complete = sum(
                1
                for job in jobs
                if job.successful()
                and job.value[0].count(b'"event":"data"') == args.records
                and b'"event":"end"' in job.value[0]
            )
            failures = Counter(
                type(job.exception).__name__
                if not job.successful()
                else (job.value[0][-60:].decode("utf-8", "replace") or "empty body")
                for job in jobs
                if not job.successful()
                or job.value[0].count(b'"event":"data"') != args.records
                or b'"event":"end"' not in job.value[0]
            )
            reads = int(admin.info("commandstats").get("cmdstat_xread", {}).get("calls", 0))
            print(
                f"{root.name}: {args.readers} readers of {args.streams} streams "
                f"({args.records} records, {args.interval} s apart): {complete} complete in "
                f"{took:.1f} s; worker CPU {cpu:.2f} s ({cpu / args.readers * 1e3:.2f} ms a "
                f"reader); RSS {rss_before:.0f} -> {peak_rss:.0f} MiB "
                f"({(peak_rss - rss_before) * 1024 / args.readers:.1f} KiB a reader); "
                f"Redis: peak {peak_clients} connections, {reads} XREADs"
            )
            for what, count in failures.most_common(5):
                print(f"  {count} readers incomplete: {what!r}")
        finally:
            srv.stop()
            r.stop()
            out = Path(__file__).resolve().parent / "out"
            out.mkdir(exist_ok=True)
            (out / "followers-gunicorn.log").write_bytes((Path(tmp) / "gunicorn.log").read_bytes())


if __name__ == "__main__":
    main()
