"""``python -m streamer.client``, run as a subprocess: streaming output and every exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from streamer.client._cli import (
    EXIT_COMPLETE,
    EXIT_CONNECT,
    EXIT_HTTP,
    EXIT_INCOMPLETE,
    EXIT_PROTOCOL,
    EXIT_STREAM_ERROR,
    EXIT_USAGE,
)
from streamer.wire.framing import NDJSON

from ..conftest import ROOT, Server
from ..hostile import Conn, HostileServer, ndjson_body
from ..ports import free_port

# -X dev and -W error: an unclosed socket in the CLI shows up as a ResourceWarning on stderr.
CLI = [sys.executable, "-X", "dev", "-W", "error", "-m", "streamer.client"]


def env(**extra: str) -> dict[str, str]:
    # No PYTHONUNBUFFERED: the CLI must flush by itself, or the streaming test cannot fail.
    base = {k: v for k, v in os.environ.items() if k not in ("STREAMER_TOKEN", "PYTHONUNBUFFERED")}
    return {**base, "PYTHONIOENCODING": "utf-8", **extra}


def run(*args: str, timeout: float = 30, **extra_env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CLI, *args],
        cwd=ROOT,
        env=env(**extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert "ResourceWarning" not in result.stderr, result.stderr
    return result


def summary(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.split("\n") if line.startswith("streamer: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.real
@pytest.mark.timeout(30)
def test_prints_the_first_chunk_before_the_stream_ends(server: Server) -> None:
    # Five chunks 0.4 s apart: the stream lasts 1.6 s at least.
    proc = subprocess.Popen(
        [*CLI, server.url("/stream/data?count=5&interval=0.4")],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    arrivals: list[tuple[float, bytes]] = []
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while data := os.read(fd, 65536):
            arrivals.append((time.monotonic(), data))
        ended = time.monotonic()
        code = proc.wait(timeout=20)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
    finally:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
    assert code == EXIT_COMPLETE, stderr
    assert b"".join(d for _, d in arrivals) == b"".join(
        f"data chunk {i}\n".encode() for i in range(1, 6)
    )
    assert arrivals[0][1].startswith(b"data chunk 1\n")
    assert ended - arrivals[0][0] > 1.0, "the first chunk was held back until the end"
    assert len(arrivals) >= 3, arrivals
    assert "streamer: complete: 5 record(s)" in stderr and "ResourceWarning" not in stderr


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["text", "ndjson", "sse"])
def test_each_format_completes_with_exit_0(server: Server, fmt: str) -> None:
    result = run(server.url("/stream/data?count=3&interval=0"), "--format", fmt)
    assert result.returncode == EXIT_COMPLETE, result.stderr
    assert result.stdout == "data chunk 1\ndata chunk 2\ndata chunk 3\n"
    assert summary(result).startswith("streamer: complete: ")


@pytest.mark.real
@pytest.mark.timeout(30)
def test_json_payloads_are_printed_one_per_line(server: Server) -> None:
    result = run(server.url("/stream/series?count=3&interval=0&seed=1"))
    assert result.returncode == EXIT_COMPLETE, result.stderr
    points = [json.loads(line) for line in result.stdout.split("\n") if line]
    assert [p["i"] for p in points] == [1, 2, 3]


@pytest.mark.real
@pytest.mark.timeout(30)
def test_http_error_exit_3(server: Server) -> None:
    result = run(server.url("/stream/data?count=-5"))
    assert result.returncode == EXIT_HTTP
    assert result.stdout == ""
    assert "server error: HTTP 400 invalid_parameter: parameter 'count'" in summary(result)


@pytest.mark.real
@pytest.mark.timeout(30)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_in_band_error_exit_4(server: Server, fmt: str) -> None:
    result = run(server.url("/_test/stream?count=10&fail_after=3"), "--format", fmt)
    assert result.returncode == EXIT_STREAM_ERROR, result.stderr
    assert result.stdout == "item 1\nitem 2\nitem 3\n"
    assert "stream error: " in summary(result) and "internal_error" in summary(result)


@pytest.mark.real
@pytest.mark.timeout(30)
def test_incomplete_exit_5_for_a_cut_text_stream_and_for_silence(server: Server) -> None:
    cut = run(server.url("/_test/stream?count=10&fail_after=3"), "--format", "text")
    assert cut.returncode == EXIT_INCOMPLETE, cut.stderr
    assert cut.stdout == "item 1\nitem 2\nitem 3\n"
    assert "incomplete: the connection was cut" in summary(cut)
    silent = run(
        server.url("/_test/stream?count=1&idle_first=5"), "--format", "text", "--timeout", "0.5"
    )
    assert silent.returncode == EXIT_INCOMPLETE, silent.stderr
    assert "incomplete: no data for 0.5 s" in summary(silent)


@pytest.mark.timeout(30)
def test_incomplete_exit_5_for_a_body_without_end() -> None:
    def script(conn: Conn) -> None:
        conn.head()
        conn.chunks(ndjson_body(2))
        conn.terminate()  # a proper HTTP ending, but no end record

    with HostileServer(script) as srv:
        result = run(srv.url("/"))
    assert result.returncode == EXIT_INCOMPLETE
    assert result.stdout == "item 1\nitem 2\n"
    assert "without an end record" in summary(result) and "2 record(s)" in summary(result)


@pytest.mark.timeout(30)
def test_connect_failure_exit_6() -> None:
    result = run(f"http://127.0.0.1:{free_port()}/stream/data")
    assert result.returncode == EXIT_CONNECT
    assert "connection failed: could not connect" in summary(result)


@pytest.mark.timeout(30)
def test_protocol_error_exit_7() -> None:
    def script(conn: Conn) -> None:
        conn.head()
        conn.chunks([NDJSON.data(1, "ok"), b'{"event":"data","id":2,"data":"\xff"}\n'])
        conn.terminate()

    with HostileServer(script) as srv:
        result = run(srv.url("/"))
    assert result.returncode == EXIT_PROTOCOL
    assert result.stdout == "ok"
    assert "protocol error: invalid utf-8" in summary(result)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-url"),
        pytest.param(["ftp://example.invalid/"], id="not-http"),
        pytest.param(["http://127.0.0.1:9/", "--format", "xml"], id="bad-format"),
        pytest.param(["http://127.0.0.1:9/", "--data", "{not json"], id="bad-json"),
        pytest.param(["http://127.0.0.1:9/", "--timeout", "-1"], id="bad-timeout"),
        pytest.param(["http://127.0.0.1:9/", "-H", "no colon"], id="bad-header"),
    ],
)
def test_bad_usage_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == EXIT_USAGE
    assert "usage: python -m streamer.client" in result.stderr


@pytest.mark.timeout(30)
def test_help_documents_the_exit_codes() -> None:
    result = run("--help")
    assert result.returncode == 0
    for code, words in [
        (0, "completed"),
        (2, "bad usage"),
        (3, "HTTP error status"),
        (4, "in-band error"),
        (5, "incomplete"),
        (6, "could not connect"),
        (7, "wire format"),
    ]:
        assert any(
            line.strip().startswith(f"{code} ") and words in line
            for line in result.stdout.split("\n")
        ), (code, words)
    assert "STREAMER_TOKEN" in result.stdout


def auth_server(seen: list[Any]) -> Any:
    def script(conn: Conn) -> None:
        seen.append(
            (conn.request.method, conn.request.headers.get("authorization"), conn.request.body)
        )
        if conn.request.headers.get("authorization") != "Bearer s3cret":
            conn.json(401, b'{"error": {"type": "unauthorized", "message": "bad key"}}')
            return
        conn.head()
        conn.chunks([NDJSON.data(1, "hello"), NDJSON.end(1)])
        conn.terminate()

    return script


@pytest.mark.timeout(60)
def test_token_from_option_or_environment_and_post_with_data() -> None:
    seen: list[Any] = []
    with HostileServer(auth_server(seen)) as srv:
        none = run(srv.url("/chat"))
        option = run(srv.url("/chat"), "--token", "s3cret", "--data", '{"messages": []}')
        environ = run(srv.url("/chat"), STREAMER_TOKEN="s3cret")
    assert none.returncode == EXIT_HTTP and "401 unauthorized: bad key" in summary(none)
    assert option.returncode == environ.returncode == EXIT_COMPLETE, option.stderr
    assert option.stdout == environ.stdout == "hello"
    assert seen == [
        ("GET", None, b""),
        ("POST", "Bearer s3cret", b'{"messages": []}'),
        ("GET", "Bearer s3cret", b""),
    ]
    assert all("s3cret" not in r.stderr for r in (none, option, environ))


@pytest.mark.timeout(60)
def test_resume_option_reconnects_with_last_event_id() -> None:
    def script(conn: Conn) -> None:
        after = int(conn.request.headers.get("last-event-id", "0"))
        conn.head()
        conn.chunks(ndjson_body(min(after + 2, 5), first=after + 1))
        if after + 2 < 5:
            conn.cut_mid_chunk()
            return
        conn.chunk(NDJSON.end(5))
        conn.terminate()

    with HostileServer(script) as srv:
        without = run(srv.url("/"))
        with_resume = run(srv.url("/"), "--resume")
    assert without.returncode == EXIT_INCOMPLETE and without.stdout == "item 1\nitem 2\n"
    assert with_resume.returncode == EXIT_COMPLETE, with_resume.stderr
    assert with_resume.stdout == "".join(f"item {i}\n" for i in range(1, 6))
    assert "2 reconnection(s)" in summary(with_resume)
