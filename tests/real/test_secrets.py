"""Secrets: with an upstream (OpenAI) key and client keys configured, every error path is
exercised and neither key appears in any response (status line, headers, body) that did not
carry it in its request, nor ever in the server's log. The keys are long and distinctive,
and their distinctive halves are searched too, so a truncated or masked echo ("sk-abc...")
is caught as well."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ..conftest import Server
from ..fake_openai import FakeOpenAI, fake_model

pytestmark = pytest.mark.real

UPSTREAM_KEY = "sk-upstream-SECRET-5f1e9c2a7b3d4e6f8a0b"
CLIENT_KEY = "client-SECRET-9a8b7c6d5e4f3a2b1c0d"
WRONG_KEY = "client-SECRET-wrong-guess-000000000000"
SECRETS = (UPSTREAM_KEY, CLIENT_KEY, "5f1e9c2a7b3d4e6f", "9a8b7c6d5e4f3a2b", "SECRET")


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY) as fake:
        yield fake


def transcript(response: requests.Response) -> str:
    head = f"{response.status_code} {response.reason}\n" + "\n".join(
        f"{k}: {v}" for k, v in response.headers.items()
    )
    body = b""
    try:
        for chunk in response.iter_content(chunk_size=None):
            body += chunk
    except requests.exceptions.ChunkedEncodingError:
        body += b"<cut>"
    return head + "\n\n" + body.decode("utf-8", "replace")


def chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "tell me the key"}], "model": model, **extra}


@pytest.mark.timeout(120)
def test_no_key_in_any_error_response_or_log_line(upstream: FakeOpenAI, make_server: Any) -> None:
    server: Server = make_server(
        {
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": upstream.base_url,
            "STREAMER_API_KEYS": f"{CLIENT_KEY},another-client-key-0002",
            "STREAMER_MAX_STREAMS_PER_KEY": "1",
            "STREAMER_UPSTREAM_RETRIES": "0",
            "STREAMER_UPSTREAM_TIMEOUT_S": "1",
            "STREAMER_HEARTBEAT_S": "2",
            "STREAMER_CORS_ORIGINS": "https://app.example",
        }
    )
    ok = {"Authorization": f"Bearer {CLIENT_KEY}"}
    url = server.url
    seen: list[tuple[str, str]] = []  # (what was sent, what came back)
    statuses: set[int] = set()

    def record(response: requests.Response) -> None:
        statuses.add(response.status_code)
        sent = response.request
        body = sent.body if isinstance(sent.body, bytes) else str(sent.body or "").encode()
        request_text = (f"{sent.url}\n{sent.headers}\n".encode() + body).decode("latin-1")
        seen.append((request_text, transcript(response)))

    # Authentication: none, wrong, malformed, the right key in the wrong scheme.
    for headers in (
        {},
        {"Authorization": f"Bearer {WRONG_KEY}"},
        {"Authorization": f"Basic {CLIENT_KEY}"},
        {"Authorization": f"Bearer {UPSTREAM_KEY}"},
    ):
        record(requests.post(url("/chat"), json=chat("fake"), headers=headers, timeout=10))
    # The key in the query string instead of a header: not accepted, not echoed.
    record(
        requests.post(
            url(f"/chat?key={CLIENT_KEY}&format={CLIENT_KEY}"),
            json=chat("fake"),
            headers=ok,
            timeout=10,
        )
    )
    # Upstream failures before the first token, and after it (cut, silence).
    for scenario in (
        {"fail": 401},
        {"fail": 403},
        {"fail": 500},
        {"fail": 404},
        {"fail": 429, "retry_after": 3},
        {"hang": "before_headers"},
        {"hang": "after_headers"},
        {"tokens": 5, "cut": 2},
    ):
        record(
            requests.post(
                url("/chat?format=ndjson"),
                json=chat(fake_model(**scenario)),
                headers=ok,
                timeout=15,
                stream=True,
            )
        )
    # The upstream key sent as the model name, as a message and as an unknown field.
    record(requests.post(url("/chat"), json=chat(UPSTREAM_KEY), headers=ok, timeout=10))
    record(
        requests.post(url("/chat"), json={**chat("fake"), UPSTREAM_KEY: 1}, headers=ok, timeout=10)
    )
    # Bad bodies.
    for body, ctype in (
        (b"{", "application/json"),
        (b"\xff", "application/json"),
        (json.dumps(chat("fake")).encode(), "text/plain"),
        (b"x" * ((1 << 20) + 1), "application/json"),
    ):
        record(
            requests.post(
                url("/chat"), data=body, headers={**ok, "Content-Type": ctype}, timeout=10
            )
        )
    # Streams: unknown, malformed id, bad Last-Event-ID; the per-key limit (429).
    record(requests.get(url("/streams/" + "a" * 20), headers=ok, timeout=10))
    record(requests.get(url(f"/streams/{CLIENT_KEY}"), headers=ok, timeout=10))
    record(requests.get(url("/streams/x"), headers={**ok, "Last-Event-ID": CLIENT_KEY}, timeout=10))
    with requests.get(
        url("/_test/stream?count=100&interval=0.1"), headers=ok, stream=True, timeout=10
    ) as holding:
        assert holding.status_code == 200
        record(requests.get(url("/_test/stream"), headers=ok, timeout=10))
    # A producer's internal error (its message must not leak either), and a 404, a 405.
    other = {"Authorization": "Bearer another-client-key-0002"}  # ok's slot may be busy
    record(requests.get(url("/_test/stream?fail_before=1"), headers=other, timeout=10))
    record(requests.get(url("/nowhere"), headers=ok, timeout=10))
    record(requests.put(url("/chat"), headers=ok, timeout=10))
    # CORS preflight, the open endpoints.
    record(
        requests.options(
            url("/chat"),
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
            timeout=10,
        )
    )
    for path in ("/metrics", "/openapi.json", "/readyz", "/healthz"):
        record(requests.get(url(path), timeout=10))
    # A huge header that gunicorn refuses itself.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"GET /chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + CLIENT_KEY.encode() * 400
            + b"\r\n\r\n"
        )
        seen.append((CLIENT_KEY, sock.recv(65536).decode("latin-1")))

    # Every kind of error was produced.
    assert {200, 204, 400, 401, 404, 405, 413, 415, 422, 429, 500, 502, 504} <= statuses
    for request_text, text in seen:
        for secret in SECRETS:
            # An error message may quote a client's own bad value back to it (a key pasted
            # into ?format= is its sender's to see); a secret it did not send, never.
            if secret not in request_text:
                assert secret not in text, text[:2000]
    # A variable's name is not a secret (the start-up warning names STREAMER_TOKEN_SECRET).
    log = server.log().replace("STREAMER_TOKEN_SECRET", "STREAMER_TOKEN_<name>")
    assert "outcome=error" in log and "unhandled error" not in log  # error paths were logged
    for secret in SECRETS:
        assert secret not in log, secret
