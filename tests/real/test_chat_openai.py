"""Real tier: POST /chat through gunicorn (gevent worker) and the real openai SDK, against the
protocol-accurate fake upstream in tests/fake_openai.py (running in this process)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from streamer.wire.decoders import NDJSONDecoder
from streamer.wire.records import Data, End, Error, Ping

from ..conftest import Server
from ..fake_openai import FakeOpenAI, expected_reply, fake_model

pytestmark = pytest.mark.real

KEY = "sk-upstream-secret-0123456789abcdef"
PROMPT = "streaming answers token by token"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def chat_server(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        {
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "STREAMER_UPSTREAM_RETRIES": "0",
            "STREAMER_HEARTBEAT_S": "0.5",
            "STREAMER_UPSTREAM_TIMEOUT_S": "30",
        },
        tmp_path_factory.mktemp("chat") / "gunicorn.log",
    )
    yield srv
    srv.stop()
    assert KEY not in srv.log(), "the upstream key reached a log line"


def body(model: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": PROMPT}], "model": model, **extra}


def post(server: Server, model: str, fmt: str = "ndjson", **extra: Any) -> requests.Response:
    return requests.post(
        server.url(f"/chat?format={fmt}"), json=body(model, **extra), stream=True, timeout=30
    )


def read_records(
    response: requests.Response, on_first: Callable[[], None] | None = None
) -> tuple[list[Any], list[float]]:
    decoder = NDJSONDecoder()
    got: list[Any] = []
    times: list[float] = []
    try:
        for chunk in response.iter_content(chunk_size=None):
            for record in decoder.feed(chunk):
                if not isinstance(record, Ping):
                    got.append(record)
                    times.append(time.monotonic())
                    if on_first is not None and len(got) == 1:
                        on_first()
    except requests.exceptions.ChunkedEncodingError:
        got.append("cut")
    return got, times


@pytest.mark.timeout(30)
def test_chat_streams_tokens_as_the_upstream_produces_them(
    chat_server: Server, upstream: FakeOpenAI
) -> None:
    n, delay = 8, 0.15
    with post(chat_server, fake_model(tokens=n, delay=delay)) as response:
        assert response.status_code == 200
        got, times = read_records(response)
    tokens = [r.data for r in got if isinstance(r, Data)]
    assert "".join(tokens) == expected_reply(PROMPT, tokens=n)
    assert len(tokens) == n
    end = got[-1]
    assert isinstance(end, End) and end.count == n
    assert end.extra["usage"]["completion_tokens"] == n
    assert end.extra["usage"]["total_tokens"] > n
    # The first token reached us long before the upstream produced its last one.
    assert times[-1] - times[0] > (n - 2) * delay
    record = upstream.requests[-1]
    record.wait_done(timeout=5)
    assert record.first_token_at is not None and record.last_token_at is not None
    assert times[0] < record.last_token_at - delay


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("scenario", "status", "type"),
    [
        pytest.param({"fail": 401}, 502, "upstream_auth", id="auth"),
        pytest.param({"fail": 403}, 502, "upstream_auth", id="forbidden"),
        pytest.param({"fail": 500}, 502, "upstream_error", id="server-error"),
        pytest.param({"fail": 404}, 502, "upstream_rejected", id="unknown-model"),
        pytest.param(
            {"fail": 429, "retry_after": 7}, 429, "upstream_rate_limited", id="rate-limit"
        ),
    ],
)
def test_upstream_failures_before_the_first_token_are_mapped(
    chat_server: Server, scenario: dict[str, Any], status: int, type: str
) -> None:
    response = requests.post(
        chat_server.url("/chat"), json=body(fake_model(**scenario)), timeout=10
    )
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == type
    assert KEY not in response.text and "sk-" not in response.text
    if status == 429:
        assert response.headers["Retry-After"] == "7"


@pytest.mark.timeout(30)
def test_wrong_upstream_key_is_a_502_without_the_key(
    upstream: FakeOpenAI, make_server: Any
) -> None:
    wrong = "sk-wrong-key-must-not-leak-42"
    server: Server = make_server(
        {
            "OPENAI_API_KEY": wrong,
            "OPENAI_BASE_URL": upstream.base_url,
            "STREAMER_UPSTREAM_RETRIES": "0",
        }
    )
    response = requests.post(server.url("/chat"), json=body("fake"), timeout=10)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_auth"
    assert wrong not in response.text and wrong[-6:] not in response.text
    assert wrong not in server.log() and wrong[-6:] not in server.log()


@pytest.mark.timeout(30)
def test_upstream_timeout_before_the_first_byte_is_504(
    upstream: FakeOpenAI, make_server: Any
) -> None:
    server: Server = make_server(
        {
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "STREAMER_UPSTREAM_RETRIES": "0",
            "STREAMER_UPSTREAM_TIMEOUT_S": "0.5",
            "STREAMER_HEARTBEAT_S": "5",
        }
    )
    response = requests.post(
        server.url("/chat"), json=body(fake_model(hang="before_headers")), timeout=10
    )
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "upstream_timeout"


@pytest.mark.timeout(30)
def test_silent_upstream_gets_heartbeats_then_an_in_band_timeout(
    upstream: FakeOpenAI, make_server: Any
) -> None:
    server: Server = make_server(
        {
            "OPENAI_API_KEY": KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "STREAMER_UPSTREAM_RETRIES": "0",
            "STREAMER_UPSTREAM_TIMEOUT_S": "1.5",
            "STREAMER_HEARTBEAT_S": "0.3",
        }
    )
    with requests.post(
        server.url("/chat?format=ndjson"),
        json=body(fake_model(hang="after_headers")),
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 200
        decoder = NDJSONDecoder()
        got: list[Any] = []
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for chunk in response.iter_content(chunk_size=None):
                got.extend(decoder.feed(chunk))
    pings = [r for r in got if isinstance(r, Ping)]
    assert len(pings) >= 3
    assert got[-1] == Error("upstream_timeout", "the model did not answer in time")


@pytest.mark.timeout(30)
def test_upstream_cut_mid_answer_is_an_error_record_not_end(chat_server: Server) -> None:
    with post(chat_server, fake_model(tokens=10, cut=4, delay=0.01)) as response:
        assert response.status_code == 200
        got, _ = read_records(response)
    assert [r.id for r in got if isinstance(r, Data)] == [1, 2, 3, 4]
    assert isinstance(got[-2], Error) and got[-2].type == "upstream_disconnected"
    assert got[-1] == "cut"
    assert not any(isinstance(r, End) for r in got)


def raw_chat(server: Server, model: str) -> socket.socket:
    import json

    payload = json.dumps(body(model)).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(
        b"POST /chat?format=ndjson HTTP/1.1\r\nHost: t\r\nContent-Type: "
        b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
    )
    return sock


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param({"tokens": 200, "delay": 0.1}, id="after-5-tokens"),
        pytest.param({"hang": "after_headers"}, id="silent-before-first-token"),
        pytest.param({"hang": "before_headers"}, id="hang-before-headers"),
    ],
)
def test_client_disconnect_closes_the_upstream_within_100ms(
    chat_server: Server, upstream: FakeOpenAI, scenario: dict[str, Any]
) -> None:
    model = fake_model(**scenario)
    before = len(upstream.requests)
    sock = raw_chat(chat_server, model)
    record = upstream.wait_for(
        lambda: next((r for r in upstream.requests[before:] if r.model == model), None), 10
    )
    if "tokens" in scenario:
        record.wait_tokens(5, timeout=10)
    else:
        time.sleep(1.0)  # well into the silence; heartbeats are flowing meanwhile
    assert record.closed_at is None
    closed = time.monotonic()
    sock.close()
    upstream_closed = record.wait_closed(timeout=5)
    assert upstream_closed - closed < 0.1, upstream_closed - closed
    assert record.disconnected


def worker_resources(server: Server) -> tuple[int, int]:
    (pid,) = server.worker_pids()
    threads = len(os.listdir(f"/proc/{pid}/task"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return threads, fds


def worker_cpu_s(server: Server) -> float:
    (pid,) = server.worker_pids()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.timeout(120)
def test_200_concurrent_chat_streams_flow_at_once(
    chat_server: Server, upstream: FakeOpenAI
) -> None:
    """All 200 are open at once: each upstream answer holds after its first token until every
    client has had its first record, then all flow to the end. Starting 200 chats costs the
    one worker real CPU (the SDK's request on the bridge loop); under load that took longer
    than a fixed-length stream lasts, so the streams must not end on a clock."""
    n, tokens, delay = 200, 50, 0.02
    hold = f"flow-{time.monotonic_ns()}"
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    counts: dict[int, int] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)
    started = threading.Semaphore(0)

    def client(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            with post(chat_server, fake_model(tokens=tokens, delay=delay, hold=hold)) as response:
                got, times = read_records(response, on_first=started.release)
            first[i], last[i] = times[0], times[-1]
            counts[i] = sum(isinstance(r, Data) for r in got)
            assert isinstance(got[-1], End)
        except BaseException as exc:
            errors.append(exc)

    cpu0, wall0 = worker_cpu_s(chat_server), time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        opened = sum(
            started.acquire(timeout=max(0.0, wall0 + 60 - time.monotonic())) for _ in range(n)
        )
    finally:
        upstream.release(hold)
    for t in threads:
        t.join(timeout=90)
    wall, cpu = time.monotonic() - wall0, worker_cpu_s(chat_server) - cpu0
    print(
        f"\n200 chat streams x {tokens} tokens @ {delay * 1000:.0f} ms: wall {wall:.2f} s, "
        f"worker CPU {cpu:.2f} s ({cpu / (n * tokens) * 1e6:.0f} us/token)"
    )
    assert not errors, errors[:3]
    assert opened == n, f"only {opened} of {n} streams had their first record at once"
    assert all(c == tokens for c in counts.values()) and len(counts) == n
    assert max(first.values()) < min(last.values())


@pytest.mark.timeout(300)
def test_threads_and_fds_stay_flat_over_1000_streams(
    chat_server: Server, upstream: FakeOpenAI
) -> None:
    def one(i: int) -> None:
        if i % 4 == 3:  # a quarter are cancelled by the client mid-answer
            sock = raw_chat(chat_server, fake_model(tokens=50, delay=0.01))
            sock.recv(4096)
            sock.close()
            return
        with post(chat_server, fake_model(tokens=5)) as response:
            got, _ = read_records(response)
        assert isinstance(got[-1], End)

    def batch(start: int, count: int) -> None:
        errors: list[BaseException] = []

        def run(i: int) -> None:
            try:
                one(i)
            except BaseException as exc:
                errors.append(exc)

        for group in range(start, start + count, 20):
            threads = [threading.Thread(target=run, args=(i,)) for i in range(group, group + 20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
        assert not errors, errors[:3]

    batch(0, 20)
    time.sleep(1.0)
    after_first = worker_resources(chat_server)
    batch(20, 980)
    time.sleep(1.5)  # cancelled upstream requests and keep-alive sockets settle
    after_all = worker_resources(chat_server)
    assert after_all[0] == after_first[0], (after_first, after_all)
    assert after_all[1] <= after_first[1] + 5, (after_first, after_all)
