"""Every worker exits on time after SIGTERM, whatever it served: once its streams have ended,
the master and its workers are gone within a second, far inside gunicorn's graceful timeout
(30 s here, so a pass is never the timeout's kill).

The client keeps its connection open, as the openai SDK, a requests session and browsers do
(keep-alive): gunicorn waits for every connection, so an idle one held a worker up to
``keepalive`` (5 s). The upstream is named ``localhost`` so that the openai provider's name
lookup runs on the bridge loop's default executor, whose threads must not hold exit either."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..conftest import Server
from ..fake_openai import FakeOpenAI, fake_model

pytestmark = pytest.mark.real

KEY = "sk-upstream-secret-0123456789abcdef"
BOUND_S = 1.0  # the bound; 0.33-0.37 s measured (gunicorn's own loop: 1.1-1.4 s)
LOOPS = {"libev": "libev-cext", "libuv": "libuv"}
EXPECTED_DATA = "data chunk 1\ndata chunk 2\ndata chunk 3\n"
MESSAGES = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def serve_one(session: requests.Session, srv: Server, kind: str) -> None:
    model = fake_model(tokens=5, delay=0.01)
    if kind == "plain":
        resp = session.get(srv.url("/stream/data?count=3&interval=0"), timeout=10)
        assert resp.text == EXPECTED_DATA
    elif kind == "resumable":
        resp = session.get(srv.url("/stream/data?count=3&interval=0&resumable=yes"), timeout=10)
        assert resp.text == EXPECTED_DATA and resp.headers["X-Stream-Id"]
    elif kind == "chat":
        resp = session.post(
            srv.url("/chat"), json={"messages": MESSAGES, "model": model}, timeout=10
        )
        assert resp.text == "hello there hello there hello"
    else:
        body = {"messages": MESSAGES, "model": model, "stream": True}
        resp = session.post(srv.url("/v1/chat/completions"), json=body, timeout=10)
        assert resp.text.endswith("data: [DONE]\n\n"), resp.text[-200:]
    assert resp.status_code == 200


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # a worker the master has not reaped yet (it is gone with the master)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("kind", ["plain", "chat", "v1", "resumable"])
def test_master_and_workers_exit_soon_after_SIGTERM(
    upstream: FakeOpenAI, tmp_path: Path, kind: str, loop: str
) -> None:
    env = {
        "GEVENT_LOOP": LOOPS[loop],
        "STREAMER_GRACEFUL_TIMEOUT_S": "30",
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": upstream.base_url.replace("127.0.0.1", "localhost"),
        "STREAMER_UPSTREAM_RETRIES": "0",
    }
    srv = Server(env, tmp_path / "gunicorn.log")
    try:
        with requests.Session() as session:  # its connection stays open over the SIGTERM
            serve_one(session, srv, kind)
            pids = [srv.proc.pid, *srv.worker_pids()]
            assert len(pids) == 2, pids
            started = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            while time.monotonic() - started < 10 and not all(gone(p) for p in pids):
                srv.proc.poll()
                time.sleep(0.02)
            took = time.monotonic() - started
        print(f"exit {kind} {loop}: {took:.2f} s")
        assert all(gone(p) for p in pids) and took < BOUND_S, (
            f"{kind} on {loop}: still up {took:.2f} s after SIGTERM\n{srv.log()[-3000:]}"
        )
        # And quietly: no traceback at exit (a Flask imported in the master printed one).
        assert "Traceback" not in srv.log() and "Exception ignored" not in srv.log(), srv.log()
    finally:
        srv.stop()
