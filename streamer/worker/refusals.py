"""gunicorn's own refusals of a malformed request head, answered as JSON.

Before the app sees a request, gunicorn refuses heads it cannot parse safely: 431 for a
header field or too many fields past its limits, 414 for a request line past its limit, 400
for a malformed head (``Content-Length`` with ``Transfer-Encoding``, a bad header name...), 501
for a transfer coding it does not know, 403/417 for a few more. Its worker's
``handle_error(req, client, addr, exc)`` picks the status, logs one warning and writes an HTML
page with ``gunicorn.util.write_error``. streamer keeps gunicorn's choice of status and its
log line and replaces only the page: :class:`Capture` stands in for the client socket while
gunicorn writes, and :func:`send_json` sends ``{"error": {"type", "message"}}`` instead, with
the same status, ``Connection: close`` and no-blocking write gunicorn uses.

Read from gunicorn 27.0.1 (``workers/base.py: Worker.handle_error``, ``util.write_error``,
``util.write_nonblock``): the page is written to the socket it was given with ``sendall``
after ``gettimeout``/``setblocking``. tests/unit/test_worker_refusals.py fails if that changes (the
capture would then see nothing and the HTML would go out unchanged).
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from ..errors import error_body
from ..quote import detail


class Capture:
    """The client socket as gunicorn's ``handle_error`` sees it: what it writes is kept."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.data = b""

    def sendall(self, data: bytes) -> None:
        self.data += bytes(data)

    def send(self, data: bytes) -> int:
        self.data += bytes(data)
        return len(data)

    def setblocking(self, flag: bool) -> None:
        pass  # the real socket's mode is left alone; send_json sets what it needs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def json_refusal(written: bytes, exc: BaseException | None) -> bytes | None:
    """The JSON response for the HTML response gunicorn ``written``; None when that is not an
    HTTP/1.x response this module understands (then it goes out unchanged)."""
    line, _, _ = written.partition(b"\r\n")
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) != 3 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        return None
    status = int(parts[1])
    try:
        reason = HTTPStatus(status).phrase  # gunicorn 27 says "501 Bad Request"
    except ValueError:
        reason = parts[2]
    if status >= 500 and status != 501:
        # gunicorn's own failure, not the client's: say nothing about it (it is logged).
        type_, message = "internal_error", "internal error"
    else:
        type_ = re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "bad_request"
        said = detail(str(exc)) if exc is not None else ""
        message = f"{reason.lower()}: {said}" if said else reason.lower()
    body = json.dumps(error_body(type_, message), separators=(",", ":")).encode() + b"\n"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def send_json(client: Any, capture: Capture, exc: BaseException | None) -> None:
    """Send the JSON form of what gunicorn wrote to ``capture`` (or that, if not understood)."""
    if not capture.data:
        return
    from gunicorn import util

    try:
        util.write_nonblock(client, json_refusal(capture.data, exc) or capture.data)
    except Exception:
        pass  # the client is gone or not reading: gunicorn gives up the same way
