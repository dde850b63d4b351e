"""Request edges under attack (issue 18 rows 1, 7, 8, 9, 10), over real sockets against
gunicorn: slow bodies, hostile JSON, Host-built redirects, gunicorn's own refusals, long
echoed values. Plus the fast-tier checks of the pieces (parser, echo, refusal rewriting) and
of the one gunicorn internal relied on."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any

import gevent
import pytest

from streamer.bodydeadline import BodyTimeout, DeadlineInput
from streamer.echo import clip, echo
from streamer.errors import BadRequest
from streamer.jsonbody import MAX_DEPTH, parse_json_body
from streamer.redirects import relative_location
from streamer.refusals import Capture, json_refusal


def split(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split(" ", 2)[1]), headers, body


def json_error(response: bytes) -> tuple[int, dict[str, str]]:
    status, headers, body = split(response)
    assert headers.get("content-type") == "application/json", response[:300]
    error = json.loads(body)["error"]
    assert set(error) == {"type", "message"}
    return status, error


# -- 1: request bodies have a deadline --------------------------------------------------------

class _Stalling:
    """A body whose first ``ready`` bytes are there at once and the rest never come."""

    def __init__(self, data: bytes, ready: int) -> None:
        self._data, self._ready = io.BytesIO(data), ready

    def read(self, size: int) -> bytes:
        if self._data.tell() + size > self._ready:
            gevent.sleep(30)  # cooperative: the piece's timer interrupts it
        return self._data.read(size)

    def readline(self, size: int) -> bytes:
        return self._data.readline(size)


def test_deadline_input_reads_like_wsgi_input() -> None:
    data = b"".join(b"line %d\n" % i for i in range(5000))
    make = lambda: DeadlineInput(io.BytesIO(data), timeout_s=5, min_rate=500)  # noqa: E731
    assert make().read() == data
    assert make().read(70_000) == data[:70_000]
    assert make().readline() == b"line 0\n"
    assert make().readline(3) == b"lin"
    assert b"".join(make()) == data
    assert len(make().readlines()) == 5000
    body = make()
    assert body.read(10) + body.read(-1) == data and body.read() == b""


@pytest.mark.timeout(10)
def test_deadline_input_drops_a_stalled_body_once() -> None:
    dropped: list[str] = []
    body = DeadlineInput(_Stalling(b"x" * 5000, 3072), timeout_s=0.3, min_rate=0,
                         on_drop=dropped.append, length=5000)
    start = time.monotonic()
    with pytest.raises(BodyTimeout) as info:
        body.read()
    assert 0.25 < time.monotonic() - start < 2
    assert info.value.status == 408 and info.value.code == 408
    assert info.value.message == "the request body did not arrive within 0.3 s (3072 of 5000 bytes)"
    with pytest.raises(BodyTimeout):
        body.read()  # still refused, but logged and counted once
    assert dropped == ["timeout"]


@pytest.mark.timeout(10)
def test_deadline_input_rate_floor_uses_the_start_time() -> None:
    # 5 s of credit are spent already: 1 KiB more at 100,000 B/s is due in 10 ms.
    body = DeadlineInput(_Stalling(b"x" * 5000, 0), timeout_s=30, min_rate=100_000,
                         start=time.monotonic() - 5)
    with pytest.raises(BodyTimeout, match="slower than 100000 bytes/s"):
        body.read()


# -- 7: hostile JSON --------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "value"), [
    pytest.param(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, None, id="at-the-bound"),
    pytest.param(b'{"a": "' + b"[" * 5000 + b'"}', {"a": "[" * 5000}, id="brackets-in-string"),
    pytest.param(b'{"a": "x\\"[[", "b": [1]}', {"a": 'x"[[', "b": [1]}, id="escaped-quote"),
    pytest.param(b'{"n": ' + b"9" * 100 + b"}", {"n": int("9" * 100)}, id="100-digits"),
    pytest.param(b'{"f": 1e400}', {"f": float("inf")}, id="huge-float-left-to-fields"),
])
def test_parse_json_body_accepts(raw: bytes, value: Any) -> None:
    parsed = parse_json_body(raw)
    if value is not None:
        assert parsed == value


@pytest.mark.parametrize(("raw", "says"), [
    pytest.param(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "deeper", id="one-past"),
    pytest.param(b'{"a": [' * 70 + b"1" + b"]}" * 70, "deeper", id="mixed"),
    pytest.param(b"[" + b"1" * 101 + b"]", "number longer", id="101-digits"),
    pytest.param(b"[0." + b"1" * 100 + b"]", "number longer", id="long-fraction"),
    pytest.param(b"[-Infinity]", "-Infinity is not a JSON value", id="infinity"),
    pytest.param(b"\xff{}", "not valid UTF-8", id="not-utf8"),
    pytest.param(b'{"a": ', "not valid JSON: Expecting value at position 6", id="truncated"),
])
def test_parse_json_body_refuses(raw: bytes, says: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_json_body(raw)
    assert info.value.status == 400 and info.value.type == "invalid_json"
    assert says in info.value.message


@pytest.mark.timeout(10)
def test_parse_json_body_is_linear_on_unterminated_strings() -> None:
    # A string-skipping pattern that may backtrack, or restart at every quote, is quadratic
    # here (minutes); this must take milliseconds.
    start = time.monotonic()
    with pytest.raises(BadRequest):
        parse_json_body(b'"' + b'\\"[' * 300_000)
    with pytest.raises(BadRequest):
        parse_json_body(b"[" * 200 + b'"' + b"x" * 500_000)
    assert time.monotonic() - start < 3


# -- 8: no redirect from the Host header ------------------------------------------------------

def test_relative_location_never_leaves_the_server() -> None:
    assert relative_location("http://evil.example/static/x") == "/static/x"
    assert relative_location("http://h//evil.example/x") == "/evil.example/x"
    assert relative_location("http://h/\\evil.example") == "/evil.example"
    assert relative_location("http://h") == "/"


# -- 9: gunicorn's refusals as JSON -----------------------------------------------------------

class _FakeSocket:
    def __init__(self) -> None:
        self.sent = b""

    def gettimeout(self) -> float | None:
        return None

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.sent += data


def test_gunicorn_still_writes_its_refusal_through_the_socket_it_is_given() -> None:
    """The one gunicorn internal streamer.refusals relies on (read from gunicorn 27.0.1): its
    worker's handle_error writes the whole page with sendall on the ``client`` argument."""
    from gunicorn.http.errors import LimitRequestHeaders
    from gunicorn.workers.ggevent import GeventWorker

    class _Self:
        log = logging.getLogger("test-edges")
        cfg = None

    real = _FakeSocket()
    capture = Capture(real)
    GeventWorker.handle_error(_Self(), None, capture, ("127.0.0.1", 1),
                              LimitRequestHeaders("limit request headers fields size"))
    assert real.sent == b""
    assert capture.data.startswith(b"HTTP/1.1 431 ")
    out = json_refusal(capture.data, LimitRequestHeaders("limit request headers fields size"))
    assert out is not None
    status, error = json_error(out)
    assert status == 431
    assert error == {"type": "request_header_fields_too_large",
                     "message": "request header fields too large: "
                                "limit request headers fields size"}


def test_json_refusal_hides_server_failures_and_passes_unknown_bytes() -> None:
    out = json_refusal(b"HTTP/1.1 500 Internal Server Error\r\n\r\n", RuntimeError("secret"))
    assert out is not None and b"secret" not in out
    assert json_error(out) == (500, {"type": "internal_error", "message": "internal error"})
    assert json_refusal(b"garbage", None) is None


# -- 10: echoed values are cut ----------------------------------------------------------------

def test_echo_and_clip() -> None:
    assert echo("abc") == "'abc'"
    assert echo("9" * 3000) == "'" + "9" * 40 + "…'"
    assert echo("a\r\nb") == "'a\\r\\nb'"
    assert clip(-5) == "-5"
    assert clip(int("9" * 3000)) == "9" * 40 + "…"
