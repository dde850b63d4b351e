"""An ``httpx2`` transport on :class:`~streamer.llm._asyncio_net.AsyncioBackend`, built from
public APIs only, for the OpenAI SDK's ``http_client=``.

httpx2's own ``AsyncHTTPTransport`` has no parameter for httpcore2's network backend, so
this is the few lines it runs per request, over a public ``httpcore2.AsyncConnectionPool``
made with ``network_backend=``: the request converted to httpcore2's, the response and its
stream converted back, and httpcore2's exceptions raised as httpx2's (which the SDK turns
into ``APIConnectionError`` / ``APITimeoutError``). No proxy: with ``trust_env`` the client
still mounts httpx2's own proxy transports for the URLs a proxy variable names.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore2
import httpx2

from ._asyncio_net import AsyncioBackend

#: The response extension that holds the body as this transport made it (httpcore2's stream,
#: errors raised as httpx2's, not content-decoded): :func:`raw_body` reads it.
_RAW_BODY = "streamer.raw_body"

# httpcore2's public exceptions and the httpx2 ones they become, most specific first.
_ERRORS: tuple[tuple[type[Exception], type[httpx2.HTTPError]], ...] = (
    (httpcore2.ConnectTimeout, httpx2.ConnectTimeout),
    (httpcore2.ReadTimeout, httpx2.ReadTimeout),
    (httpcore2.WriteTimeout, httpx2.WriteTimeout),
    (httpcore2.PoolTimeout, httpx2.PoolTimeout),
    (httpcore2.TimeoutException, httpx2.TimeoutException),
    (httpcore2.ConnectError, httpx2.ConnectError),
    (httpcore2.ReadError, httpx2.ReadError),
    (httpcore2.WriteError, httpx2.WriteError),
    (httpcore2.NetworkError, httpx2.NetworkError),
    (httpcore2.ProxyError, httpx2.ProxyError),
    (httpcore2.UnsupportedProtocol, httpx2.UnsupportedProtocol),
    (httpcore2.LocalProtocolError, httpx2.LocalProtocolError),
    (httpcore2.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpcore2.ProtocolError, httpx2.ProtocolError),
)


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


class _ResponseStream(httpx2.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class AsyncioTransport(httpx2.AsyncBaseTransport):
    """``httpx2.AsyncClient(transport=AsyncioTransport())``: HTTP/1.1 over
    :class:`AsyncioBackend`."""

    def __init__(
        self, *, limits: httpx2.Limits | None = None, verify: Any = True, trust_env: bool = True
    ) -> None:
        limits = limits or httpx2.Limits(
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0
        )
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(verify=verify, trust_env=trust_env),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncioBackend(),
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        assert isinstance(request.stream, httpx2.AsyncByteStream)
        url = request.url
        core = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core)
        assert isinstance(response.stream, AsyncIterable)
        stream = _ResponseStream(response.stream)
        return httpx2.Response(
            status_code=response.status,
            headers=response.headers,
            stream=stream,
            extensions={**response.extensions, _RAW_BODY: stream},
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def raw_body(response: httpx2.Response) -> AsyncGenerator[bytes, None]:
    """The body of ``response`` as its bytes arrive, without httpx2's and the SDK's layers of
    async generators on top (~4 per network read, a few µs each: at chat rates a read is a
    token). Falls back to ``aiter_bytes()`` for another transport's response or a
    content-encoded one (which needs httpx2's decoder). Close it (``aclosing``), then the
    response."""
    stream = response.extensions.get(_RAW_BODY)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if stream is None or encoding not in ("", "identity"):
        return response.aiter_bytes()
    return stream.__aiter__()  # type: ignore[no-any-return]
