"""An httpcore network backend on plain asyncio protocols, for the OpenAI SDK's HTTP client.

Why: at chat rates each token is its own network read, and with httpcore's default (anyio)
backend every read enters a cancel scope (``anyio.fail_after``) and resumes, then pauses, the
transport's reading, which registers the socket with the bridge loop's selector and removes it
again: ~25 µs of the bridge thread's CPU per read (py-spy, 100 streams x 50 tokens/s; M7 in
bench/bench_chat.py). Here the protocol keeps reading into a buffer (pausing only above a
high-water mark, for backpressure), a read that finds data returns it without awaiting, and the
read timeout is one lazily re-armed timer per connection instead of a timer per read.

Semantics follow httpcore's anyio backend: ``read()`` returns up to ``max_bytes`` (``b""`` at
EOF), raises ``ReadError`` when the connection broke and ``ReadTimeout`` after ``timeout``
seconds without data; connect errors are ``ConnectError`` / ``ConnectTimeout``; writes wait for
the transport to drain (``WriteTimeout``, ``WriteError``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import gevent.monkey
import httpcore2
from httpcore2 import (
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    WriteError,
    WriteTimeout,
)

from .._compat.httpcore import is_socket_readable

# The socket class before gevent's patching (the same class when unpatched).
_RealSocket: type[socket.socket] = gevent.monkey.get_original("socket", "socket")
_getaddrinfo = gevent.monkey.get_original("socket", "getaddrinfo")  # no resolver thread

_READ_SIZE = 64 * 1024  # bytes per recv_into
_HIGH = 256 * 1024  # pause reading above this many buffered bytes...
_LOW = 64 * 1024  # ...and resume at or below this


class _Protocol(asyncio.BufferedProtocol):
    """Reads into one reused buffer (``recv_into``): a plain Protocol gets a fresh bytes object
    from ``sock.recv(256 KiB)`` per read, allocated at full size and then shrunk."""

    def __init__(self) -> None:
        self._buffer = bytearray(_READ_SIZE)
        self._view = memoryview(self._buffer)
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.eof = False
        self.exc: BaseException | None = None
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None  # a read waiting for data
        self.write_paused = False
        self.drain: asyncio.Future[None] | None = None  # a write waiting for the buffer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._view[:nbytes]))

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > _HIGH and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.exc = exc
        self._wake()
        self.write_paused = False
        drain = self.drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drain = self.drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Stream(httpcore2.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._p = protocol
        self._loop = asyncio.get_running_loop()
        # The read timeout: one timer, re-armed only when it fires before the read deadline
        # (deadlines only move later), instead of a timer per read.
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        p = self._p
        while not p.chunks:
            if p.eof:
                if p.exc is not None:
                    raise ReadError(str(p.exc) or type(p.exc).__name__) from p.exc
                return b""
            await self._wait_data(timeout)
        data = p.chunks.popleft()
        if len(data) > max_bytes:
            p.chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        p.size -= len(data)
        if p.paused and p.size <= _LOW:
            p.paused = False
            self._transport.resume_reading()
        return data

    async def _wait_data(self, timeout: float | None) -> None:
        waiter = self._p.waiter = self._loop.create_future()
        if timeout is not None:
            self._deadline = self._loop.time() + timeout
            if self._timer is None:
                self._timer = self._loop.call_at(self._deadline, self._on_timer)
        try:
            await waiter
        finally:
            self._p.waiter = None

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._p.waiter
        if waiter is None or waiter.done():
            return  # no read waiting: the next wait arms a new timer
        if self._loop.time() >= self._deadline:
            waiter.set_exception(ReadTimeout("timed out waiting for data"))
        else:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        p = self._p
        if (p.eof and p.exc is not None) or self._transport.is_closing():
            raise WriteError("the connection is closed")
        self._transport.write(buffer)
        if p.write_paused:
            drain = p.drain = self._loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await drain
            except TimeoutError:
                raise WriteTimeout("timed out writing") from None
            finally:
                p.drain = None
            if p.exc is not None:
                raise WriteError(str(p.exc)) from p.exc

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                transport = await self._loop.start_tls(
                    self._transport, self._p, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.close()
            raise ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise ConnectError(str(exc)) from exc
        assert transport is not None
        self._p.transport = transport
        return _Stream(transport, self._p)

    def get_extra_info(self, info: str) -> Any:
        t = self._transport
        if info == "ssl_object":
            return t.get_extra_info("ssl_object")
        if info == "client_addr":
            return t.get_extra_info("sockname")
        if info == "server_addr":
            return t.get_extra_info("peername")
        if info == "socket":
            return t.get_extra_info("socket")
        if info == "is_readable":
            # Data or EOF already read into our buffer count too: an idle keep-alive connection
            # that the server closed must not be reused.
            p = self._p
            return (
                p.eof
                or bool(p.chunks)
                or t.is_closing()
                or is_socket_readable(t.get_extra_info("socket"))
            )
        return None


async def _connect(
    loop: asyncio.AbstractEventLoop, host: str, port: int, local_address: str | None
) -> socket.socket:
    """A connected non-blocking socket of the *original* socket class: under gevent's patching
    ``socket.socket`` is gevent's, whose ``recv`` is a Python wrapper (~6 µs per read here);
    the loop only needs a non-blocking socket. Addresses are tried in getaddrinfo's order."""
    try:
        # An address literal needs no lookup; loop.getaddrinfo would queue it behind the
        # loop's default executor (6 workers here), which delayed 200 concurrent connects by
        # up to 1.3 s (tests/test_chat_openai.py). create_connection has this shortcut too.
        infos = _getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError | None = None
    for family, type_, proto, _, address in infos:
        sock = _RealSocket(family, type_, proto)
        try:
            sock.setblocking(False)
            if family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if local_address:
                sock.bind((local_address, 0))
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
        except BaseException:
            sock.close()
            raise
    raise error or OSError(f"no address for {host}")


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    """httpcore's network backend on asyncio protocols; see the module docstring."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                sock = await _connect(loop, host, port, local_address)
                transport, protocol = await loop.create_connection(_Protocol, sock=sock)
        except TimeoutError:
            raise ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise ConnectError(str(exc)) from exc
        return self._stream(transport, protocol, socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_unix_connection(_Protocol, path)
        except TimeoutError:
            raise ConnectTimeout(f"timed out connecting to {path}") from None
        except OSError as exc:
            raise ConnectError(str(exc)) from exc
        return self._stream(transport, protocol, socket_options)

    @staticmethod
    def _stream(
        transport: asyncio.BaseTransport,
        protocol: asyncio.BaseProtocol,
        socket_options: Iterable[Any] | None,
    ) -> _Stream:
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return _Stream(transport, protocol)  # type: ignore[arg-type]

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
