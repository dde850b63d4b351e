"""A browser's ``EventSource`` on a resumable stream through a Redis outage: Debian's Chromium
(Playwright) against gunicorn with gevent workers and a real redis-server, stalled with
SIGSTOP and let go with SIGCONT (its data intact, as a promoted replica's would be).

``EventSource`` fails for good on any status but 200 (WHATWG 9.2.3). Before, a reconnect that
landed in the outage got the store's 503 and the page was left with a closed stream; the
resume route now answers an SSE resume in an outage with a body that only sets the retry
(streamer.server.resumable.routes), and the browser reconnects until the store is back, then
reads on from its last id: every record once, then the end."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from ..conftest import Server
from ..redis_fixture import RedisServer, fresh_redis
from .test_page import browser

pytestmark = pytest.mark.real

__all__ = ["browser", "fresh_redis"]  # fixtures, imported for pytest

RECORDS = 40

FOLLOW = """url => {
  window.seen = {ids: [], inband: [], opens: 0, end: null};
  const es = new EventSource(url);
  window.es = es;
  es.onopen = () => { window.seen.opens += 1; };
  es.onmessage = e => { window.seen.ids.push(Number(e.lastEventId)); };
  es.addEventListener('end', e => { window.seen.end = JSON.parse(e.data); es.close(); });
  // A named 'error' event is the stream's in-band error; a plain one, the connection's.
  es.addEventListener('error', e => {
    if (e.data) window.seen.inband.push(JSON.parse(e.data).type);
  });
}"""
SEEN = "() => ({...window.seen, state: window.es.readyState})"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.timeout(90)
def test_an_eventsource_reconnects_through_a_redis_outage_and_reads_every_record_once(
    make_server: Callable[..., Server], fresh_redis: RedisServer, page: Any
) -> None:
    server = make_server(
        {
            "REDIS_URL": fresh_redis.url,
            "STREAMER_RETRY_MS": "300",
            "STREAMER_REDIS_TIMEOUT_S": "0.5",
            "STREAMER_LEASE_S": "30",  # the producer rides the outage out
            "STREAMER_HEARTBEAT_S": "1",
        }
    )
    start = requests.get(
        server.url(f"/stream/data?count={RECORDS}&interval=0.2&resumable=1&format=ndjson"),
        stream=True,
        timeout=10,
    )
    assert start.status_code == 200
    sid = start.headers["X-Stream-Id"]
    start.close()  # the producer runs on, detached
    page.goto(server.url("/healthz"))  # the server's origin: EventSource needs no CORS
    page.evaluate(FOLLOW, server.url(f"/streams/{sid}?format=sse"))

    def seen() -> dict[str, Any]:
        got: dict[str, Any] = page.evaluate(SEEN)
        return got

    wait_until(lambda: len(seen()["ids"]) >= 3, 15, "the stream never reached the page")
    assert fresh_redis.proc is not None
    fresh_redis.proc.send_signal(signal.SIGSTOP)
    try:
        # The reader's blocking read fails (in-band store_unavailable, the body cut); the
        # browser reconnects every 0.3 s into the outage. Each answer must keep it open.
        stalled = time.monotonic()
        wait_until(
            lambda: seen()["opens"] >= 4 or seen()["state"] == 2,
            20,
            "the browser did not reconnect during the outage",
        )
        during = seen()
        outage_s = time.monotonic() - stalled
    finally:
        fresh_redis.proc.send_signal(signal.SIGCONT)
    print(
        f"\noutage {outage_s:.1f} s: {during['opens']} opens, in-band {during['inband']}, "
        f"readyState {during['state']}"
    )
    assert during["state"] != 2, "the EventSource was closed for good by a resume in the outage"
    assert during["inband"] == ["store_unavailable"]
    wait_until(lambda: seen()["end"] is not None, 30, "the stream never ended in the browser")
    final = seen()
    assert final["ids"] == list(range(1, RECORDS + 1))  # every record once, in order
    assert final["end"] == {"count": RECORDS}
