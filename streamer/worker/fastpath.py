"""gunicorn's HTTP/1 response, written with fewer calls: what :class:`streamer.worker.Worker`
serves every request with.

gunicorn's ``Response`` sends the status line and headers with one ``sendall``, then each body
chunk with another, after joining its size line, data and CRLF into a new bytes; gevent's
``sendall`` reads ``SO_SNDBUF`` with a ``getsockopt`` on every call before its first
``send``. For a stream of small records that is most of the cost of a record, and a one-record
answer makes three ``sendall`` calls (headers, chunk, terminator). :class:`LeanResponse`
keeps everything gunicorn decides (status and header checks, hop-by-hop headers,
``Connection``, chunking, ``Content-Length`` bounds, HEAD and no-body statuses, sendfile) and
changes only how the bytes go out:

- the head goes out in the same ``send`` as the first body bytes (or the terminator): one
  packet and one system call fewer per response;
- a chunk is framed with one ``%`` format and sent with one ``send`` on the real socket
  (:func:`send_all`); only what the kernel did not take waits, through gevent's own
  ``sendall`` (so a slow reader blocks this greenlet alone, as before);
- the ``Date`` header is formatted once per second, not per response.

Anything unusual (a body with ``Content-Length``, HTTP/1.0, HEAD, a non-bytes item) takes
gunicorn's own path unchanged. One thing differs from gunicorn: a connection that closes after
a request with a body (``Connection: close``, HTTP/1.0, a body gunicorn marked ``failed``:
bad chunk framing, a late body) closes lingering (:func:`streamer.engine.disconnect.linger`),
so an answer sent before the body was read (413) is not lost to a reset. gunicorn 27.0.1
closes at once; ``failed`` is its ``http.body.Body``'s flag, read with a default.

:func:`handle_request` is gunicorn's request handling with this
response, and :class:`SettledConfig` (the worker's ``cfg``) reads each gunicorn setting once
per worker instead of on every connection and request. ``bench/per_stream.py --callgrind``:
1,502k -> 1,243k worker instructions per one-record request, 2,654k -> 2,062k per held
stream of 20 records (with the cheaper access line and metrics of the same change).
"""

from __future__ import annotations

import socket
import time
from datetime import datetime
from typing import Any

from gevent import GreenletExit
from gevent.socket import socket as GeventSocket
from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.http.wsgi import Response

from .._compat.gevent import raw_socket
from ..wire.http1 import NODELAY_ENVIRON, http_chunk

_TERMINATOR = b"0\r\n\r\n"


def send_all(sock: Any, data: bytes) -> None:
    """``sock.sendall(data)`` for a gevent socket, with the common case (the kernel takes it
    all at once) in one ``send`` on the real, non-blocking socket. The rest, if any, goes
    through gevent's ``sendall``, which waits for the socket to be writable. A TLS socket
    (not a plain gevent socket) goes through its own ``sendall``."""
    if type(sock) is not GeventSocket:
        sock.sendall(data)
        return
    try:
        sent = raw_socket(sock).send(data)
    except BlockingIOError:
        sent = 0
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


_date: tuple[int, str] = (0, "")


def http_date() -> str:
    """gunicorn's ``util.http_date()``, formatted once per second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, util.http_date(now))
    return _date[1]


class LeanResponse(Response):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's HTTP/1 ``Response``; the head and each chunk go out in one ``send``."""

    def _head(self) -> bytes:
        # gunicorn's default_headers(), with the date cached.
        if self.upgrade:
            connection = "upgrade"
        elif self.should_close():
            connection = "close"
        else:
            connection = "keep-alive"
        version = self.req.version
        lines = [
            f"HTTP/{version[0]}.{version[1]} {self.status}\r\n"
            f"Server: {self.version}\r\nDate: {http_date()}\r\n"
            f"Connection: {connection}\r\n"
        ]
        if self.chunked:
            lines.append("Transfer-Encoding: chunked\r\n")
        lines.extend([f"{k}: {v}\r\n" for k, v in self.headers])
        lines.append("\r\n")
        self.headers_sent = True  # committed: a failed send below leaves no way to a 500
        return util.to_bytestring("".join(lines), "latin-1")  # type: ignore[no-any-return]

    def send_headers(self) -> None:
        if not self.headers_sent:
            send_all(self.sock, self._head())

    def write(self, arg: Any) -> None:
        if (
            not self.chunked
            or type(arg) is not bytes
            or not arg
            or self.response_length is not None
        ):
            super().write(arg)  # gunicorn's own checks and framing
            return
        self.sent += len(arg)
        chunk = http_chunk(arg)
        send_all(self.sock, chunk if self.headers_sent else self._head() + chunk)

    def close(self) -> None:
        if not self.chunked:
            super().close()
        elif self.headers_sent:
            send_all(self.sock, _TERMINATOR)
        else:
            send_all(self.sock, self._head() + _TERMINATOR)


def handle_request(worker: Any, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
    """gunicorn's ``AsyncWorker.handle_request`` (with ``GeventWorker``'s tolerance of
    ``GreenletExit`` and ``SystemExit``), step for step, answering with :class:`LeanResponse`:
    the hooks, ``max_requests``, keep-alive, the access log, ``wsgi.file_wrapper``, and the
    same errors (a socket error goes up to ``handle()``; an error once the head went out cuts
    the connection instead of writing a 500 into the body). Returns what gunicorn's does."""
    try:
        return _handle(worker, listener_name, req, sock, addr)
    except (GreenletExit, SystemExit):
        return False


class SettledConfig:
    """gunicorn's ``Config`` as a worker reads it: each setting, once read, is a plain
    attribute (a worker's settings do not change; a reload starts new workers). gunicorn
    reads ~25 per request and more per connection (the parser's limits), each through
    ``Config.__getattr__`` and its setting's ``get()``."""

    def __init__(self, cfg: Any) -> None:
        self._cfg = cfg

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._cfg, name)
        setattr(self, name, value)
        return value


def nodelay_listeners(listeners: Any) -> frozenset[Any]:
    """The names (``getsockname()``) of the listeners whose accepted sockets start with
    ``TCP_NODELAY``, looked at once per worker."""
    names = []
    for listener in listeners:
        try:
            if listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY):
                names.append(listener.getsockname())
        except OSError:
            pass  # not TCP (a Unix socket)
    return frozenset(names)


def _handle(worker: Any, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
    cfg = worker.cfg  # a SettledConfig (Worker.init_process)
    request_start = datetime.now()
    environ: dict[str, Any] = {}
    resp = None
    try:
        cfg.pre_request(worker, req)
        resp, environ = wsgi.create(
            req, sock, addr, listener_name, cfg, response_class=LeanResponse
        )
        environ["wsgi.multithread"] = True
        if listener_name in worker.nodelay_listeners:
            environ[NODELAY_ENVIRON] = True
        worker.nr += 1
        if worker.nr >= worker.max_requests and worker.alive:
            worker.log.info("Autorestarting worker after current request.")
            worker.alive = False
        if not worker.alive or not cfg.keepalive:
            resp.force_close()
        respiter = worker.wsgi(environ, resp.start_response)
        if worker.is_already_handled(respiter):
            return False
        try:
            if isinstance(respiter, environ["wsgi.file_wrapper"]):
                resp.write_file(respiter)
            else:
                write = resp.write
                for item in respiter:
                    write(item)
            resp.close()
        finally:
            worker.log.access(resp, req, environ, datetime.now() - request_start)
            close = getattr(respiter, "close", None)
            if close is not None:
                close()
        if resp.should_close() or getattr(req.body, "failed", False):
            # The connection closes here (gunicorn's handle() closes it after this): with a
            # request body the app may not have read to its end, close it lingering.
            # (A Content-Length of 0 lingers too: rare, and harmless.)
            if environ.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" in environ:
                # Imported here, not at the top: this module loads in gunicorn's master,
                # before the worker patches with gevent, and streamer.engine imports Flask;
                # a Flask imported there made every worker's exit print "Exception ignored
                # in _removeHandlerRef" (logging's shutdown on a half-patched lock).
                from ..engine.disconnect import linger

                linger(sock)
            raise StopIteration()
    except StopIteration:
        raise
    except OSError:
        raise  # handle() ignores EPIPE and resets, and logs the rest
    except (Exception, SystemExit):
        if resp is not None and resp.headers_sent:
            worker.log.exception("Error handling request")
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
            raise StopIteration() from None
        raise
    finally:
        try:
            cfg.post_request(worker, req, environ, resp)
        except Exception:
            worker.log.exception("Exception in post_request hook")
    return True
