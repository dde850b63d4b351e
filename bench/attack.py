"""The standing attack suite (issue 27 row 6): every row of docs/hardening.md, tried as an
attacker and an operator would, against a live deployment, in one command with a table.

    .venv/bin/python bench/attack.py            # prints a Markdown table; exit 1 if a row fails
    .venv/bin/python bench/attack.py --short    # smaller counts (what CI runs, ~1 min)

The deployment is the one of deploy/: nginx (the repository's template, TLS with a throwaway
certificate) in front of two service instances (gunicorn, ``-k streamer.worker.Worker``) on
one redis-server, API keys on, all on loopback ports. Each row says where its attack goes:
``edge`` is nginx, what the internet reaches; ``direct`` is an instance, for what nginx would
stop first (it re-frames request bodies, so a malformed chunk never reaches an instance
through it, and it holds slow bodies itself) but a deployment without it, or a client on the
private network, can still send. A third instance on the same Redis with keys off serves the
followers row (readers of a key count against its per-key limit), and a small one (20
connection slots) the full-worker row. Redis is restarted empty by the last row.

The rows test the promises, not the code: each is a request or a few, with the expected answer
written next to it, and a row passes only when the deployment answers as docs/hardening.md
says. ``tests/real/test_attack_suite.py`` runs ``--short`` in CI.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edges import head_of

from tests import conftest
from tests.nginx_fixture import Nginx
from tests.real.test_fairness_live import client_at
from tests.real.test_resumable_live import read_all as stream_body
from tests.redis_fixture import RedisServer

KA, KB = "attack-key-a-0001", "attack-key-b-0002"
PER_KEY = 3
PER_CLIENT_OPEN, PER_CLIENT_RATE = 64, 20  # the defaults of the per-client limits
AUTH = f"Authorization: Bearer {KA}\r\n".encode()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def raw(port: int, data: bytes, timeout: float = 10) -> tuple[bytes, bool]:
    """What a socket gets for ``data`` until the server closes: (bytes, was it reset)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out, reset = b"", False
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except ConnectionResetError:
            reset = True
        except TimeoutError:
            pass
        return out, reset


def error_type(body: bytes | str) -> str:
    try:
        return str(json.loads(body)["error"]["type"])
    except (ValueError, KeyError, TypeError):
        return "not JSON"


def read_all(get: Callable[..., requests.Response], url: str, **kw: Any) -> tuple[int, str]:
    """(status, body) of a stream read to its end, or to its cut (an error record is the
    last thing before a cut body)."""
    with get(url, stream=True, timeout=30, **kw) as r:
        return r.status_code, stream_body(r).decode(errors="replace")


def last_record(body: str) -> dict[str, Any]:
    """An NDJSON stream's last record, an error's ``type`` lifted beside its ``event``."""
    lines = [ln for ln in body.split("\n") if ln.strip() and not ln.startswith(":")]
    record: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if isinstance(record.get("error"), dict):
        record["type"] = record["error"].get("type")
    return record


class Deployment:
    """nginx + two instances on one Redis (keys on), and a small third instance."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.redis = RedisServer(tmp / "redis")
        (tmp / "redis").mkdir()
        self.redis.start()
        env = {
            "REDIS_URL": self.redis.url,
            "STREAMER_API_KEYS": f"{KA},{KB}",
            "STREAMER_MAX_STREAMS_PER_KEY": str(PER_KEY),
            "STREAMER_BODY_TIMEOUT_S": "2",
            "STREAMER_LEASE_S": "3",
            "STREAMER_HEARTBEAT_S": "1",
            "STREAMER_TESTING": "0",
        }
        # The per-client limits at their defaults (the test fixtures turn them off), nginx
        # the trusted proxy whose X-Forwarded-For names the client.
        edge_env = {
            **env,
            "STREAMER_MAX_STREAMS_PER_CLIENT": str(PER_CLIENT_OPEN),
            "STREAMER_NEW_STREAMS_PER_CLIENT_S": str(PER_CLIENT_RATE),
            "STREAMER_TRUSTED_PROXIES": "127.0.0.1",
        }
        self.a = conftest.Server(edge_env, tmp / "a.log")
        self.b = conftest.Server(edge_env, tmp / "b.log")
        # Keys off, same Redis: followers without a key's per-key limit.
        self.open = conftest.Server(
            {k: v for k, v in env.items() if k != "STREAMER_API_KEYS"}, tmp / "open.log"
        )
        self.small = conftest.Server(
            {"STREAMER_WORKER_CONNECTIONS": "20", "STREAMER_TESTING": "0"}, tmp / "small.log"
        )
        (tmp / "nginx").mkdir()
        self.nginx = Nginx(tmp / "nginx", [f"127.0.0.1:{s.port}" for s in (self.a, self.b)])
        # The edge's client, at an address of its own (the per-client limits count by it);
        # trust_env off in client_at: requests lets REQUESTS_CA_BUNDLE override verify.
        self.edge = client_at("127.0.0.7")
        self.edge.verify = False  # the throwaway certificate

    def url(self, path: str) -> str:
        return self.nginx.https_url(path)

    def stop(self) -> None:
        self.nginx.stop()
        for srv in (self.a, self.b, self.open, self.small):
            srv.stop()
        self.redis.stop()

    def tracebacks(self) -> int:
        return sum(
            s.log_path.read_text(errors="replace").count("Traceback")
            for s in (self.a, self.b, self.open, self.small)
        )


Result = tuple[bool, str]


@dataclass(frozen=True)
class Row:
    section: str  # docs/hardening.md's heading
    attack: str
    where: str  # edge or direct
    expect: str
    run: Callable[[Deployment, bool], Result]


def slow_body(d: Deployment, short: bool) -> Result:
    sock = socket.create_connection(("127.0.0.1", d.a.port), timeout=15)
    started = time.monotonic()
    sock.sendall(
        b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n" + AUTH + b"\r\n"
    )
    answer = b""
    try:
        while time.monotonic() - started < 15:
            sock.sendall(b" ")
            sock.settimeout(0.5)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    finally:
        sock.close()
    took = time.monotonic() - started
    status, _, body = head_of(answer)
    return status == 408 and error_type(body) != "not JSON" and took < 10, (
        f"{status} {error_type(body)} after {took:.1f} s"
    )


def hostile_json(d: Deployment, short: bool) -> Result:
    r = d.edge.post(
        d.url("/chat"),
        data=b"[" * 100_000,
        headers={**bearer(KA), "Content-Type": "application/json"},
        timeout=10,
    )
    message = r.json()["error"]["message"] if r.status_code == 400 else r.text[:60]
    return r.status_code == 400 and error_type(r.text) == "invalid_json", (
        f"{r.status_code} {error_type(r.text)}: {message}"
    )


def host_redirect(d: Deployment, short: bool) -> Result:
    r = d.edge.get(
        d.url("/static//page.css"), headers={"Host": "evil.example"}, allow_redirects=False
    )
    location = r.headers.get("Location", "-")
    return r.status_code == 308 and location == "/static/page.css" and not r.content, (
        f"{r.status_code} Location: {location}, body {len(r.content)} bytes"
    )


def refusals(d: Deployment, short: bool) -> Result:
    seen = []
    ok = True
    for data, want in [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n", 431),
        (b"POST /chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501),
    ]:
        status, headers, _ = head_of(raw(d.a.port, data)[0])
        ok = ok and status == want and headers.get("content-type") == "application/json"
        seen.append(f"{status} {headers.get('content-type', '-')}")
    return ok, "; ".join(seen)


def echoed(d: Deployment, short: bool) -> Result:
    r = d.edge.get(d.url("/stream/data?count=" + "9" * 3000), timeout=10)
    models = d.edge.get(d.url("/v1/models/" + "m" * 200), headers=bearer(KA), timeout=10)
    a = len(r.json()["error"]["message"]) if r.status_code == 400 else -1
    b = models.text.count("m" * 41)
    return r.status_code == 400 and a < 120 and models.status_code == 404 and b == 0, (
        f"count: {r.status_code}, {a} characters; /v1/models/<200>: {models.status_code}, "
        f"{'no' if b == 0 else 'a'} run of 41 quoted"
    )


def bad_chunk(d: Deployment, short: bool) -> Result:
    before = d.tracebacks()
    out, _ = raw(
        d.a.port,
        b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n" + AUTH + b"\r\nZZ\r\n{}\r\n0\r\n\r\n",
    )
    status, _, body = head_of(out)
    time.sleep(0.2)
    added = d.tracebacks() - before
    return status == 400 and error_type(body) == "malformed_body" and added == 0, (
        f"{status} {error_type(body)}, {added} tracebacks"
    )


def big_body(d: Deployment, short: bool) -> Result:
    resets = 0
    statuses = set()
    runs = 3 if short else 10
    for _ in range(runs):
        out, reset = raw(
            d.a.port,
            b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2097152\r\nConnection: close\r\n" + AUTH + b"\r\n" + b" " * 2097152,
        )
        resets += reset
        status, _, body = head_of(out)
        statuses.add((status, error_type(body)))
    return (statuses == {(413, "request_too_large")} and resets == 0) or (
        len(statuses) == 1 and next(iter(statuses))[0] == 413 and resets == 0
    ), f"{sorted(statuses)}, {resets} of {runs} reset"


def full_worker(d: Deployment, short: bool) -> Result:
    held: list[socket.socket] = []
    deadline = time.monotonic() + 20
    try:
        # Every slot of the small instance held by a slow stream (a slot may still be held a
        # moment by an idle keep-alive connection: a stream refused meanwhile is retried).
        while len(held) < 20 and time.monotonic() < deadline:
            s = socket.create_connection(("127.0.0.1", d.small.port), timeout=10)
            s.sendall(b"GET /stream/data?count=100&interval=0.5 HTTP/1.1\r\nHost: t\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                held.append(s)
            else:
                s.close()
                time.sleep(0.2)
        started = time.monotonic()
        health = requests.get(d.small.url("/healthz"), timeout=5).status_code
        refused = requests.get(d.small.url("/stream/data?count=1"), timeout=5)
        took = time.monotonic() - started
    finally:
        for s in held:
            s.close()
    ok = len(held) == 20 and health == 200 and refused.status_code == 503 and took < 2
    return ok, (
        f"{len(held)} slots held; /healthz {health}, a new stream {refused.status_code} "
        f"{error_type(refused.text)}, both in {took * 1000:.0f} ms"
    )


def client(d: Deployment, source: str) -> requests.Session:
    """A client of the edge at its own loopback address (nginx tells the instances which)."""
    session = client_at(source)
    session.verify = False
    return session


def per_client_open(d: Deployment, short: bool) -> Result:
    a, b = client(d, "127.0.0.2"), client(d, "127.0.0.3")
    slow = d.url("/stream/data?count=1000&interval=30")
    held: list[requests.Response] = []
    try:
        for _ in range(PER_CLIENT_OPEN):
            held.append(a.get(slow, stream=True, timeout=10))
            time.sleep(1.2 / PER_CLIENT_RATE)  # under the rate limit: this row is the other
        opened = sum(r.status_code == 200 for r in held)
        over = a.get(slow, timeout=10)
        other = b.get(d.url("/stream/data?count=1&interval=0"), timeout=10).status_code
    finally:
        for r in held:
            r.close()
    ok = (
        opened == PER_CLIENT_OPEN
        and over.status_code == 429
        and error_type(over.text) == "too_many_streams_for_client"
        and int(over.headers.get("Retry-After", 0)) >= 1
        and other == 200
    )
    return ok, (
        f"client 127.0.0.2: {opened} open, the next {over.status_code} "
        f"{error_type(over.text)}; client 127.0.0.3 then: {other}"
    )


def per_client_rate(d: Deployment, short: bool) -> Result:
    time.sleep(1.1)  # a fresh window
    a, b = client(d, "127.0.0.4"), client(d, "127.0.0.5")
    quick = d.url("/stream/data?count=1&interval=0")
    answers = [a.get(quick, timeout=10) for _ in range(PER_CLIENT_RATE * 2)]
    refused = [r for r in answers if r.status_code == 429]
    other = b.get(quick, timeout=10).status_code
    ok = (
        refused
        and len(answers) - len(refused) <= 2 * PER_CLIENT_RATE
        and error_type(refused[0].text) == "too_many_new_streams_for_client"
        and int(refused[0].headers.get("Retry-After", 0)) >= 1
        and other == 200
    )
    return bool(ok), (
        f"client 127.0.0.4, {len(answers)} streams back to back: {len(refused)} x 429 "
        f"{error_type(refused[0].text) if refused else '-'}; client 127.0.0.5 then: {other}"
    )


def start_resumable(
    d: Deployment, key: str, path: str, session: requests.Session | None = None
) -> requests.Response:
    r = (session or d.edge).get(d.url(path), headers=bearer(key), stream=True, timeout=15)
    if r.status_code == 200:
        next(r.iter_content(chunk_size=None), b"")
    else:
        r.content  # noqa: B018 (the JSON body)
    r.close()
    return r


def per_key_limit(d: Deployment, short: bool) -> Result:
    slow = "/stream/data?count=1000&interval=30&resumable=1"
    # From an address of its own: the per-client rate (20 a second) is another row's subject.
    own = client(d, "127.0.0.6")
    answers = [start_resumable(d, KA, slow, own) for _ in range(PER_KEY * 2 + 2)]
    codes = [r.status_code for r in answers]
    refused = [r for r in answers if r.status_code == 429]
    other = start_resumable(d, KB, "/stream/data?count=2&interval=0&resumable=1", own).status_code
    for r in answers:
        if r.status_code == 200:
            d.edge.delete(d.url(f"/streams/{r.headers['X-Stream-Id']}"), headers=bearer(KA))
    ok = (
        codes.count(200) <= PER_KEY
        and refused
        and all(int(r.headers.get("Retry-After", 0)) >= 1 for r in refused)
        and error_type(refused[0].text) == "too_many_streams_for_key"
        and other == 200
    )
    return bool(ok), (
        f"key A, {len(codes)} slow streams over two instances: {codes.count(200)} started, "
        f"{len(refused)} x 429 with Retry-After; key B then: {other}"
    )


def ownership(d: Deployment, short: bool) -> Result:
    r = start_resumable(d, KA, "/stream/data?count=3&interval=0&resumable=1")
    sid = r.headers["X-Stream-Id"]
    theirs = d.edge.get(d.url(f"/streams/{sid}"), headers=bearer(KB), timeout=10)
    unknown = d.edge.get(d.url("/streams/" + "0" * 32), headers=bearer(KB), timeout=10)
    mine = d.edge.get(d.url(f"/streams/{sid}?format=ndjson"), headers=bearer(KA), timeout=10)
    ok = theirs.status_code == 404 and theirs.text == unknown.text and mine.status_code == 200
    return ok, (
        f"key B reads key A's stream: {theirs.status_code} (the same body as an unknown "
        f"id: {theirs.text == unknown.text}); key A: {mine.status_code}"
    )


def cross_instance(d: Deployment, short: bool) -> Result:
    count = 20
    r = requests.get(
        d.a.url(f"/stream/data?count={count}&interval=0.05&resumable=1"),
        headers=bearer(KA),
        stream=True,
        timeout=15,
    )
    next(r.iter_content(chunk_size=None))
    r.close()  # the producer runs on, on instance A
    sid = r.headers["X-Stream-Id"]
    body = requests.get(
        d.b.url(f"/streams/{sid}?format=ndjson"), headers=bearer(KA), timeout=30
    ).text
    ids = [rec["id"] for rec in map(json.loads, body.split("\n")[:-1]) if rec["event"] == "data"]
    end = last_record(body)
    ok = ids == list(range(1, count + 1)) and end.get("event") == "end"
    return ok, f"started on A, read on B: {len(ids)} records once each, then {end.get('event')}"


def in_band(d: Deployment, short: bool) -> Result:
    r = start_resumable(d, KA, "/stream/data?count=1000&interval=1&resumable=1")
    sid = r.headers["X-Stream-Id"]
    d.edge.delete(d.url(f"/streams/{sid}"), headers=bearer(KA), timeout=10)
    status, body = read_all(d.edge.get, d.url(f"/streams/{sid}?format=ndjson"), headers=bearer(KA))
    end = last_record(body)
    done = start_resumable(d, KA, "/stream/data?count=2&interval=0&resumable=1")
    time.sleep(0.3)
    past = d.edge.get(
        d.url(f"/streams/{done.headers['X-Stream-Id']}?format=sse"),
        headers={**bearer(KA), "Last-Event-ID": "3"},
        timeout=10,
    )
    ok = status == 200 and end.get("type") == "cancelled" and past.status_code == 204
    return ok, (
        f"a cancelled stream read: {status} and {end.get('event')} "
        f"{end.get('type')} in-band; an SSE resume past the end: {past.status_code}"
    )


def followers(d: Deployment, short: bool) -> Result:
    admin = redis.Redis.from_url(d.redis.url)
    n = 30 if short else 300
    r = requests.get(
        d.open.url("/stream/data?count=6&interval=0.5&resumable=1"),
        stream=True,
        timeout=15,
    )
    next(r.iter_content(chunk_size=None))
    r.close()
    sid = r.headers["X-Stream-Id"]
    before = int(admin.info("clients")["connected_clients"])
    results: list[str] = []

    def follow() -> None:
        body = requests.get(d.open.url(f"/streams/{sid}?format=ndjson"), timeout=30).text
        results.append(str(last_record(body).get("event")))

    threads = [threading.Thread(target=follow) for _ in range(n)]
    for t in threads:
        t.start()
    peak, blocked = before, 0
    while any(t.is_alive() for t in threads):
        clients = admin.info("clients")
        peak = max(peak, int(clients["connected_clients"]))
        blocked = max(blocked, int(clients["blocked_clients"]))
        time.sleep(0.05)
    ok = results.count("end") == n and blocked <= 5
    return ok, (
        f"{n} followers of one stream on one instance: {results.count('end')} ended; "
        f"at most {blocked} blocked in a Redis read at once; connections {before} -> {peak}"
    )


def redis_restart(d: Deployment, short: bool) -> Result:
    r = requests.get(
        d.a.url("/stream/data?count=40&interval=0.1&resumable=1"),
        headers=bearer(KA),
        stream=True,
        timeout=15,
    )
    next(r.iter_content(chunk_size=None))
    r.close()
    sid = r.headers["X-Stream-Id"]
    got: list[str] = []
    reader = threading.Thread(
        target=lambda: got.append(
            read_all(requests.get, d.b.url(f"/streams/{sid}?format=ndjson"), headers=bearer(KA))[1]
        )
    )
    reader.start()
    time.sleep(1.0)
    d.redis.stop()
    d.redis.start()  # empty: no persistence
    reader.join(30)
    end = last_record(got[0]) if got else {}
    after = d.edge.get(d.url("/stream/data?count=2&interval=0&resumable=1"), headers=bearer(KB))
    ok = end.get("type") in ("store_lost", "store_unavailable") and after.status_code == 200
    return ok, (
        f"a reader on B of a stream running on A: ends with {end.get('event')} "
        f"{end.get('type')} in-band; a new stream after: {after.status_code}"
    )


ROWS = [
    Row("Slow request bodies", "a body a byte at a time", "direct", "408 JSON within ~7 s",
        slow_body),
    Row("Hostile JSON", "100 KB of `[`", "edge", "400 invalid_json", hostile_json),
    Row("No redirect built from the Host header", "`/static//page.css`, Host evil.example",
        "edge", "308 to `/static/page.css`, no body", host_redirect),
    Row("gunicorn's refusals as JSON", "a 10 KB header; `Transfer-Encoding: foo`", "direct",
        "431 and 501, JSON", refusals),
    Row("Echoed values", "3,000-digit `count`; a 200-character model id", "edge",
        "400 / 404, quoted values cut at 40", echoed),
    Row("Request edges, row 11", "chunk size `ZZ`", "direct", "400 malformed_body, no traceback",
        bad_chunk),
    Row("Request edges, row 12", "2 MiB at once, `Connection: close`", "direct",
        "413 JSON, no reset", big_body),
    Row("A full worker answers at once", "20 of 20 slots held", "direct",
        "/healthz 200, new work 503 at once", full_worker),
    Row("Limits", "one key starts slow resumable streams", "edge",
        f"at most {PER_KEY}, then 429 with Retry-After; another key unaffected", per_key_limit),
    Row("Per-client limits", f"one address holds {PER_CLIENT_OPEN} slow streams", "edge",
        "the next is 429 with Retry-After; another address unaffected", per_client_open),
    Row("Per-client limits", "one address opens streams back to back", "edge",
        f"past {PER_CLIENT_RATE} a second, 429 with Retry-After; another address unaffected",
        per_client_rate),
    Row("Ownership", "key B reads key A's stream", "edge", "404, as an unknown id", ownership),
    Row("Resumable streams", "started on A, read on B", "direct", "every record once, then end",
        cross_instance),
    Row("A stream's outcome is always in-band", "read a cancelled stream; SSE resume past end",
        "edge", "200 with error cancelled; 204", in_band),
    Row("Redis hiccups: pool exhaustion", "followers of one stream", "direct",
        "all end; one blocking Redis read for them, not one each", followers),
    Row("Redis hiccups: Redis back empty", "Redis restarted empty under a running stream",
        "direct", "the reader ends in-band (store_lost); new streams work", redis_restart),
]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="smaller counts (CI)")
    args = ap.parse_args()
    urllib3.disable_warnings()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        d = Deployment(Path(tmp))
        try:
            print("| row of docs/hardening.md | attack | where | expected | seen | |")
            print("| --- | --- | --- | --- | --- | --- |")
            for row in ROWS:
                started = time.monotonic()
                try:
                    ok, seen = row.run(d, args.short)
                except Exception as exc:
                    ok, seen = False, f"raised {type(exc).__name__}: {str(exc)[:80]}"
                failed += not ok
                print(
                    f"| {row.section} | {row.attack} | {row.where} | {row.expect} | {seen} "
                    f"({time.monotonic() - started:.1f} s) | {'pass' if ok else 'FAIL'} |",
                    flush=True,
                )
            print(f"\n{len(ROWS) - failed} of {len(ROWS)} rows pass")
        finally:
            d.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
