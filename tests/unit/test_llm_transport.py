"""Fast tier: the public httpx2 transport on streamer's asyncio backend (streamer.llm._transport),
which the OpenAI SDK gets as ``http_client=``: bodies stream piece by piece, and httpcore2's
errors arrive as the httpx2 ones the SDK maps to its own."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import httpx2
import openai
import pytest

from streamer.llm._transport import AsyncioTransport, raw_body

from ..ports import free_port


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


async def _server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_a_chunked_body_streams_before_it_ends() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()  # the second piece only after the client saw the first
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def test() -> None:
        server, port = await _server(handler)
        async with (
            server,
            httpx2.AsyncClient(transport=AsyncioTransport()) as client,
            client.stream("GET", f"http://127.0.0.1:{port}/") as response,
        ):
            pieces = []
            async for piece in response.aiter_raw():
                pieces.append(piece)
                release.set()
            assert response.status_code == 200 and b"".join(pieces) == b"firstsecond"
            assert pieces[0] == b"first"

    run(test)


def test_errors_are_httpx_errors_and_the_sdk_maps_them() -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never answers

    async def test() -> None:
        refused = free_port()
        async with httpx2.AsyncClient(transport=AsyncioTransport()) as client:
            with pytest.raises(httpx2.ConnectError):
                await client.get(f"http://127.0.0.1:{refused}/")
            server, port = await _server(silent)
            async with server:
                with pytest.raises(httpx2.ReadTimeout):
                    await client.get(f"http://127.0.0.1:{port}/", timeout=0.2)
                for writer in held:
                    writer.close()
                    await writer.wait_closed()
        sdk = openai.AsyncOpenAI(
            api_key="sk-test",
            base_url=f"http://127.0.0.1:{refused}/v1",
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(transport=AsyncioTransport()),
        )
        async with sdk:
            with pytest.raises(openai.APIConnectionError):
                await sdk.models.list()

    run(test)


def test_raw_body_reads_our_stream_and_leaves_encoded_bodies_to_httpx() -> None:
    gzipped = gzip.compress(b"data: hi\n\n")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        encoded = b"GET /gz " in head
        body = gzipped if encoded else b"data: hi\n\n"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s"
            % (len(body), b"Content-Encoding: gzip\r\n" if encoded else b"", body)
        )
        await writer.drain()
        writer.close()

    async def read(client: httpx2.AsyncClient, url: str) -> tuple[bytes, bool]:
        async with client.stream("GET", url) as response:
            body = raw_body(response)  # ours: our transport's stream, not httpx2's iterators
            ours = body.ag_code.co_qualname == "_ResponseStream.__aiter__"  # type: ignore[attr-defined]
            return b"".join([piece async for piece in body]), ours

    async def test() -> None:
        server, port = await _server(handler)
        async with server, httpx2.AsyncClient(transport=AsyncioTransport()) as client:
            assert await read(client, f"http://127.0.0.1:{port}/") == (b"data: hi\n\n", True)
            # Content-encoded: httpx2's decoder is needed, so raw_body falls back to it.
            assert await read(client, f"http://127.0.0.1:{port}/gz") == (b"data: hi\n\n", False)
        server, port = await _server(handler)
        async with server, httpx2.AsyncClient() as plain:  # httpx2's own transport
            assert await read(plain, f"http://127.0.0.1:{port}/") == (b"data: hi\n\n", False)

    run(test)
