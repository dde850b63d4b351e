"""Real tier of the add-ons on the Durable Streams URLs (streamer.security.auth,
streamer.security.fairness, streamer.server.durable.readers): gunicorn with gevent workers on
loopback, on the memory store and on a real redis-server.

A read token minted for a stream reads that stream's Durable Streams URL without a key by
catch-up, HEAD, long-poll and SSE (a resumable stream's too, at ``resumable/<id>``), and
nothing else; its expiry cuts its readers as the resume route cuts them; a long-poll or SSE
reader holds a slot of its key (and of its client), a catch-up read or an append does not."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from streamer.security.tokens import TOKEN_HEADER

from ..conftest import Server
from ..redis_fixture import RedisServer, redis_server
from .test_tokens_live import start_resumable

pytestmark = pytest.mark.real

__all__ = ["redis_server"]  # a fixture, imported for pytest

KEYS = {
    "STREAMER_API_KEYS": "k-one-1234567890,k-two-1234567890",
    "STREAMER_TOKEN_SECRET": "s" * 40,
    "STREAMER_HEARTBEAT_S": "0.2",
    "STREAMER_DURABLE_LONG_POLL_S": "3",
    "STREAMER_DURABLE_SSE_MAX_S": "10",  # an SSE read that misses what it waits for ends
}
BEARER = {"Authorization": "Bearer k-two-1234567890"}
TEXT = {"Content-Type": "text/plain"}
NODE_DIR = Path(__file__).resolve().parents[1] / "node"
COUNT = 25


@pytest.fixture(params=["memory", "redis"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "memory":
        return {}
    redis: RedisServer = request.getfixturevalue("redis_server")
    return {"REDIS_URL": redis.url}


def created(server: Server, path: str, body: bytes = b"a;") -> tuple[str, str]:
    """A new stream at ``path``: its URL and the read token its creation minted."""
    url = server.url(f"/v1/stream/{path}-{time.monotonic_ns()}")
    response = requests.put(url, data=body, headers={**BEARER, **TEXT}, timeout=5)
    assert response.status_code == 201, response.text
    return url, response.headers[TOKEN_HEADER]


def append(url: str, body: bytes) -> None:
    done = requests.post(url, data=body, headers={**BEARER, **TEXT}, timeout=5)
    assert done.status_code == 204, done.text


def assert_refused(response: requests.Response, status: int, type_: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"]["type"] == type_ and body["error"]["message"], body
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # the routes' own shape


class Background:
    """A request running in a thread (a long-poll that waits), with a deadline."""

    def __init__(self, call: Callable[[], requests.Response]) -> None:
        self.response: requests.Response | None = None
        self.error: BaseException | None = None
        self.began = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], requests.Response]) -> None:
        try:
            self.response = call()
        except BaseException as exc:  # reported in result()
            self.error = exc

    def result(self, timeout: float) -> requests.Response:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"no answer within {timeout} s"
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


def sse_events(response: requests.Response) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of an SSE body as they arrive (no data line joins: one each here)."""
    buffer = b""
    for piece in response.iter_content(None):
        buffer += piece
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            fields = dict(line.split(":", 1) for line in block.decode().split("\n") if line)
            yield fields.get("event", "").strip(), fields.get("data", "")


@pytest.mark.timeout(90)
def test_a_read_token_reads_its_durable_stream_and_nothing_else(
    make_server: Callable[..., Server], store_env: dict[str, str]
) -> None:
    server = make_server({**KEYS, **store_env})
    url, token = created(server, "chat/room")
    other, _ = created(server, "chat/other")
    with_token = {"token": token}
    # Catch-up and HEAD.
    read = requests.get(url, params={**with_token, "offset": "-1"}, timeout=5)
    assert read.status_code == 200 and read.text == "a;", read.text
    assert TOKEN_HEADER not in read.headers  # a token does not renew itself
    tail = read.headers["Stream-Next-Offset"]
    head = requests.head(url, params=with_token, timeout=5)
    assert head.status_code == 200 and head.headers["Stream-Next-Offset"] == tail
    # Long-poll: it waits for the append, which it then gets.
    poll = Background(
        lambda: requests.get(
            url, params={**with_token, "offset": tail, "live": "long-poll"}, timeout=10
        )
    )
    time.sleep(0.3)
    assert poll.response is None  # still waiting: nothing was appended yet
    append(url, b"b;")
    polled = poll.result(8)
    assert polled.status_code == 200 and polled.text == "b;", polled.text
    assert time.monotonic() - poll.began < 2.5  # woken by the append, not by the 3 s timeout
    # SSE: what is there, then a live append, on one connection.
    with requests.get(
        url, params={**with_token, "offset": "-1", "live": "sse"}, stream=True, timeout=10
    ) as sse:
        assert sse.status_code == 200
        assert sse.headers["Content-Type"] == "text/event-stream"
        seen: list[str] = []
        for event, data in sse_events(sse):
            if event == "data":
                seen.append(data)
                if seen == ["a;", "b;"]:
                    append(url, b"c;")
                if len(seen) == 3:
                    break
        assert seen == ["a;", "b;", "c;"]
    # Refused: another stream, writes, a forged token; each JSON in the routes' shape.
    assert_refused(
        requests.get(other, params={**with_token, "offset": "-1"}, timeout=5),
        401,
        "invalid_token",
    )
    for method in ("POST", "PUT", "DELETE"):
        write = requests.request(method, url, params=with_token, data=b"x", headers=TEXT, timeout=5)
        assert_refused(write, 403, "read_only_token")
    forged = requests.get(url, params={"token": token[:-4] + "AAAA", "offset": "-1"}, timeout=5)
    assert_refused(forged, 401, "invalid_token")
    assert_refused(requests.get(url, params={"offset": "-1"}, timeout=5), 401, "unauthorized")
    # Nothing was written by the token: the stream is what the key appended.
    assert requests.get(url, params={"offset": "-1"}, headers=BEARER, timeout=5).text == "a;b;c;"
    time.sleep(0.2)
    assert token not in server.log() and token.split(".")[1] not in server.log()


@pytest.mark.timeout(60)
def test_a_views_resumable_stream_reads_by_its_token_on_its_durable_face(
    make_server: Callable[..., Server], store_env: dict[str, str]
) -> None:
    server = make_server({**KEYS, **store_env})
    sid, token = start_resumable(server, "count=5&interval=0.1")  # it runs on
    face = server.url(f"/v1/stream/resumable/{sid}")
    values: list[object] = []
    offset = "-1"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # long-polls, as a client follows a JSON stream
        got = requests.get(
            face, params={"token": token, "offset": offset, "live": "long-poll"}, timeout=10
        )
        assert got.status_code in (200, 204), got.text
        if got.status_code == 200:
            values.extend(got.json())
        offset = got.headers["Stream-Next-Offset"]
        if got.headers.get("Stream-Closed") == "true":
            break
    assert values == [f"data chunk {i}\n" for i in range(1, 6)] + [{"end": {"count": 5}}]


@pytest.mark.timeout(60)
def test_the_tokens_expiry_ends_its_durable_readers(
    make_server: Callable[..., Server], store_env: dict[str, str]
) -> None:
    env = {"STREAMER_TOKEN_TTL_S": "2", "STREAMER_DURABLE_LONG_POLL_S": "6"}
    server = make_server({**KEYS, **store_env, **env})
    url, token = created(server, "expiring")
    tail = requests.head(url, headers=BEARER, timeout=5).headers["Stream-Next-Offset"]
    # An SSE reader: its data, then at the expiry an in-band error event ends the response
    # (cleanly: the Durable Streams clients reconnect, docs/durable-streams.md).
    began = time.monotonic()
    with requests.get(
        url, params={"token": token, "offset": "-1", "live": "sse"}, stream=True, timeout=10
    ) as sse:
        assert sse.status_code == 200
        events = list(sse_events(sse))
    took = time.monotonic() - began
    assert events[0] == ("data", "a;")
    assert events[-1][0] == "error" and '"type":"token_expired"' in events[-1][1], events
    assert 1 < took < 4, took  # at the expiry (2-3 s after the issue), not after 10 s
    # Its reconnect is refused.
    again = requests.get(url, params={"token": token, "offset": tail, "live": "sse"}, timeout=5)
    assert_refused(again, 401, "invalid_token")
    # A long-poll still waiting at its token's expiry has its 204 then, not after its 6 s.
    fresh = requests.head(url, headers=BEARER, timeout=5).headers[TOKEN_HEADER]
    began = time.monotonic()
    poll = requests.get(
        url, params={"token": fresh, "offset": tail, "live": "long-poll"}, timeout=10
    )
    assert poll.status_code == 204, poll.text
    assert time.monotonic() - began < 3.5, "the long-poll waited past its token"
    refused = requests.get(
        url, params={"token": fresh, "offset": tail, "live": "long-poll"}, timeout=10
    )
    assert_refused(refused, 401, "invalid_token")


@pytest.mark.timeout(60)
def test_long_polls_hold_a_key_slot_and_catch_up_reads_and_appends_do_not(
    make_server: Callable[..., Server], store_env: dict[str, str]
) -> None:
    server = make_server(
        {
            **KEYS,
            **store_env,
            "STREAMER_MAX_STREAMS_PER_KEY": "1",
            "STREAMER_MAX_TOKEN_READERS": "1",
        }
    )
    url, token = created(server, "slots")
    tail = requests.head(url, headers=BEARER, timeout=5).headers["Stream-Next-Offset"]

    def long_poll(**params: str) -> requests.Response:
        return requests.get(
            url,
            params={"offset": tail, "live": "long-poll", **params},
            headers={} if params else BEARER,
            timeout=10,
        )

    held = Background(long_poll)
    time.sleep(0.3)
    assert held.response is None  # waiting, on the key's one slot
    # Past the key's limit: the 429 the old routes give.
    for live in ("long-poll", "sse"):
        over = requests.get(url, params={"offset": tail, "live": live}, headers=BEARER, timeout=5)
        assert_refused(over, 429, "too_many_streams_for_key")
        assert over.headers["Retry-After"] == "1"
    old_route = server.url("/stream/data?count=1&interval=0")
    over_old = requests.get(old_route, headers=BEARER, timeout=5)
    assert over_old.status_code == 429
    assert over_old.json()["error"]["type"] == "too_many_streams_for_key"
    # A catch-up read and HEAD are plain requests; readers on the token have their own budget.
    assert requests.get(url, params={"offset": "-1"}, headers=BEARER, timeout=5).status_code == 200
    token_poll = Background(lambda: long_poll(token=token))
    time.sleep(0.3)
    assert token_poll.response is None  # waiting, on the stream's one token-reader place
    assert_refused(long_poll(token=token), 429, "too_many_token_readers")
    assert requests.get(url, params={"offset": "-1", "token": token}, timeout=5).status_code == 200
    # An append (not a stream either) wakes both long-polls, whose slots go back.
    append(url, b"b;")
    assert held.result(5).text == "b;"
    assert token_poll.result(5).text == "b;"
    again = long_poll()
    assert again.status_code == 200 and again.text == "b;"


@pytest.mark.timeout(60)
def test_a_clients_long_polls_count_as_its_open_streams(
    make_server: Callable[..., Server], store_env: dict[str, str]
) -> None:
    # No keys: the per-client limits alone (off in the other tests, conftest.Server).
    server = make_server(
        {
            **store_env,
            "STREAMER_DURABLE_LONG_POLL_S": "3",
            "STREAMER_MAX_STREAMS_PER_CLIENT": "1",
            "STREAMER_NEW_STREAMS_PER_CLIENT_S": "2",
        }
    )
    url = server.url(f"/v1/stream/client-{time.monotonic_ns()}")
    assert requests.put(url, headers=TEXT, timeout=5).status_code == 201
    # A producer's burst of appends is neither open streams nor new ones.
    for i in range(10):
        assert requests.post(url, data=f"{i};", headers=TEXT, timeout=5).status_code == 204
    tail = requests.head(url, timeout=5).headers["Stream-Next-Offset"]
    held = Background(
        lambda: requests.get(url, params={"offset": tail, "live": "long-poll"}, timeout=10)
    )
    time.sleep(0.3)
    assert held.response is None
    over = requests.get(url, params={"offset": tail, "live": "sse"}, timeout=5)
    assert_refused(over, 429, "too_many_streams_for_client")
    assert requests.get(url, params={"offset": "-1"}, timeout=5).status_code == 200
    requests.post(url, data=b"end;", headers=TEXT, timeout=5)
    assert held.result(5).text == "end;"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", ["sse", "long-poll"])
def test_the_ts_client_reads_on_a_token_it_renews(
    make_server: Callable[..., Server], redis_server: RedisServer, mode: str
) -> None:
    # docs/durable-streams.md's snippet: a token parameter read per request, renewed at half
    # its lifetime. Tokens of 2 s over a stream written for about 8 s: SSE responses end at
    # their token's expiry and long-polls answer then; the reader reconnects on a fresh token
    # each time and loses and repeats nothing.
    node = shutil.which("node")
    assert node, "node is missing: run .ci/setup"
    assert (NODE_DIR / "node_modules" / "@durable-streams" / "client").is_dir(), "run .ci/setup"
    server = make_server({**KEYS, "REDIS_URL": redis_server.url, "STREAMER_TOKEN_TTL_S": "2"})
    url = server.url(f"/v1/stream/ts-{mode}-{time.monotonic_ns()}")
    json_type = {**BEARER, "Content-Type": "application/json"}
    assert requests.put(url, headers=json_type, timeout=5).status_code == 201
    reader = subprocess.Popen(
        [node, "durable/read_with_token.mjs", url, BEARER["Authorization"][7:], mode, "2"],
        cwd=NODE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for i in range(COUNT):
            time.sleep(8 / COUNT)
            body = json.dumps({"i": i, "last": i == COUNT - 1})
            assert requests.post(url, data=body, headers=json_type, timeout=5).status_code == 204
        out, err = reader.communicate(timeout=40)
    finally:
        reader.kill()
    assert reader.returncode == 0, out + err + server.log()[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert [item["i"] for item in result["items"]] == list(range(COUNT))  # once, in order
    assert result["minted"] >= 3  # the first token and at least two renewals
