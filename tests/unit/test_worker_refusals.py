"""Fast tier of streamer.worker.refusals: gunicorn's own refusals rewritten as JSON errors (issue 18
row 9), and the one gunicorn internal relied on. split() and json_error() read a raw response;
tests/real/test_edges_live.py uses them against gunicorn."""

from __future__ import annotations

import json
import logging

from streamer.worker.refusals import Capture, json_refusal


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
    """The one gunicorn internal streamer.worker.refusals relies on (read from gunicorn 27.0.1): its
    worker's handle_error writes the whole page with sendall on the ``client`` argument."""
    from gunicorn.http.errors import LimitRequestHeaders
    from gunicorn.workers.ggevent import GeventWorker

    class _Self:
        log = logging.getLogger("test-edges")
        cfg = None

    real = _FakeSocket()
    capture = Capture(real)
    GeventWorker.handle_error(
        _Self(),
        None,
        capture,
        ("127.0.0.1", 1),
        LimitRequestHeaders("limit request headers fields size"),
    )
    assert real.sent == b""
    assert capture.data.startswith(b"HTTP/1.1 431 ")
    out = json_refusal(capture.data, LimitRequestHeaders("limit request headers fields size"))
    assert out is not None
    status, error = json_error(out)
    assert status == 431
    assert error == {
        "type": "request_header_fields_too_large",
        "message": "request header fields too large: limit request headers fields size",
    }


def test_json_refusal_hides_server_failures_and_passes_unknown_bytes() -> None:
    out = json_refusal(b"HTTP/1.1 500 Internal Server Error\r\n\r\n", RuntimeError("secret"))
    assert out is not None and b"secret" not in out
    assert json_error(out) == (500, {"type": "internal_error", "message": "internal error"})
    assert json_refusal(b"garbage", None) is None
