"""Tests of streamer.llm._asyncio_net, the httpcore network backend on asyncio protocols.

Real loopback sockets, plain asyncio (this process is not patched); the provider's use of it
against the fake OpenAI upstream is covered by tests/real/test_chat_openai.py. Every test has a
deadline.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import httpcore2
import pytest

from streamer.llm._asyncio_net import _HIGH, AsyncioBackend

DEADLINE = 20.0

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), DEADLINE))


async def serve(handler: Handler) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()  # also when cancelled at the end of the test

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_reads_what_the_peer_writes_then_eof() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readexactly(5)
        writer.write(data.upper() + b" world")
        await writer.drain()
        writer.close()

    async def test() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            await stream.write(b"hello", timeout=5)
            got = b""
            while chunk := await stream.read(4, timeout=5):  # max_bytes is honoured
                assert len(chunk) <= 4
                got += chunk
            assert got == b"HELLO world"
            assert stream.get_extra_info("is_readable") is True  # EOF: not reusable
            assert stream.get_extra_info("server_addr")[1] == port
            await stream.aclose()
            await asyncio.sleep(0.05)  # the handler sees the close and ends

    run(test)


def test_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # silent until the client leaves
        writer.close()

    async def test() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            assert stream.get_extra_info("is_readable") is False  # idle, open
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(httpcore2.ReadTimeout):
                await stream.read(100, timeout=0.2)
            assert 0.15 < loop.time() - started < 2.0
            await stream.aclose()
            await asyncio.sleep(0.05)  # the handler sees the close and ends

    run(test)


def test_timer_is_rearmed_for_later_reads() -> None:
    """One timer per connection: a read that starts after earlier ones still gets its full
    timeout, not what was left of the first one's."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):
            await asyncio.sleep(0.15)
            writer.write(b"x")
            await writer.drain()
        await reader.read()  # then silent until the client leaves
        writer.close()

    async def test() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            for _ in range(3):  # each waits 0.15 s of a 0.25 s timeout: 0.45 s in all
                assert await stream.read(10, timeout=0.25) == b"x"
            with pytest.raises(httpcore2.ReadTimeout):
                await stream.read(10, timeout=0.25)
            await stream.aclose()
            await asyncio.sleep(0.05)  # the handler sees the close and ends

    run(test)


def test_backpressure_pauses_and_resumes_reading() -> None:
    size = 4 * _HIGH

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"y" * size)
        await writer.drain()
        writer.close()

    async def test() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            await asyncio.sleep(0.2)  # let the peer fill our buffer past the high-water mark
            got = 0
            while chunk := await stream.read(65536, timeout=5):
                got += len(chunk)
            assert got == size
            await stream.aclose()
            await asyncio.sleep(0.05)  # the handler sees the close and ends

    run(test)


def test_peer_reset_is_a_read_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # linger 0: the close sends RST

    async def test() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            try:
                assert await stream.read(10, timeout=5) == b""  # or a reset: both end it
            except httpcore2.ReadError:
                pass
            await stream.aclose()
            await asyncio.sleep(0.05)  # the handler sees the close and ends

    run(test)


def test_connect_refused_is_a_connect_error() -> None:
    async def test() -> None:
        server, port = await serve(lambda r, w: asyncio.sleep(0))
        server.close()
        await server.wait_closed()
        with pytest.raises(httpcore2.ConnectError):
            await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)

    run(test)


def test_the_sdk_client_reads_through_the_asyncio_backend() -> None:
    from streamer.llm._transport import AsyncioTransport
    from streamer.llm.openai_provider import OpenAIProvider

    provider = OpenAIProvider(
        api_key="sk-test", base_url="http://127.0.0.1:9/v1", timeout_s=5, max_retries=0
    )
    transport = provider._client()._client._transport
    assert isinstance(transport, AsyncioTransport)
    assert isinstance(transport._pool._network_backend, AsyncioBackend)
