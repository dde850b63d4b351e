"""The OpenAI chat provider: the SDK's ``AsyncOpenAI``, bridged by :mod:`streamer.adapter`.

The SDK does what it is good at (auth, base URL, retries before the answer starts, typed
errors for a failed open); the per-token path does not use it. Building the SDK's pydantic
chunk objects costs about 270 µs of CPU per token on this stack, so the request goes through
the SDK's public ``client.post()`` (no per-request transform of the messages, ~1 ms) and
comes back unread; its body is read as our transport delivers it (``raw_body``, without
httpx2's and the SDK's layers of iterators) and each ``data:`` line is parsed with orjson and
our own line decoder. Tokens then cost a few µs each.

Each chunk dict goes to :class:`~.openai_events.ChatAnswer`, the state machine
:func:`~.openai_events.chat_events` runs over the SDK's objects, so both speak the same
events (the protocol of :class:`streamer.llm.ChatProvider`): ``content``, ``refusal``,
``reasoning_content``/``reasoning`` and ``tool_calls`` deltas, then the ``usage`` (asked for
with ``include_usage``; it comes in a chunk *after* the one with ``finish_reason``, so the
finish is held until ``[DONE]``), then one ``Finish``. ``[DONE]`` proves the answer complete:
an upstream that sent no ``finish_reason`` before it finishes with ``stop``; a body that ends
without it is ``upstream_incomplete``.

Each request opens its own upstream stream; one client per event loop (a client shared across
loops fails with "Event loop is closed"). Closing the sync iterator (the client left) cancels
the task, which closes the upstream HTTP response and so its connection.

Errors are mapped to the service's own, and the upstream's message is never passed on: an
OpenAI 401 message quotes part of the key.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2  # the SDK's HTTP client; raw body reads raise its errors unwrapped
import openai
import orjson

from ..adapter import iterate_async, loop_local
from ..errors import StreamerError, StreamTimeout, UpstreamError
from ..wire.decoders import LineDecoder
from ._transport import AsyncioTransport, raw_body
from .events import AnswerEvent
from .openai_events import ChatAnswer
from .request import ChatRequest

log = logging.getLogger("streamer.chat")


class OpenAIProvider:
    name = "openai"

    def __init__(
        self, api_key: str, base_url: str | None, timeout_s: float, max_retries: int
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._client_key = f"openai-client-{id(self)}"

    def _client(self) -> openai.AsyncOpenAI:
        # Reads without anyio's per-read cancel scope and selector churn (see _asyncio_net),
        # through the SDK's public http_client= and httpx2's public transport interface. The
        # limits are the SDK's own defaults (DefaultAsyncHttpxClient's).
        http_client = openai.DefaultAsyncHttpxClient(
            transport=AsyncioTransport(
                limits=httpx2.Limits(
                    max_connections=1000, max_keepalive_connections=100, keepalive_expiry=5.0
                )
            )
        )
        return openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self._base_url,
            timeout=self._timeout_s,
            max_retries=self._max_retries,
            http_client=http_client,
        )

    def stream(self, request: ChatRequest) -> Iterator[AnswerEvent]:
        with iterate_async(lambda: self._events(request), buffer=64) as batches:
            for batch in batches:
                yield from batch

    async def _events(self, request: ChatRequest) -> AsyncIterator[list[AnswerEvent]]:
        """Per network chunk, the events it completed. One adapter hand-off per chunk, not
        per token (a hand-off costs more than parsing a token); still one record per token."""
        client = loop_local(self._client_key, self._client)
        started = False
        try:
            # The SDK's public request method (retries, auth, typed errors for a failed open)
            # rather than chat.completions.create(): create() walks the validated messages
            # through the SDK's TypedDict transform, ~1 ms of CPU per stream. cast_to=Response
            # and stream=True: the response comes back unread.
            response = await client.post(
                "/chat/completions", body=_body(request), cast_to=httpx2.Response, stream=True
            )
            try:
                lines = LineDecoder()
                answer = ChatAnswer()
                async with contextlib.aclosing(raw_body(response)) as body:
                    async for chunk in body:
                        batch: list[AnswerEvent] = []
                        for line in lines.feed(chunk):
                            if not line.startswith("data:"):
                                continue  # event:, id:, comments, blank lines
                            data = line[5:].strip()
                            if data == "[DONE]":
                                batch += answer.end("stop")
                                yield batch
                                return
                            try:
                                obj = orjson.loads(data)
                                if isinstance(obj, dict):
                                    batch += answer.feed(obj)
                            except Exception:
                                if batch:  # what came before the bad line goes out first
                                    started = True
                                    yield batch
                                raise
                        if batch:
                            started = True
                            yield batch
            finally:
                await response.aclose()
            raise UpstreamError(
                "the upstream ended the answer without [DONE]", type="upstream_incomplete"
            )
        except StreamerError:
            raise
        except openai.APIStatusError as exc:
            raise _status_error(exc) from None
        except (openai.APITimeoutError, httpx2.TimeoutException):
            log.warning("upstream timeout (after first token: %s)", started)
            raise StreamTimeout(
                "the model did not answer in time", type="upstream_timeout"
            ) from None
        except (openai.APIConnectionError, httpx2.TransportError, OSError) as exc:
            log.warning("upstream connection failed: %s", type(exc).__name__)
            raise UpstreamError(
                "the connection to the model failed" + (" mid-answer" if started else ""),
                type="upstream_disconnected" if started else "upstream_unreachable",
            ) from None
        except Exception as exc:
            # httpx2 errors from the raw body (a cut chunked read), JSON errors: the answer
            # broke; say so without the details, which may quote the upstream.
            log.warning("upstream stream failed: %s", type(exc).__name__)
            raise UpstreamError(
                "the model's answer broke off"
                if started
                else "the model's answer could not be read",
                type="upstream_disconnected" if started else "upstream_error",
            ) from None


def _body(request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": list(request.messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    body.update(request.sampling)  # validated by the service; OpenAI's own names
    if request.tools:
        body["tools"] = list(request.tools)
        body.update(request.tool_options)
    return body


def _status_error(exc: openai.APIStatusError) -> StreamerError:
    status = exc.status_code
    log.warning("upstream answered %d", status)
    if status in (401, 403):
        return UpstreamError(
            "the model provider rejected the service's credentials", type="upstream_auth"
        )
    if status == 429:
        retry = exc.response.headers.get("retry-after")
        try:
            retry_after = float(retry) if retry is not None else None
        except ValueError:
            retry_after = None
        return StreamerError(
            "the model provider is rate limiting this service; retry later",
            type="upstream_rate_limited",
            status=429,
            retry_after=retry_after,
        )
    if status in (400, 404, 422):
        return UpstreamError(
            f"the model provider refused the request ({status})", type="upstream_rejected"
        )
    return UpstreamError(f"the model provider failed ({status})", type="upstream_error")
