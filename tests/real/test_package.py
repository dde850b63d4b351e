"""Real tier: streamer as a user installs it. The wheel is built from this checkout and
installed into fresh venvs (constrained by requirements.txt): the base install is a client
without Flask or gevent; with ``[flask]`` the examples/ app runs under plain
``gunicorn -k gevent`` and under ``-k streamer.worker.Worker``, checked over a socket.

One wheel and two venvs per test session (a few seconds with a warm pip cache).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from streamer.wire.decoders import NDJSONDecoder
from streamer.wire.records import Data, End, Error

from ..conftest import ROOT, Server

pytestmark = [pytest.mark.real, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class Installed:
    base: Path  # the venv's python: no extras
    flask: Path  # with [flask]
    example: Path  # a folder holding only a copy of examples/app.py


def _run(*argv: str | Path, cwd: Path | None = None, timeout: float = 400) -> str:
    result = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    top = tmp_path_factory.mktemp("package")
    # Build from a copy of what the wheel is made of: the build leaves build/ and *.egg-info
    # behind, which must not land in the checkout.
    src = top / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "streamer", src / "streamer", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    dist = top / "dist"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "-q",
        "-w",
        dist,
        src,
    )
    (wheel,) = dist.glob("streamer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # The library, with its types; the demo service is not in it (docs/design.md).
    assert "streamer/py.typed" in names and "streamer/server/extension.py" in names, names
    assert not [n for n in names if n.startswith("streamer/service/")], names
    pythons = {}
    for extra in ("", "[flask]"):
        venv = top / ("venv-flask" if extra else "venv-base")
        _run(sys.executable, "-m", "venv", venv)
        python = venv / "bin" / "python"
        _run(
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-c",
            ROOT / "requirements.txt",
            f"{wheel}{extra}",
            cwd=top,
        )
        pythons[extra] = python
    example = top / "example"
    example.mkdir()
    shutil.copy(ROOT / "examples" / "app.py", example / "app.py")
    return Installed(pythons[""], pythons["[flask]"], example)


@pytest.fixture(scope="session", params=["gevent", "streamer.worker.Worker"])
def example(
    request: pytest.FixtureRequest, installed: Installed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """examples/app.py from the installed wheel, under gunicorn with the given worker."""
    gunicorn = installed.flask.parent / "gunicorn"

    def argv(port: int) -> list[str]:
        return [
            str(gunicorn),
            "-k",
            request.param,
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--graceful-timeout",
            "10",
            "--no-control-socket",
            "app:app",
        ]

    log = tmp_path_factory.mktemp("example") / "gunicorn.log"
    srv = Server({}, log, argv=argv, cwd=installed.example, ready_path="/ticks?count=1&interval=0")
    yield srv
    srv.stop()


# -- the base install: a client, no server --------------------------------------------------


def test_the_base_install_is_a_client_without_flask_or_gevent(
    installed: Installed, example: Server
) -> None:
    for module in ("flask", "gevent"):
        result = subprocess.run(
            [installed.base, "-c", f"import {module}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, module
    where = _run(
        installed.base,
        "-c",
        "import streamer, streamer.client; print(streamer.__file__); print(streamer.Client)",
        cwd=installed.example,
    )
    assert str(installed.base.parent.parent) in where  # the wheel's, not this checkout's
    out = _run(
        installed.base,
        "-m",
        "streamer.client",
        "--format",
        "ndjson",
        example.url("/ticks?count=3&interval=0.05"),
        cwd=installed.example,
        timeout=60,
    )
    assert out == "tick 1\ntick 2\ntick 3\n"


# -- the [flask] install: examples/app.py under gunicorn ------------------------------------


def _arrivals(url: str, timeout: float = 20) -> list[tuple[float, bytes]]:
    got: list[tuple[float, bytes]] = []
    with requests.get(url, stream=True, timeout=timeout) as response:
        assert response.status_code == 200
        for chunk in response.iter_content(chunk_size=None):
            got.append((time.monotonic(), chunk))
    return got


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/ticks?count=4&interval=0.5", id="sync-generator"),
        pytest.param("/words?text=one+two+three+four&interval=0.5", id="async-generator"),
    ],
)
def test_streams_arrive_incrementally(example: Server, path: str) -> None:
    started = time.monotonic()
    got = _arrivals(example.url(path))
    assert len(got) >= 4, got
    first, last = got[0][0], got[-1][0]
    assert first - started < 1.0
    assert last - first > 1.2  # three intervals of 0.5 s after the first chunk
    body = b"".join(chunk for _, chunk in got).decode()
    assert body.startswith(("tick 1\n", "one "))


def _finally_lines(server: Server) -> int:
    return server.log().count("words: producer closed after 1 words")


def test_a_client_leaving_an_idle_async_producer_runs_its_finally_at_once(example: Server) -> None:
    before = _finally_lines(example)
    with socket.create_connection(("127.0.0.1", example.port), timeout=10) as sock:
        sock.sendall(b"GET /words?text=first+never&interval=60 HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while b"first" not in received:
            data = sock.recv(4096)
            assert data, received
            received += data
        time.sleep(0.2)  # the producer now idles in asyncio.sleep(60)
        assert _finally_lines(example) == before
        left = time.monotonic()
    deadline = left + 5
    while _finally_lines(example) == before and time.monotonic() < deadline:
        time.sleep(0.002)
    seen = time.monotonic()
    assert _finally_lines(example) == before + 1, example.log()
    assert seen - left < 0.1, f"finally ran {seen - left:.3f} s after the client left"


def test_a_producer_failing_before_its_first_item_gives_a_json_5xx(example: Server) -> None:
    response = requests.get(example.url("/weather?city=atlantis"), timeout=10)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == "upstream_error"
    assert "Traceback" not in response.text


def _ndjson(raw: bytes) -> list[object]:
    decoder = NDJSONDecoder()
    return [*decoder.feed(raw), *decoder.close()]


def test_a_resumable_stream_resumes_with_every_id_once(example: Server) -> None:
    seen: list[int] = []
    with requests.get(
        example.url("/report?count=8&interval=0.15&format=ndjson"), stream=True, timeout=10
    ) as first:
        stream_id = first.headers["X-Stream-Id"]
        decoder = NDJSONDecoder()
        for chunk in first.iter_content(chunk_size=None):
            seen += [r.id for r in decoder.feed(chunk) if isinstance(r, Data)]
            if len(seen) >= 3:
                break  # the client leaves; the producer goes on
    rest = requests.get(
        example.url(f"/streams/{stream_id}?format=ndjson"),
        headers={"Last-Event-ID": str(seen[-1])},
        timeout=20,
    )
    records = _ndjson(rest.content)
    seen += [r.id for r in records if isinstance(r, Data)]
    assert seen == list(range(1, 9))
    assert records[-1] == End(8)


def test_the_streamer_worker_ends_open_streams_with_shutdown_on_sigterm(
    installed: Installed, tmp_path: Path
) -> None:
    gunicorn = installed.flask.parent / "gunicorn"

    def argv(port: int) -> list[str]:
        return [
            str(gunicorn),
            "-k",
            "streamer.worker.Worker",
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "20",
            "--no-control-socket",
            "app:app",
        ]

    srv = Server(
        {},
        tmp_path / "gunicorn.log",
        argv=argv,
        cwd=installed.example,
        ready_path="/ticks?count=1&interval=0",
    )
    try:
        with requests.get(
            srv.url("/ticks?count=1000&interval=0.1&format=ndjson"), stream=True, timeout=10
        ) as response:
            decoder = NDJSONDecoder()
            chunks = response.iter_content(chunk_size=None)
            records = [*decoder.feed(next(chunks))]
            sent = time.monotonic()
            os.kill(srv.proc.pid, signal.SIGTERM)
            try:
                for chunk in chunks:
                    records += decoder.feed(chunk)
            except requests.exceptions.ChunkedEncodingError:
                pass  # cut without the terminator after the error record, by design
        assert time.monotonic() - sent < 5  # not the 20 s graceful timeout
        assert isinstance(records[-1], Error) and records[-1].type == "shutdown", records
        assert not any(isinstance(r, End) for r in records)
        srv.proc.wait(timeout=15)
    finally:
        srv.stop()


def _teardowns(server: Server, path: str) -> list[str]:
    return [line for line in server.log().splitlines() if f"teardown {path} " in line]


@pytest.mark.parametrize("fmt", ["text", "ndjson"])  # text runs inline, ndjson in a pump
def test_teardown_runs_once_when_the_stream_ends_not_when_the_view_returns(
    example: Server, fmt: str
) -> None:
    before = len(_teardowns(example, "/ticks"))
    with requests.get(
        example.url(f"/ticks?count=3&interval=0.3&format={fmt}"), stream=True, timeout=10
    ) as response:
        chunks = response.iter_content(chunk_size=None)
        next(chunks)
        time.sleep(0.1)
        assert len(_teardowns(example, "/ticks")) == before  # the stream is still open
        for _ in chunks:
            pass
    deadline = time.monotonic() + 5
    while len(_teardowns(example, "/ticks")) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert len(_teardowns(example, "/ticks")) == before + 1


@pytest.mark.parametrize("fmt", ["text", "ndjson"])
def test_teardown_runs_once_when_the_client_leaves(example: Server, fmt: str) -> None:
    before = len(_teardowns(example, "/ticks"))
    with socket.create_connection(("127.0.0.1", example.port), timeout=10) as sock:
        sock.sendall(
            f"GET /ticks?count=1000&interval=0.2&format={fmt} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        received = b""
        while b"tick 1" not in received:
            data = sock.recv(4096)
            assert data, received
            received += data
    deadline = time.monotonic() + 5
    while len(_teardowns(example, "/ticks")) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert len(_teardowns(example, "/ticks")) == before + 1
