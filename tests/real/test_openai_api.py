"""Real tier: the official ``openai`` Python SDK against streamer's /v1 API under gunicorn
(gevent worker), on the echo provider and on the openai provider over the fake upstream
(tests/fake_openai.py, in this process), and ``curl -N`` on the wire."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import requests
from openai import OpenAI

from ..conftest import Server
from ..fake_openai import FakeOpenAI, FakeRequest, expected_reply, fake_model
from ..gateway_fixture import gateway_over
from ..redis_fixture import RedisServer, redis_server

__all__ = ["redis_server"]  # a fixture, imported for pytest

pytestmark = pytest.mark.real

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"
CLIENT_KEY = "sk-client-key-one-0123456789"
PROMPT = "streaming answers token by token through the gateway"
MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The openai provider over the fake upstream; no client keys."""
    with gateway_over(
        upstream,
        tmp_path_factory,
        UPSTREAM_KEY,
        STREAMER_HEARTBEAT_S="0.3",
        STREAMER_UPSTREAM_TIMEOUT_S="30",
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The echo provider with client keys and a per-key limit of 2 streams."""
    srv = Server(
        {
            "STREAMER_API_KEYS": f"{CLIENT_KEY},sk-client-key-two-abcdef",
            "STREAMER_MAX_STREAMS_PER_KEY": "2",
            "STREAMER_ECHO_DELAY_S": "0.05",
            "STREAMER_HEARTBEAT_S": "0.5",
            "STREAMER_CHAT_MODEL": "echo-1",
        },
        tmp_path_factory.mktemp("v1-echo") / "gunicorn.log",
    )
    yield srv
    srv.stop()
    assert CLIENT_KEY not in srv.log(), "a client key reached a log line"


_clients: list[OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()  # its pooled connections, now rather than at GC


def sdk(server: Server, key: str = "unused", **options: Any) -> OpenAI:
    options.setdefault("max_retries", 0)
    options.setdefault("timeout", 30)
    client = OpenAI(api_key=key, base_url=server.url("/v1"), **options)
    _clients.append(client)
    return client


def stream_text(client: OpenAI, model: str, **extra: Any) -> tuple[str, list[Any]]:
    stream = client.chat.completions.create(model=model, messages=MESSAGES, stream=True, **extra)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def upstream_request(upstream: FakeOpenAI, model: str, before: int) -> FakeRequest:
    return upstream.wait_for(
        lambda: next((r for r in upstream.requests[before:] if r.model == model), None),
        10,
        f"the upstream request for {model}",
    )


# -- the echo provider ------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_echo_streamed_text_equals_the_whole_answer(echo: Server) -> None:
    client = sdk(echo, CLIENT_KEY)
    whole = client.chat.completions.create(model="echo-1", messages=MESSAGES)
    assert whole.object == "chat.completion"
    assert whole.choices[0].finish_reason == "stop"
    assert whole.choices[0].message.role == "assistant"
    text = whole.choices[0].message.content
    assert text and PROMPT in text
    assert whole.usage is not None and whole.usage.completion_tokens > 10

    streamed, chunks = stream_text(client, "echo-1")
    assert streamed == text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    assert all(c.object == "chat.completion.chunk" and c.model == "echo-1" for c in chunks)
    assert all(c.usage is None for c in chunks)


@pytest.mark.timeout(60)
def test_echo_first_delta_arrives_long_before_the_last(echo: Server) -> None:
    times: list[float] = []
    stream = sdk(echo, CLIENT_KEY).chat.completions.create(
        model="echo-1", messages=MESSAGES, stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            times.append(time.monotonic())
    # ~20 tokens 50 ms apart: the first came while the producer still had most to make.
    assert len(times) > 15
    assert times[-1] - times[0] > 0.5


@pytest.mark.timeout(60)
def test_models_lists_the_configured_model(echo: Server) -> None:
    client = sdk(echo, CLIENT_KEY)
    assert [m.id for m in client.models.list()] == ["echo-1"]
    assert client.models.retrieve("echo-1").id == "echo-1"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("nope")
    assert info.value.code == "model_not_found"


@pytest.mark.timeout(60)
def test_a_bad_client_key_is_authentication_error(echo: Server) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(echo, "sk-wrong-key-00000000").chat.completions.create(
            model="echo-1", messages=MESSAGES, stream=True
        )
    error = info.value.body
    assert isinstance(error, dict)
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] == "unauthorized"
    missing = requests.post(
        echo.url("/v1/chat/completions"), timeout=10, json={"model": "echo-1", "messages": MESSAGES}
    )
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"]
    assert missing.json()["error"]["param"] is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("extra", "param"),
    [
        pytest.param({"messages": []}, "messages", id="empty-messages"),
        pytest.param(
            {"messages": [{"role": "user", "content": 5}]}, "messages[0].content", id="content-type"
        ),
        pytest.param({"temperature": 3}, "temperature", id="temperature"),
        pytest.param({"n": 9}, "n", id="n"),
        pytest.param(
            {"stream_options": {"include_usage": True}},
            "stream_options",
            id="stream-options-without-stream",
        ),
        pytest.param({"tools": []}, "tools", id="empty-tools"),
        pytest.param({"modalities": ["text", "audio"]}, "modalities", id="unsupported"),
        pytest.param(
            {"extra_body": {"streamer": {"resumable": "yes"}}, "stream": True},
            "streamer.resumable",
            id="streamer-option",
        ),
    ],
)
def test_invalid_bodies_are_bad_request_naming_the_parameter(
    echo: Server, extra: dict[str, Any], param: str
) -> None:
    kwargs: dict[str, Any] = {"model": "echo-1", "messages": MESSAGES, **extra}
    with pytest.raises(openai.BadRequestError) as info:
        sdk(echo, CLIENT_KEY).chat.completions.create(**kwargs)
    assert info.value.param == param, info.value.body
    assert info.value.status_code == 400


@pytest.mark.timeout(60)
def test_per_key_limit_is_rate_limit_error_and_the_sdk_retries_after(echo: Server) -> None:
    client = sdk(echo, CLIENT_KEY)
    held = [
        client.chat.completions.create(model="echo-1", messages=MESSAGES, stream=True)
        for _ in range(2)
    ]
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="echo-1", messages=MESSAGES, stream=True)
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.code == "too_many_streams_for_key"
    # The SDK's retry waits the Retry-After second; meanwhile a held stream ends.
    for stream in held:
        next(iter(stream))
    closer = threading.Timer(0.3, held[0].close)
    closer.start()
    started = time.monotonic()
    text, _ = stream_text(sdk(echo, CLIENT_KEY, max_retries=2), "echo-1")
    assert time.monotonic() - started >= 0.9
    assert PROMPT in text
    held[1].close()


# -- the openai provider over the fake upstream -----------------------------------------------


@pytest.mark.timeout(60)
def test_streamed_text_equals_the_whole_answer_over_the_upstream(gateway: Server) -> None:
    model = fake_model(tokens=12, delay=0.01)
    client = sdk(gateway)
    whole = client.chat.completions.create(model=model, messages=MESSAGES)
    assert whole.choices[0].message.content == expected_reply(PROMPT, tokens=12)
    assert whole.usage is not None and whole.usage.completion_tokens == 12
    streamed, _ = stream_text(client, model)
    assert streamed == whole.choices[0].message.content


@pytest.mark.timeout(60)
def test_first_delta_arrives_before_the_upstream_finishes(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    n, delay = 8, 0.15
    model = fake_model(tokens=n, delay=delay)
    before = len(upstream.requests)
    first = None
    for chunk in sdk(gateway).chat.completions.create(model=model, messages=MESSAGES, stream=True):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.monotonic()
    record = upstream_request(upstream, model, before)
    record.wait_done(timeout=5)
    assert first is not None and record.last_token_at is not None
    assert first < record.last_token_at - 3 * delay


@pytest.mark.timeout(60)
def test_include_usage_adds_the_usage_chunk_and_nothing_else(gateway: Server) -> None:
    model = fake_model(tokens=6, delay=0.01)
    client = sdk(gateway)
    _, plain = stream_text(client, model)
    _, counted = stream_text(client, model, stream_options={"include_usage": True})
    assert all(c.usage is None for c in plain)
    assert len(counted) == len(plain) + 1
    last = counted[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == 6 and last.usage.total_tokens > 6
    assert all(c.usage is None for c in counted[:-1])
    strip = {"id", "created", "usage", "obfuscation"}  # per request, relayed as sent
    assert [c.model_dump(exclude=strip) for c in counted[:-1]] == [
        c.model_dump(exclude=strip) for c in plain
    ]
    raw = requests.post(
        gateway.url("/v1/chat/completions"),
        json={
            "model": model,
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        timeout=30,
    ).text
    events = [json.loads(line[6:]) for line in raw.split("\n") if line.startswith("data: {")]
    assert all("usage" in e and e["usage"] is None for e in events[:-1])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("resumable", [False, True], ids=["plain", "resumable"])
def test_upstream_rate_limit_is_rate_limit_error_and_retry_after_is_honoured(
    gateway: Server, upstream: FakeOpenAI, resumable: bool
) -> None:
    model = fake_model(fail=429, retry_after=1)
    headers = {"X-Streamer-Resumable": "1"} if resumable else {}
    with pytest.raises(openai.RateLimitError) as info:
        sdk(gateway).chat.completions.create(
            model=model, messages=MESSAGES, stream=True, extra_headers=headers
        )
    assert info.value.response.headers["retry-after"] == "1"
    assert UPSTREAM_KEY not in info.value.message
    before = len(upstream.requests)
    with pytest.raises(openai.RateLimitError):
        sdk(gateway, max_retries=1).chat.completions.create(
            model=model, messages=MESSAGES, stream=True, extra_headers=headers
        )
    tries = [r for r in upstream.requests[before:] if r.model == model]
    assert len(tries) == 2
    assert tries[1].started_at - tries[0].started_at >= 0.9


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "scenario", [pytest.param({"cut": 4}, id="cut"), pytest.param({"error": 4}, id="in-band-error")]
)
def test_an_upstream_failure_mid_answer_raises_and_never_looks_complete(
    gateway: Server, scenario: dict[str, Any]
) -> None:
    seen: list[Any] = []
    with pytest.raises(openai.APIError) as info:
        stream = sdk(gateway).chat.completions.create(
            model=fake_model(tokens=10, delay=0.01, **scenario),
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            seen.append(chunk)
    assert not isinstance(info.value, openai.APIStatusError)
    assert info.value.code in ("upstream_disconnected", "upstream_error")
    assert sum(1 for c in seen if c.choices and c.choices[0].delta.content) == 4
    assert not any(c.choices and c.choices[0].finish_reason for c in seen)
    assert not any(c.usage for c in seen)


@pytest.mark.timeout(60)
def test_stream_close_after_3_chunks_closes_the_upstream_within_100ms(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    model = fake_model(tokens=200, delay=0.05)
    before = len(upstream.requests)
    stream = sdk(gateway).chat.completions.create(model=model, messages=MESSAGES, stream=True)
    for n, _ in enumerate(stream, 1):
        if n == 3:
            break
    record = upstream_request(upstream, model, before)
    assert record.closed_at is None
    closed = time.monotonic()
    stream.close()
    assert record.wait_closed(timeout=5) - closed < 0.1
    assert record.disconnected


@pytest.mark.timeout(60)
def test_stream_close_before_the_first_token_closes_the_upstream_within_100ms(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    model = fake_model(hang="after_headers")  # the model is silent; streamer sends pings
    before = len(upstream.requests)
    # create() returns once streamer sent its headers (after one heartbeat of silence).
    stream = sdk(gateway).chat.completions.create(model=model, messages=MESSAGES, stream=True)
    record = upstream_request(upstream, model, before)
    time.sleep(0.5)
    assert record.closed_at is None and record.tokens_sent == 0
    closed = time.monotonic()
    stream.close()
    assert record.wait_closed(timeout=5) - closed < 0.1
    assert record.disconnected


@pytest.mark.timeout(60)
def test_sdk_timeout_before_the_first_token_closes_the_upstream(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    model = fake_model(hang="before_headers")
    before = len(upstream.requests)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        sdk(gateway, timeout=1.0).chat.completions.create(model=model, messages=MESSAGES)
    timed_out = time.monotonic()
    record = upstream_request(upstream, model, before)
    assert record.wait_closed(timeout=5) - timed_out < 0.1
    assert timed_out - started < 5
    assert "partial=1" in usage_line(gateway, "disconnect", f"{model} ")


@pytest.mark.timeout(60)
def test_heartbeats_are_comment_lines_and_done_ends_the_body(gateway: Server) -> None:
    with requests.post(
        gateway.url("/v1/chat/completions"),
        json={"model": fake_model(tokens=3, delay=1.0), "messages": MESSAGES, "stream": True},
        stream=True,
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        body = b"".join(response.iter_content(chunk_size=None)).decode()
    lines = body.split("\n")
    assert ": ping" in lines
    assert not any(line.startswith(("event:", "retry:", "id:")) for line in lines)
    assert body.endswith("data: [DONE]\n\n")
    assert body.count("[DONE]") == 1


@pytest.mark.timeout(60)
def test_usage_is_recorded_on_every_exit_path(gateway: Server, upstream: FakeOpenAI) -> None:
    model = fake_model(tokens=201, delay=0.05)
    before = len(upstream.requests)
    stream = sdk(gateway).chat.completions.create(model=model, messages=MESSAGES, stream=True)
    for n, _ in enumerate(stream, 1):
        if n == 4:
            break
    stream.close()
    upstream_request(upstream, model, before).wait_closed(timeout=5)
    complete = fake_model(tokens=5)
    stream_text(sdk(gateway), complete)
    with pytest.raises(openai.APIError):
        stream_text(sdk(gateway), fake_model(tokens=9, cut=2))

    def usage_lines() -> list[str]:
        return [line for line in gateway.log().splitlines() if " usage route=" in line]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(
        any(f"model={m} " in line for line in usage_lines())
        for m in (model, complete, fake_model(tokens=9, cut=2))
    ):
        time.sleep(0.05)
    lines = usage_lines()
    line = next(line for line in lines if f"model={model} " in line)
    assert "outcome=disconnect" in line and "prompt_tokens=-" in line and "partial=1" in line
    assert int(re.search(r"completion_tokens=(\d+)", line).group(1)) >= 3  # type: ignore[union-attr]
    line = next(line for line in lines if f"model={complete} " in line)
    assert "outcome=complete" in line and "completion_tokens=5" in line and "partial=0" in line
    line = next(line for line in lines if f"model={fake_model(tokens=9, cut=2)} " in line)
    assert "outcome=error" in line and "completion_tokens=2" in line and "partial=1" in line
    time.sleep(0.5)
    metrics = requests.get(gateway.url("/metrics"), timeout=10).text
    assert re.search(
        r'streamer_chat_tokens_total\{key="-",kind="completion",'
        r'model="fake\?tokens=5",outcome="complete"\} 5\.0',
        metrics,
    ) or re.search(
        r'streamer_chat_tokens_total\{[^}]*model="fake\?tokens=5"[^}]*'
        r'outcome="complete"[^}]*\} 5\.0',
        metrics,
    ), metrics[-3000:]
    assert re.search(
        r'streamer_chat_answers_total\{[^}]*outcome="disconnect"[^}]*'
        r'partial="1"[^}]*\} 1\.0',
        metrics,
    )


# -- resumable --------------------------------------------------------------------------------


def sse_events(body: str) -> list[tuple[int | None, str]]:
    events = []
    for block in body.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        event_id = next((int(line[4:]) for line in lines if line.startswith("id: ")), None)
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append((event_id, data))
    return events


def resume_across(first: Server, second: Server, model: str, messages: list[Any]) -> str:
    """Start a resumable answer on ``first``, drop the connection after 4 chunks, continue on
    ``second`` from the last id; check the ids and the chunks; return the whole text."""
    payload = json.dumps({"model": model, "messages": messages, "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", first.port), timeout=10)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: "
        b"application/json\r\nX-Streamer-Resumable: 1\r\nContent-Length: %d\r\n\r\n%s"
        % (len(payload), payload)
    )
    got = b""
    while got.count(b"\nid: ") < 4:
        got += sock.recv(65536)
    sock.close()
    head, _, chunked = got.partition(b"\r\n\r\n")
    stream_id = re.search(rb"(?i)x-stream-id: (\S+)", head).group(1).decode()  # type: ignore[union-attr]
    # Whole events of what came (chunked framing aside), up to the last complete one.
    text = re.sub(r"\r\n[0-9a-fA-F]+\r\n", "", "\r\n" + chunked.decode())
    seen = [e for e in sse_events(text.rsplit("\n\n", 1)[0]) if e[0] is not None]
    last_id = seen[-1][0]
    assert last_id is not None and [e[0] for e in seen] == list(range(1, last_id + 1))
    with requests.get(
        second.url(f"/v1/streams/{stream_id}"), headers={"Last-Event-ID": str(last_id)}, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        rest = sse_events(response.text)
    assert rest[-1] == (None, "[DONE]")
    assert [e[0] for e in rest[:-1]] == list(range(last_id + 1, last_id + len(rest)))
    chunks = [json.loads(data) for _, data in seen + rest[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


@pytest.mark.timeout(60)
def test_resumable_answer_continues_in_the_same_format_after_a_reconnect(gateway: Server) -> None:
    model = fake_model(tokens=12, delay=0.05)
    assert resume_across(gateway, gateway, model, MESSAGES) == expected_reply(PROMPT, tokens=12)
    # The detached answer ran to its end, whoever was reading: its usage is the provider's.
    assert "completion_tokens=12 partial=0" in usage_line(gateway, "complete", f"{model} ")


@pytest.mark.timeout(60)
def test_resumable_answer_continues_on_another_instance_over_redis(
    make_server: Any, redis_server: RedisServer
) -> None:
    env = {
        "REDIS_URL": redis_server.url,
        "STREAMER_ECHO_DELAY_S": "0.05",
        "WEB_CONCURRENCY": "1",
        "STREAMER_HEARTBEAT_S": "0.5",
    }
    a, b = make_server(env), make_server(env)
    whole = sdk(a).chat.completions.create(model="m", messages=MESSAGES)
    assert resume_across(a, b, "m", MESSAGES) == whole.choices[0].message.content


@pytest.mark.timeout(60)
def test_resumable_through_extra_body_keeps_the_sdk_working_across_heartbeats(
    gateway: Server,
) -> None:
    model = fake_model(tokens=3, delay=0.8)  # silences longer than the 0.3 s heartbeat
    raw = sdk(gateway).chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES, stream=True, extra_body={"streamer": {"resumable": True}}
    )
    assert raw.headers["x-stream-id"]
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == expected_reply(PROMPT, tokens=3)


# -- curl -N ----------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_curl_shows_data_lines_as_they_come_and_done_last(echo: Server) -> None:
    curl = shutil.which("curl")
    assert curl, "curl is missing: run .ci/setup"
    body = json.dumps({"model": "echo-1", "messages": MESSAGES, "stream": True})
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        [
            curl,
            "-N",
            "-sS",
            "--max-time",
            "30",
            echo.url("/v1/chat/completions"),
            "-H",
            f"Authorization: Bearer {CLIENT_KEY}",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic(), line.rstrip("\n")))
        assert proc.wait(timeout=10) == 0
    data = [(t, line) for t, line in lines if line.startswith("data: ")]
    assert data[-1][1] == "data: [DONE]"
    assert lines[-1][1] == "" and lines[-2][1] == "data: [DONE]"
    contents = [
        t
        for t, line in data[:-1]
        if json.loads(line[6:])["choices"]
        and json.loads(line[6:])["choices"][0]["delta"].get("content")
    ]
    # The lines came one by one, ~50 ms apart, not all at the end.
    assert contents[-1] - contents[0] > 0.5


# -- limits and shutdown, as for /chat --------------------------------------------------------

LONG = [{"role": "user", "content": " ".join(f"word{i}" for i in range(300))}]


def usage_line(server: Server, outcome: str, model: str = "", timeout: float = 5) -> str:
    """The last usage access line with ``outcome`` (and ``model``), waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            line
            for line in server.log().splitlines()
            if " usage route=/v1/chat/completions " in line
            and f"outcome={outcome} " in line
            and f"model={model}" in line
        ]
        if found or time.monotonic() > deadline:
            assert found, server.log()[-3000:]
            return found[-1]
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_the_maximum_duration_ends_the_answer_in_band(make_server: Any) -> None:
    server: Server = make_server({"STREAMER_ECHO_DELAY_S": "0.05", "STREAMER_MAX_STREAM_S": "1"})
    seen = 0
    with pytest.raises(openai.APIError) as info:
        for chunk in sdk(server).chat.completions.create(model="m", messages=LONG, stream=True):
            seen += 1 if chunk.choices and chunk.choices[0].delta.content else 0
    assert info.value.code == "timeout" and 5 < seen < 100
    assert "partial=1" in usage_line(server, "timeout")


@pytest.mark.timeout(60)
def test_shutdown_ends_the_answer_in_band_and_records_its_usage(make_server: Any) -> None:
    server: Server = make_server({"STREAMER_ECHO_DELAY_S": "0.05"})
    stream = sdk(server).chat.completions.create(model="m", messages=LONG, stream=True)
    seen = 0
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            seen += 1
            if seen == 3:
                server.proc.send_signal(signal.SIGTERM)
    assert info.value.code == "shutdown" and seen < 100
    server.proc.wait(timeout=15)
    line = usage_line(server, "shutdown")
    assert "partial=1" in line and "completion_tokens=" in line


SAMPLING: dict[str, Any] = {
    "top_p": 0.9,
    "stop": ["\n\n", "END"],
    "seed": 7,
    "frequency_penalty": 0.5,
    "presence_penalty": -0.25,
}


@pytest.mark.timeout(60)
def test_the_sampling_settings_reach_the_upstream_as_sent(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    # The AI SDK sends top_p and stop from its ordinary settings; they were a 400 here.
    model = fake_model(tokens=4)
    before = len(upstream.requests)
    text, _ = stream_text(sdk(gateway), model, **SAMPLING)
    assert text == expected_reply(PROMPT, tokens=4)
    sent = upstream_request(upstream, model, before).body
    assert {name: sent.get(name) for name in SAMPLING} == SAMPLING


@pytest.mark.timeout(60)
def test_the_echo_provider_ends_at_a_stop_sequence(echo: Server) -> None:
    text, chunks = stream_text(sdk(echo, CLIENT_KEY), "echo-1", stop="token", top_p=0.5)
    assert text == f"You said: {PROMPT.split(' token')[0]} "
    assert chunks[-1].choices[0].finish_reason == "stop"


TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "the weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "time_in",
            "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
        },
    },
]


def calls_of(chunks: list[Any]) -> list[tuple[str, str, str]]:
    """(id, name, arguments) of each streamed tool call, in index order."""
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                entry = calls.setdefault(call.index, ["", "", ""])
                entry[0] = call.id or entry[0]
                if call.function is not None:
                    entry[1] += call.function.name or ""
                    entry[2] += call.function.arguments or ""
    return [(i, n, a) for i, n, a in (calls[k] for k in sorted(calls))]


@pytest.mark.timeout(60)
def test_tool_calls_pass_through_streamed_and_whole_as_the_upstream_makes_them(
    gateway: Server, upstream: FakeOpenAI
) -> None:
    model = fake_model(tool_calls=2)
    options: dict[str, Any] = {"tools": TOOLS, "tool_choice": "auto", "parallel_tool_calls": True}
    direct = OpenAI(api_key=UPSTREAM_KEY, base_url=upstream.base_url, max_retries=0)
    _clients.append(direct)
    want = calls_of(
        list(direct.chat.completions.create(model=model, messages=MESSAGES, stream=True, **options))
    )
    assert [name for _, name, _ in want] == ["weather", "time_in"]
    before = len(upstream.requests)
    _, chunks = stream_text(sdk(gateway), model, **options)
    assert calls_of(chunks) == want
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    sent = upstream_request(upstream, model, before).body
    assert {name: sent.get(name) for name in options} == options
    whole = sdk(gateway).chat.completions.create(model=model, messages=MESSAGES, **options)
    message = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls" and message.content is None
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == want


@pytest.mark.timeout(60)
def test_the_echo_provider_calls_a_tool_then_answers_with_its_result(echo: Server) -> None:
    client = sdk(echo, CLIENT_KEY)
    _, chunks = stream_text(client, "echo-1", tools=TOOLS)
    [(call_id, name, arguments)] = calls_of(chunks)
    assert name == "weather" and json.loads(arguments) == {"city": PROMPT}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    named = client.chat.completions.create(
        model="echo-1",
        messages=MESSAGES,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "time_in"}},
    )
    assert named.choices[0].message.tool_calls[0].function.name == "time_in"
    turn = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "sunny, 21 C"},
    ]
    after = client.chat.completions.create(model="echo-1", messages=turn, tools=TOOLS)
    assert after.choices[0].finish_reason == "stop"
    assert "the tool answered sunny, 21 C" in after.choices[0].message.content


@pytest.mark.timeout(60)
def test_the_echo_answers_n_choices_with_logprobs_in_json_to_an_image_part(echo: Server) -> None:
    """The offline default serves what a model serves (issue 25, item 2): ``n`` choices,
    ``logprobs``, ``response_format`` JSON and image parts, streamed and whole, alike."""
    client = sdk(echo, CLIENT_KEY)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": PROMPT}, image]}]
    schema = {"name": "answer", "schema": {"type": "object"}}
    options: dict[str, Any] = {
        "n": 2,
        "logprobs": True,
        "top_logprobs": 2,
        "response_format": {"type": "json_schema", "json_schema": schema},
    }
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="echo-1",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        **options,
    )
    chunks = []
    for chunk in stream:
        chunks.append((time.monotonic() - started, chunk))
    texts, tokens = ["", ""], [[], []]
    for _, chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            for entry in choice.logprobs.content if choice.logprobs else []:
                tokens[choice.index].append(entry.token)
                assert [t.logprob for t in entry.top_logprobs] == [0.0, -9999.0]
    assert chunks[0][0] < chunks[-1][0] / 2  # streamed: the first chunk long before the end
    assert json.loads(texts[0]) == {"answer": json.loads(texts[0])["answer"]}
    assert "You said: " + PROMPT in json.loads(texts[0])["answer"]
    assert texts[1] == texts[0] and ["".join(t) for t in tokens] == texts
    usage = chunks[-1][1].usage
    assert chunks[-1][1].choices == [] and usage is not None
    whole = client.chat.completions.create(model="echo-1", messages=messages, **options)
    assert [c.index for c in whole.choices] == [0, 1]
    assert [c.message.content for c in whole.choices] == texts
    assert "".join(e.token for e in whole.choices[1].logprobs.content) == texts[1]
    assert whole.usage == usage
