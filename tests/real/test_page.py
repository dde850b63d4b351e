"""The demo page (``GET /``) in a real browser: Debian's Chromium, headless, driven by Playwright,
against gunicorn with gevent workers. What a user would see: the chart and the chat grow while
their streams are open, Stop really stops the server's work, and a broken stream never looks
complete. Playwright's own browser download does not work here; .ci/setup installs ``chromium``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any
from urllib.parse import quote

import pytest
import requests

from streamer.service.echo_provider import echo_reply, tokens

from ..conftest import ROOT, Server

pytestmark = pytest.mark.real

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium phones home at start-up, and this closed network refuses it.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Chromium's own log line for a body cut without the chunked terminator: what the server
# does on purpose when a stream fails (docs/design.md, rule 2). Allowed only where a test
# breaks one.
TRUNCATED = re.compile(
    r"^Failed to load resource: net::ERR_(INCOMPLETE_CHUNKED_ENCODING|"
    r"CONNECTION_RESET|EMPTY_RESPONSE)"
)
STATES = "() => [...document.querySelectorAll('.status')].map(e => e.id + '=' + e.dataset.state)"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI: run .ci/setup)")
    pytest.skip(reason)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _unavailable("Debian's chromium is not installed")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
        raise
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=_chromium(), args=CHROMIUM_ARGS, timeout=30_000
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A slow echo (0.2 s per token) so that the chat is visibly token by token."""
    log = tmp_path_factory.mktemp("page-server") / "gunicorn.log"
    srv = Server({"STREAMER_ECHO_DELAY_S": "0.2", "STREAMER_HEARTBEAT_S": "0.5"}, log)
    yield srv
    srv.stop()


class Tab:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.set_default_timeout(15_000)

    def open(self, server: Server, **query: str) -> None:
        qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        self.page.goto(server.url("/" + (f"?{qs}" if qs else "")))
        self.page.wait_for_selector("body[data-ready='1']")

    def state(self, view: str) -> str:
        return str(self.page.get_attribute(f"#{view}-status", "data-state"))

    def wait_state(self, view: str, *states: str, timeout_s: float = 15) -> str:
        self.page.wait_for_function(
            "([id, states]) => states.includes(document.getElementById(id).dataset.state)",
            arg=[f"{view}-status", list(states)],
            timeout=timeout_s * 1000,
        )
        return self.state(view)

    def text(self, selector: str) -> str:
        return str(self.page.text_content(selector))

    def assert_no_console_errors(self, allow: re.Pattern[str] | None = None) -> None:
        unexpected = [e for e in self.errors if not (allow and allow.match(e))]
        assert unexpected == [], unexpected


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Tab(context.new_page())
    context.close()


def sample(read: Callable[[], tuple[int, str]], n: int, every_s: float) -> list[int]:
    """``n`` readings ``every_s`` apart, each taken while the stream is still open."""
    values = []
    for i in range(n):
        if i:
            time.sleep(every_s)
        value, state = read()
        assert state == "streaming", f"the stream ended after readings {values}: {state}"
        values.append(value)
    return values


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_chart_grows_while_the_stream_is_open(page_server: Server, tab: Tab) -> None:
    total = 60
    tab.open(
        page_server,
        series=f"/stream/series?count={total}&interval=0.1&seed=7&format=ndjson",
        sse="/stream/data?count=20&interval=0.25&resumable=1",
    )
    tab.page.click("#series-start")
    tab.page.fill("#chat-input", "Draw me a chart, please.")
    tab.page.click("#chat-send")
    tab.page.click("#sse-start")
    tab.page.wait_for_function(
        "() => Number(document.getElementById('series-count').textContent) > 0"
    )

    def read() -> tuple[int, str]:
        count, state = tab.page.evaluate(
            "() => [Number(document.getElementById('series-count').textContent),"
            " document.getElementById('series-status').dataset.state]"
        )
        return int(count), str(state)

    counts = sample(read, 4, every_s=0.5)
    assert all(a < b for a, b in pairwise(counts)), counts
    assert counts[-1] < total, counts

    # For a human: the page while all three streams are open.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "page-midstream.png"
    tab.page.screenshot(path=str(shot))
    assert tab.page.evaluate(STATES) == [
        "series-status=streaming",
        "chat-status=streaming",
        "sse-status=streaming",
    ]
    assert shot.stat().st_size > 10_000

    assert tab.wait_state("series", "complete", "error", "incomplete") == "complete"
    assert tab.text("#series-count") == str(total)
    assert tab.page.evaluate("() => document.getElementById('chart').width") > 0
    # The other two finish too (and leave no stream open to blur the next test's log).
    assert tab.wait_state("chat", "complete", "error", "incomplete", "stopped") == "complete"
    assert tab.wait_state("sse", "complete", "error", "incomplete") == "complete"
    tab.assert_no_console_errors()


@pytest.mark.timeout(60)
def test_chat_answer_grows_token_by_token_and_ends_complete(page_server: Server, tab: Tab) -> None:
    prompt = "Tell me about streaming, ünïcödé included"
    expected = echo_reply(prompt)
    tab.open(page_server)
    tab.page.fill("#chat-input", prompt)
    tab.page.click("#chat-send")
    tab.page.wait_for_function("() => document.getElementById('chat-answer').textContent")

    def read() -> tuple[int, str]:
        text, state = tab.page.evaluate(
            "() => [document.getElementById('chat-answer').textContent,"
            " document.getElementById('chat-status').dataset.state]"
        )
        assert expected.startswith(text), text
        return len(text), str(state)

    lengths = sample(read, 4, every_s=0.5)
    assert all(a < b for a, b in pairwise(lengths)), lengths
    assert lengths[-1] < len(expected)

    assert tab.wait_state("chat", "complete", "error", "incomplete", "stopped") == "complete"
    assert tab.text("#chat-answer") == expected
    n = len(tokens(expected))
    assert tab.text("#chat-tokens") == str(n)
    assert f"+ {n} completion tokens" in tab.text("#chat-usage")
    tab.assert_no_console_errors()


@pytest.mark.timeout(60)
def test_stop_aborts_and_the_server_sees_the_disconnect(page_server: Server, tab: Tab) -> None:
    marker = "route=/chat status=200 format=ndjson outcome=disconnect"
    before = page_server.log().count(marker)
    expected = echo_reply("stop me")
    tab.open(page_server)
    tab.page.fill("#chat-input", "stop me")
    tab.page.click("#chat-send")
    tab.page.wait_for_function(
        "() => Number(document.getElementById('chat-tokens').textContent) >= 3"
    )
    tab.page.click("#chat-stop")
    assert tab.wait_state("chat", "stopped", "complete", "error", "incomplete") == "stopped"
    # The server noticed the client leaving and closed the producer: its access log line
    # says disconnect, long before the 0.2 s-per-token answer could have finished.
    wait_for(
        lambda: page_server.log().count(marker) == before + 1,
        5,
        "the server to log the chat stream's disconnect",
    )
    shown = tab.text("#chat-answer")
    time.sleep(0.6)  # three more tokens' time: nothing more arrives
    assert tab.text("#chat-answer") == shown
    assert expected.startswith(shown) and len(shown) < len(expected)
    assert tab.page.is_enabled("#chat-send") and not tab.page.is_enabled("#chat-stop")
    tab.assert_no_console_errors()


@pytest.mark.timeout(60)
def test_stream_failing_in_band_is_shown_as_error(page_server: Server, tab: Tab) -> None:
    tag = f"page-broken-{time.monotonic_ns()}"
    tab.open(
        page_server,
        series=f"/_test/stream?count=10&interval=0.2&fail_after=3&format=ndjson&tag={tag}",
    )
    tab.page.click("#series-start")
    assert tab.wait_state("series", "complete", "error", "incomplete") == "error"
    assert tab.text("#series-count") == "3"
    assert "internal_error" in tab.text("#series-detail")
    # The page closes the body at the error record, normally before the server's cut (which
    # waits for that, streamer/engine/ending.py): Chromium may not see the body cut off.
    tab.assert_no_console_errors(allow=TRUNCATED)


@pytest.mark.timeout(60)
def test_stream_cut_by_the_server_is_shown_as_incomplete(make_server: Any, tab: Tab) -> None:
    srv: Server = make_server()
    tab.open(srv, series="/_test/stream?count=100&interval=0.2&format=ndjson&tag=page-cut")
    tab.page.click("#series-start")
    tab.page.wait_for_function(
        "() => Number(document.getElementById('series-count').textContent) >= 3"
    )
    # The worker dies mid-stream: no error record, no chunked terminator.
    for pid in srv.worker_pids():
        os.kill(pid, signal.SIGKILL)
    assert tab.wait_state("series", "complete", "error", "incomplete") == "incomplete"
    assert "without an end record" in tab.text("#series-detail")
    assert int(tab.text("#series-count")) < 100
    tab.assert_no_console_errors(allow=TRUNCATED)


@pytest.mark.timeout(60)
def test_eventsource_resumes_after_the_last_event_id(page_server: Server, tab: Tab) -> None:
    total = 12
    tab.open(page_server, sse=f"/stream/data?count={total}&interval=0.25&resumable=1")
    tab.page.click("#sse-start")
    tab.page.wait_for_function("() => document.querySelectorAll('#sse-log li').length >= 3")
    tab.page.click("#sse-resume")
    assert tab.wait_state("sse", "complete", "error", "incomplete") == "complete"
    lines = tab.page.eval_on_selector_all(
        "#sse-log li:not(.note)", "els => els.map(e => e.textContent)"
    )
    # Each id exactly once, in order, across the drop: nothing lost, nothing repeated.
    # (The payload is the chunk with its newline, which sse carries as a second data line.)
    assert lines == [f"#{i} data chunk {i}\n" for i in range(1, total + 1)] + [
        f"end: {total} records"
    ]
    assert "reconnects 1" in tab.text("#sse-info")
    tab.assert_no_console_errors()


def test_page_files_are_served(page_server: Server) -> None:
    import requests

    page = requests.get(page_server.url("/"), timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for name, kind in [
        ("page.js", "javascript"),
        ("ndjson.js", "javascript"),
        ("page.css", "text/css"),
    ]:
        r = requests.get(page_server.url(f"/static/{name}"), timeout=5)
        assert r.status_code == 200 and kind in r.headers["Content-Type"], name
    assert requests.get(page_server.url("/api"), timeout=5).json()["service"] == "streamer"


PARSER_CHECK = """async (chunks) => {
  const { readNdjson } = await import('/static/ndjson.js');
  const bytes = chunks.map((c) => new Uint8Array(c));
  const body = new ReadableStream({
    start(controller) { bytes.forEach((b) => controller.enqueue(b)); controller.close(); },
  });
  const records = [];
  const outcome = await readNdjson(new Response(body), (r) => records.push(r));
  return { outcome, records };
}"""


def _split_bytes(text: str, size: int) -> list[list[int]]:
    raw = text.encode()
    return [list(raw[i : i + size]) for i in range(0, len(raw), size)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "newline",
    [pytest.param("\n", id="lf"), pytest.param("\r\n", id="crlf"), pytest.param("\r", id="cr")],
)
def test_page_parser_splits_only_on_line_breaks(
    page_server: Server, tab: Tab, newline: str
) -> None:
    """The page's own parser, fed one byte at a time: CR LF split across chunks is one line
    break, U+2028 inside a string is not a line break, a character split across chunks
    survives (one streaming TextDecoder), and no end record means incomplete."""
    payload = "a\u2028b \u00e9\u20ac\U0001f600"
    lines = [f'{{"event":"data","id":1,"data":"{payload}"}}', '{"event":"end","count":1}']
    tab.open(page_server)
    done = tab.page.evaluate(PARSER_CHECK, _split_bytes(newline.join(lines) + newline, 1))
    assert done == {
        "outcome": "complete",
        "records": [{"event": "data", "id": 1, "data": payload}, {"event": "end", "count": 1}],
    }
    cut = tab.page.evaluate(PARSER_CHECK, _split_bytes(lines[0], 3))  # no newline, no end
    assert cut == {
        "outcome": "incomplete",
        "records": [{"event": "data", "id": 1, "data": payload}],
    }
    tab.assert_no_console_errors()


ERROR_CHECK = """async () => {
  const { readNdjson } = await import('/static/ndjson.js');
  let cancelled = false;
  const line = '{"event":"error","error":{"type":"internal_error","message":"internal error"}}\\n';
  const body = new ReadableStream({  // the record, and then the connection stays open
    start(controller) { controller.enqueue(new TextEncoder().encode(line)); },
    cancel() { cancelled = true; },
  });
  const records = [];
  const outcome = await Promise.race([  // without the close it would read forever
    readNdjson(new Response(body), (r) => records.push(r)),
    new Promise((resolve) => setTimeout(() => resolve("still reading"), 5000))]);
  return { outcome, cancelled, records: records.length };
}"""


@pytest.mark.timeout(60)
def test_page_reader_closes_the_body_at_an_error_record(page_server: Server, tab: Tab) -> None:
    """The error record is the stream's last: the page stops there and closes the body, so
    the server, which cuts a failed stream only once the reader closed (or after a grace
    period), never cuts before the page has the record."""
    tab.open(page_server)
    assert tab.page.evaluate(ERROR_CHECK) == {"outcome": "error", "cancelled": True, "records": 1}
    tab.assert_no_console_errors()


@pytest.mark.timeout(60)
def test_api_key_goes_in_the_authorization_header_only(page_server: Server, tab: Tab) -> None:
    key = "page-test-key-123"
    seen: dict[str, str | None] = {}
    urls: list[str] = []

    def on_request(request: Any) -> None:
        path = request.url.removeprefix(page_server.base_url).split("?")[0]
        if path in ("/chat", "/stream/series"):
            seen[path] = request.headers.get("authorization")
        urls.append(request.url)

    tab.page.on("request", on_request)
    tab.open(page_server, series="/stream/series?count=3&interval=0&format=ndjson")
    tab.page.fill("#api-key", key)
    tab.page.click("#series-start")
    tab.page.fill("#chat-input", "hi")
    tab.page.click("#chat-send")
    assert tab.wait_state("series", "complete", "error", "incomplete") == "complete"
    assert tab.wait_state("chat", "complete", "error", "incomplete") == "complete"
    assert seen == {"/stream/series": f"Bearer {key}", "/chat": f"Bearer {key}"}
    assert urls and not [u for u in urls if key in u]
    # Page memory only: nothing stored where it would outlive the tab.
    stored = tab.page.evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie]"
    )
    assert stored == [0, 0, ""]
    tab.assert_no_console_errors()


@pytest.mark.timeout(60)
def test_eventsource_reads_with_a_stream_token_when_keys_are_on(make_server: Any, tab: Tab) -> None:
    # EventSource cannot send Authorization: the page reads /streams/<id> with the stream's
    # short-lived read token (X-Stream-Token), resumes included; the key never enters a URL.
    key = "page-token-key-123"
    srv: Server = make_server(
        {"STREAMER_API_KEYS": key, "STREAMER_TOKEN_SECRET": "t" * 40, "STREAMER_HEARTBEAT_S": "0.5"}
    )
    urls: list[str] = []
    tab.page.on("request", lambda request: urls.append(request.url))
    tab.open(srv, sse="/stream/data?count=8&interval=0.2&resumable=1")
    tab.page.fill("#api-key", key)
    tab.page.click("#sse-start")
    tab.page.wait_for_function("() => document.querySelectorAll('#sse-log li').length >= 2")
    tab.page.click("#sse-resume")
    assert tab.wait_state("sse", "complete", "error", "incomplete") == "complete", tab.text(
        "#sse-detail"
    )
    lines = tab.page.eval_on_selector_all(
        "#sse-log li:not(.note)", "els => els.map(e => e.textContent)"
    )
    assert lines == [f"#{i} data chunk {i}\n" for i in range(1, 9)] + ["end: 8 records"]
    readers = [u for u in urls if "/streams/" in u]
    assert len(readers) == 2 and all("token=" in u for u in readers), readers
    assert not [u for u in urls if key in u]
    tab.assert_no_console_errors()


@pytest.mark.timeout(60)
def test_eventsource_renews_an_expired_read_token_with_the_key(make_server: Any, tab: Tab) -> None:
    # Tokens live 1 s here: the reader is cut in-band at the expiry (token_expired), a
    # resume with the old token would be refused (401), and the page, which has the key,
    # fetches a fresh token from /streams/<id> and carries on: nothing lost.
    key = "page-token-key-456"
    srv: Server = make_server(
        {
            "STREAMER_API_KEYS": key,
            "STREAMER_TOKEN_SECRET": "t" * 40,
            "STREAMER_TOKEN_TTL_S": "1",
            "STREAMER_HEARTBEAT_S": "0.5",
        }
    )
    tab.open(srv, sse="/stream/data?count=12&interval=0.4&resumable=1")
    tab.page.fill("#api-key", key)
    tab.page.click("#sse-start")
    tab.page.wait_for_function("() => document.querySelectorAll('#sse-log li').length >= 2")
    time.sleep(2.0)  # the token has expired: a 1 s token (whole seconds) lives under 2 s
    tab.page.click("#sse-resume")
    assert tab.wait_state("sse", "complete", "error", "incomplete") == "complete", tab.text(
        "#sse-detail"
    )
    lines = tab.page.eval_on_selector_all(
        "#sse-log li:not(.note)", "els => els.map(e => e.textContent)"
    )
    assert lines == [f"#{i} data chunk {i}\n" for i in range(1, 13)] + ["end: 12 records"]
    notes = tab.page.eval_on_selector_all("#sse-log li.note", "els => els.map(e => e.textContent)")
    assert any("read token renewed" in n for n in notes), notes
    tab.assert_no_console_errors(
        allow=re.compile(r"^Failed to load resource: the server responded with a status of 401")
    )


@pytest.mark.timeout(60)
def test_eventsource_stops_reconnecting_after_the_end(make_server: Any, tab: Tab) -> None:
    # An EventSource reconnects after every body that ends; without the 204 it re-read the
    # stored end every retry interval, forever. Requests are counted as the browser makes them.
    srv = make_server({"STREAMER_RETRY_MS": "200"})
    started = requests.get(
        srv.url("/stream/data?count=2&interval=0&resumable=1&format=ndjson"), timeout=10
    )
    sid = started.headers["X-Stream-Id"]
    requested: list[str] = []
    tab.page.on(
        "request", lambda r: requested.append(r.url) if f"/streams/{sid}" in r.url else None
    )
    tab.page.goto(srv.url("/"))  # same origin as the stream
    tab.page.evaluate(
        """(sid) => {
            window.got = {data: 0, end: 0};
            window.es = new EventSource('/streams/' + encodeURIComponent(sid));
            es.onmessage = () => got.data++;
            es.addEventListener('end', () => got.end++);
        }""",
        sid,
    )
    tab.page.wait_for_function("() => es.readyState === EventSource.CLOSED", timeout=10_000)
    time.sleep(1.0)  # five retry intervals: an EventSource still reconnecting comes back
    assert tab.page.evaluate("() => [got, es.readyState]") == [{"data": 2, "end": 1}, 2]
    assert len(requested) == 2, requested  # the stream, then one resume answered 204
