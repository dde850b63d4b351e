"""A small asyncio HTTP/1.1 client for many concurrent NDJSON streams
(tests/real/test_scale_out.py).

One coroutine per stream, on raw asyncio connections (TLS or not): it times the first data
record from the moment the request was written, decodes the chunked body itself (so a body
cut without the chunked terminator is seen as such) and the records with the project's
decoder. ``Resumer`` reads a resumable stream like ``EventSource`` does: on a cut or a
``shutdown`` error it reconnects with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streamer.wire.decoders import NDJSONDecoder
from streamer.wire.records import Data, End, Error, Ping, Record


@dataclass
class Gauge:
    """Streams open right now (headers received, body not ended) and the most at once."""

    open: int = 0
    most: int = 0

    def up(self) -> None:
        self.open += 1
        self.most = max(self.most, self.open)

    def down(self) -> None:
        self.open -= 1


@dataclass
class Result:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    first_data_s: float | None = None  # from the request written to the first data record
    terminated: bool = False  # the chunked terminator arrived: the body is complete
    error: str | None = None  # a connection error, if any

    @property
    def data(self) -> list[Data]:
        return [r for r in self.records if isinstance(r, Data)]

    @property
    def terminal(self) -> Record | None:
        last = self.records[-1] if self.records else None
        return None if last is None or isinstance(last, Data) else last


@functools.cache
def tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def fetch(
    url: str,
    headers: dict[str, str] | None = None,
    gauge: Gauge | None = None,
    timeout_s: float = 60.0,
    on_headers: Callable[[Result], None] | None = None,
) -> Result:
    """GET ``url``; read the whole (NDJSON) body as it comes. Never raises for the network.
    ``on_headers(result)`` runs once the status and headers are in."""
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    result = Result()
    counted = False
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(
                parts.hostname, port, ssl=tls_context() if tls else None
            )
            extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
                f"Accept: application/x-ndjson\r\nConnection: close\r\n{extra}\r\n".encode()
            )
            sent = time.monotonic()
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            status_line, *lines = head.split("\r\n")
            result.status = int(status_line.split()[1])
            for line in lines:
                if ":" in line:
                    name, _, value = line.partition(":")
                    result.headers[name.strip().lower()] = value.strip()
            if on_headers is not None:
                on_headers(result)
            if gauge is not None and result.status == 200:
                gauge.up()
                counted = True
            decoder = NDJSONDecoder()
            chunked = result.headers.get("transfer-encoding", "").lower() == "chunked"
            while True:
                if chunked:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        await reader.readuntil(b"\r\n")
                        result.terminated = True
                        break
                    body = (await reader.readexactly(size + 2))[:-2]
                else:
                    body = await reader.read(65536)
                    if not body:
                        result.terminated = True
                        break
                for record in decoder.feed(body):
                    if isinstance(record, Ping):
                        continue
                    if isinstance(record, Data) and result.first_data_s is None:
                        result.first_data_s = time.monotonic() - sent
                    result.records.append(record)
    except (
        OSError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ValueError,
        TimeoutError,
    ) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if counted and gauge is not None:
            gauge.down()
        if writer is not None:
            # No TLS goodbye (the body is read, or broken): close at once, and let the loop
            # run the transport's close callbacks before asyncio.run() ends.
            writer.transport.abort()
            await asyncio.sleep(0)
    return result


@dataclass
class Resumer:
    """Reads one resumable stream to its terminal record, reconnecting like EventSource."""

    base: str  # e.g. https://127.0.0.1:8443
    stream_id: str
    records: list[Record] = field(default_factory=list)
    connections: int = 0
    statuses: list[int] = field(default_factory=list)  # of every connection, for messages
    terminal_at: float | None = None  # monotonic time the terminal record arrived

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.records if isinstance(r, Data)]

    @property
    def terminal(self) -> Record | None:
        last = self.records[-1] if self.records else None
        return None if last is None or isinstance(last, Data) else last

    async def run(self, first: Result | None = None, deadline_s: float = 60.0) -> None:
        """Carry on from ``first`` (the response that started the stream), if given."""
        stop = time.monotonic() + deadline_s
        result = first
        while True:
            if result is not None:
                self.connections += 1
                self.statuses.append(result.status)
                # A ``shutdown`` error ends this connection, not the stream: reconnect.
                for record in result.records:
                    if isinstance(record, Error) and record.type == "shutdown":
                        break
                    self.records.append(record)
                    if isinstance(record, End | Error):
                        self.terminal_at = time.monotonic()
                        return
            if time.monotonic() > stop:
                return
            if result is not None and result.status not in (0, 200):
                await asyncio.sleep(0.2)  # e.g. a 503 while an instance restarts
            last = self.ids[-1] if self.ids else 0
            result = await fetch(
                f"{self.base}/streams/{self.stream_id}?format=ndjson",
                headers={"Last-Event-ID": str(last)},
                timeout_s=max(1.0, stop - time.monotonic()),
            )
