"""Raw-socket HTTP servers on loopback that misbehave on purpose, for the client's tests.

A :class:`HostileServer` accepts connections one at a time in a thread and hands each to a
*script* (``script(conn)``), which writes whatever bytes the test wants: a proper chunked
response, a body cut in the middle of a chunk, no terminator, ten megabytes without a newline,
or nothing at all. Every request head is kept in ``requests`` for assertions. The server is a
context manager: on exit it stops waiting, closes every socket, joins its thread (bounded) and
re-raises any error a script made, so a broken script fails its test.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType

REASONS = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class Conn:
    """One accepted connection and its request; helpers write the response."""

    sock: socket.socket
    request: Request
    index: int  # 0 for the first connection, 1 for the second, ...
    stop: threading.Event = field(repr=False)

    def head(
        self,
        status: int = 200,
        content_type: str | None = "application/x-ndjson",
        headers: dict[str, str] | None = None,
        chunked: bool = True,
    ) -> None:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Whatever')}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        lines.append("Connection: close")  # one request per connection, never reused
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def chunk(self, data: bytes) -> None:
        if data:
            self.send(b"%x\r\n%s\r\n" % (len(data), data))

    def chunks(self, pieces: Iterable[bytes]) -> None:
        for piece in pieces:
            self.chunk(piece)

    def terminate(self) -> None:
        self.send(b"0\r\n\r\n")

    def cut_mid_chunk(self, data: bytes = b'{"event":"da') -> None:
        """Announce a chunk longer than what follows; the script then returns (close)."""
        self.send(b"%x\r\n%s" % (len(data) + 100, data))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def json(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.head(
            status,
            "application/json",
            {"Content-Length": str(len(body)), **(headers or {})},
            chunked=False,
        )
        self.send(body)

    def wait(self, seconds: float) -> bool:
        """Sleep, but wake up when the server stops; True if it is stopping."""
        return self.stop.wait(seconds)


Script = Callable[[Conn], None]


class HostileServer:
    """Serve ``script`` to each connection, in turn, on a free loopback port."""

    def __init__(self, script: Script, *, accept_timeout: float = 10.0) -> None:
        self.script = script
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._accept_timeout = accept_timeout
        self._thread = threading.Thread(target=self._serve, name="hostile", daemon=True)

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._listener.close()
        assert not self._thread.is_alive(), "the hostile server did not stop"
        if self.errors and exc is None:
            raise self.errors[0]

    def _serve(self) -> None:
        index = 0
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with sock:
                sock.settimeout(self._accept_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    request = _read_request(sock)
                    self.requests.append(request)
                    self.script(Conn(sock, request, index, self._stop))
                    sock.shutdown(socket.SHUT_WR)  # FIN, then close: no RST over our data
                except OSError:
                    pass  # the client left first, which some tests want
                except BaseException as exc:  # a broken script: reported on exit
                    self.errors.append(exc)
            index += 1


def _read_request(sock: socket.socket, limit: int = 64 * 1024) -> Request:
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(4096)
        if not got:
            raise ConnectionError("the client closed before sending a request")
        data += got
        if len(data) > limit:
            raise ConnectionError("request head too long")
    head, _, body = data.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        got = sock.recv(4096)
        if not got:
            break
        body += got
    return Request(method, path, headers, body)


def ndjson_body(count: int, first: int = 1, payload: str = "item {}\n") -> list[bytes]:
    """Data records ``first..count`` as NDJSON lines, one per list item."""
    from streamer.wire.framing import NDJSON

    return [NDJSON.data(i, payload.format(i)) for i in range(first, count + 1)]
