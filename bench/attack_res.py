"""Issue 18 rows 2-6 and issue 16's in-band terminal, as an attacker and an operator would try
them: one gunicorn gevent worker (two for the cross-worker row) on loopback, a real
redis-server on a free port. Prints one line of figures per row.

    .venv/bin/python bench/attack_res.py                  # this checkout
    .venv/bin/python bench/attack_res.py --root /tmp/base  # another checkout (e.g. the base)
    .venv/bin/python bench/attack_res.py --scale 1        # the issue's counts (slow)

``--scale`` multiplies the issue's counts (default 0.25: 250 streams where it said 1,000).
Run from the repository root; needs redis-server on PATH.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The test suite's gunicorn and redis-server helpers.
from tests import conftest
from tests.redis_fixture import RedisServer

KA, KB = "ka-key-0001", "kb-key-0002"


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start(url: str, key: str | None = None, body: Any = None) -> tuple[int, str, str]:
    """Start a stream, read its first bytes, drop it: (status, error type, stream id)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        method = requests.post if body is not None else requests.get
        with method(url, headers=headers, json=body, stream=True, timeout=60) as r:
            if r.status_code == 200:
                next(r.iter_content(chunk_size=None), b"")
                return 200, "", r.headers.get("X-Stream-Id", "")
            try:
                kind = r.json()["error"]["type"]
            except ValueError:
                kind = "non-json"
            return r.status_code, kind, ""
    except requests.RequestException as exc:
        return 0, type(exc).__name__, ""


def many(n: int, fn: Callable[[], tuple[int, str, str]]) -> Counter[str]:
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda _: fn(), range(n)))
    return Counter(f"{s}{'/' + t if t else ''}" for s, t, _ in results)


def read_to_end(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, body) of a stream read to its end (or to its cut)."""
    try:
        with requests.get(url, headers=headers, stream=True, timeout=60) as r:
            body = b""
            try:
                for chunk in r.iter_content(chunk_size=None):
                    body += chunk
            except requests.RequestException:
                pass
    except requests.RequestException as exc:
        return 0, type(exc).__name__
    return r.status_code, body.decode(errors="replace")


def tail_records(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, the last record's error type or event) of a stream read to its end."""
    status, body = read_to_end(url, headers)
    lines = [ln for ln in body.split("\n") if ln.strip() and not ln.startswith(":")]
    last = lines[-1] if lines else ""
    m = re.search(r'"type": ?"(\w+)"', last) or re.search(r'"event": ?"(\w+)"', last)
    return status, (m.group(1) if m else last[:60])


class Env:
    def __init__(self, root: Path, tmp: Path) -> None:
        conftest.ROOT = root  # Server starts gunicorn in this checkout
        self.tmp = tmp
        self.n = 0

    def server(self, env: dict[str, str], workers: int = 1) -> conftest.Server:
        self.n += 1
        return conftest.Server(
            {"STREAMER_TESTING": "0", **env}, self.tmp / f"gunicorn-{self.n}.log", workers
        )

    def redis(self) -> RedisServer:
        d = self.tmp / f"redis-{self.n}"
        self.n += 1
        d.mkdir()
        r = RedisServer(d)
        r.start()
        return r


def row2(e: Env, scale: float) -> str:
    n = max(10, int(1000 * scale))
    srv = e.server({})
    try:
        (pid,) = srv.worker_pids()
        before, t0 = rss_mib(pid), time.monotonic()
        got = many(n, lambda: start(srv.url("/stream/data?count=9999&interval=0&resumable=1")))
        peak = before
        while time.monotonic() - t0 < 60:  # until the producers are done
            time.sleep(1)
            now = rss_mib(pid)
            if now <= peak + 1:
                peak = max(peak, now)
                break
            peak = now
        return (
            f"row 2: {n} x count=9999 resumable, no key: RSS {before:.0f} -> {peak:.0f} MiB "
            f"in {time.monotonic() - t0:.1f} s; statuses {dict(got)}"
        )
    finally:
        srv.stop()


def row3(e: Env, scale: float) -> str:
    n = max(20, int(2000 * scale))
    slow = "/stream/data?count=100000&interval=60&resumable=1"
    srv = e.server(
        {
            "STREAMER_API_KEYS": f"{KA},{KB}",
            "STREAMER_RESUMABLE_MAX_STREAMS": str(max(10, int(1000 * scale))),
        }
    )
    try:
        t0 = time.monotonic()
        anon = many(n, lambda: start(srv.url(slow)))
        t_anon = time.monotonic() - t0
        one_key = many(n // 2, lambda: start(srv.url(slow), KA))
        chat = start(
            srv.url("/chat"),
            KB,
            {"messages": [{"role": "user", "content": "hi"}], "resumable": True},
        )
        return (
            f"row 3: {n} x interval=60 resumable without a key: {dict(anon)} in "
            f"{t_anon:.1f} s; {n // 2} by one key (limit 100): {dict(one_key)}; "
            f"another key's resumable chat: {chat[0]}{'/' + chat[1] if chat[1] else ''}"
        )
    finally:
        srv.stop()


def row4(e: Env, scale: float) -> str:
    n = max(20, int(1200 * scale))
    pool = max(8, int(1000 * scale))  # the issue's ~1,000 per worker, scaled with the count
    r = e.redis()
    srv = e.server({"REDIS_URL": r.url, "STREAMER_REDIS_MAX_CONNECTIONS": str(pool)})
    try:
        t0 = time.monotonic()
        got = many(n, lambda: start(srv.url("/stream/data?count=1000&interval=30&resumable=1")))
        took = time.monotonic() - t0
        time.sleep(4)  # a renewal round
        status, last = tail_records(
            srv.url("/stream/data?count=5&interval=0.2&resumable=1&format=ndjson")
        )
        ready = requests.get(srv.url("/readyz"), timeout=30).status_code
        warnings = srv.log().count("lease")
        return (
            f"row 4: {n} producers on Redis, pool {pool}: started in {took:.1f} s "
            f"{dict(got)}; a new stream: {status} ending {last}; /readyz {ready}; "
            f"{warnings} lease warnings"
        )
    finally:
        srv.stop()
        r.stop()


def row5(e: Env, scale: float) -> str:
    r = e.redis()
    srv = e.server({"REDIS_URL": r.url})
    try:
        _, _, sid = start(srv.url("/stream/data?count=100&interval=0.1&resumable=1"))
        time.sleep(0.5)
        assert r.proc is not None
        r.proc.send_signal(signal.SIGSTOP)
        time.sleep(4.5)
        r.proc.send_signal(signal.SIGCONT)
        time.sleep(12)  # the stream's 10 s run, and then some
        rs, last = tail_records(srv.url(f"/streams/{sid}?format=ndjson"))
        _, body = read_to_end(srv.url(f"/streams/{sid}?format=ndjson"))
        ids = [int(m) for m in re.findall(r'"id": ?(\d+)', body)]
        resume = tail_records(
            srv.url(f"/streams/{sid}?format=ndjson"), {"Last-Event-ID": str(max(ids) if ids else 0)}
        )
        return (
            f"row 5: SIGSTOP redis 4.5 s mid-stream: the stream ends with '{last}' after "
            f"{len(ids)} of 100 records (read {rs}); a resume from its last id: "
            f"{resume[0]} {resume[1]}"
        )
    finally:
        srv.stop()
        r.stop()


def row6(e: Env, scale: float) -> str:
    srv = e.server({"STREAMER_API_KEYS": f"{KA},{KB}", "STREAMER_ECHO_DELAY_S": "0.2"})
    try:
        _, _, sid = start(
            srv.url("/chat"),
            KA,
            {"messages": [{"role": "user", "content": "a long story"}], "resumable": True},
        )
        kb = {"Authorization": f"Bearer {KB}"}
        read = requests.get(srv.url(f"/streams/{sid}"), headers=kb, timeout=10, stream=True)
        read.close()
        cancel = requests.delete(srv.url(f"/streams/{sid}"), headers=kb, timeout=10)
        return (
            f"row 6: key kb on key ka's stream: read {read.status_code}, "
            f"cancel {cancel.status_code}"
        )
    finally:
        srv.stop()


def inband(e: Env, scale: float) -> str:
    r = e.redis()
    srv = e.server({"REDIS_URL": r.url, "STREAMER_LEASE_S": "1"}, workers=2)
    try:
        _, _, sid = start(srv.url("/stream/data?count=1000&interval=0.05&resumable=1"))
        time.sleep(0.5)
        for pid in srv.worker_pids():  # the producer's worker among them
            os.kill(pid, signal.SIGKILL)
        time.sleep(3)
        # Where the stream stopped, then a resume from its last data id.
        _, body = read_to_end(srv.url(f"/streams/{sid}?format=ndjson"))
        ids = [int(m) for m in re.findall(r'"id": ?(\d+)', body)]
        results = []
        for fmt in ("ndjson", "sse"):
            status, last = tail_records(
                srv.url(f"/streams/{sid}?format={fmt}"),
                {"Last-Event-ID": str(max(ids) if ids else 0)},
            )
            results.append(f"{fmt} {status} {last}")
        return "issue 16: resume from the last id of a producer_lost stream: " + "; ".join(results)
    finally:
        srv.stop()
        r.stop()


ROWS = {"2": row2, "3": row3, "4": row4, "5": row5, "6": row6, "inband": inband}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("rows", nargs="*", default=list(ROWS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = Env(args.root.resolve(), Path(tmp))
        print(f"# {args.root.resolve()} scale {args.scale}", flush=True)
        for row in args.rows:
            try:
                print(ROWS[row](env, args.scale), flush=True)
            except Exception as exc:  # one row's failure is a figure too
                print(f"row {row}: failed: {type(exc).__name__}: {exc}", flush=True)


if __name__ == "__main__":
    main()
