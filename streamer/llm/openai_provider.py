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
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol

import httpx2  # the SDK's HTTP client; raw body reads raise its errors unwrapped
import openai
import orjson

from ..adapter import iterate_async, loop_local
from ..errors import StreamerError, StreamTimeout, UpstreamError, UpstreamRefused
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
        self._sync_client: openai.OpenAI | None = None

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
        except Exception as exc:
            raise _failure(exc, started) from None

    def relay(self, body: dict[str, Any]) -> Iterator[list[str]]:
        """The upstream's answer to ``body``, sent as it is, relayed as the upstream sent it:
        streamed (``body["stream"]``), per network read the ``data:`` payloads it completed
        (each chunk's JSON text, unparsed), until ``[DONE]``; else the one JSON body. A
        refusal raises :class:`UpstreamRefused` with the upstream's status, message (secrets
        taken out) and ``param``; an ``{"error": ...}`` chunk, a cut body or a body without
        ``[DONE]`` raise :class:`~streamer.errors.UpstreamError`.

        In the calling greenlet, on the SDK's sync client over gevent's sockets: a relayed
        token is one socket read in this worker's hub, with no hand-off between the bridge
        thread and the hub (which is most of a token's cost on the adapter's path; measured
        in bench/bench_chat.py --split). Closing the iterator (the client left: GreenletExit
        thrown into the read) closes the upstream response and so its connection."""
        return self._relay("/chat/completions", body, _Payloads(self._in_band))

    def relay_responses(self, body: dict[str, Any]) -> Iterator[list[str]]:
        """As :meth:`relay`, for the Responses API (``POST /responses``): streamed, per
        network read the SSE events it completed, each as its block's text
        (``event: <type>\ndata: <json>\n\n``, unparsed), until the terminal event
        (``response.completed``, ``.incomplete``, ``.failed`` or ``error``: relayed, the
        upstream's own end); else the one JSON body."""
        return self._relay("/responses", body, _Events())

    def _relay(self, path: str, body: dict[str, Any], payloads: _Feed) -> Iterator[list[str]]:
        client = self._sync()
        started = False
        try:
            response = client.post(path, body=body, cast_to=httpx2.Response, stream=True)
            try:
                chunks = _sync_body(response)
                if not body.get("stream"):
                    yield [_whole_sync(chunks)]
                    return
                for chunk in chunks:
                    batch = payloads.feed(chunk)
                    if batch:
                        started = True
                        yield batch
                    if payloads.done:
                        return
                payloads.end()
            finally:
                response.close()
            raise UpstreamError(
                f"the upstream ended the answer without {payloads.last}",
                type="upstream_incomplete",
            )
        except StreamerError:
            raise
        except openai.APIStatusError as exc:
            raise self._refused(exc) from None
        except Exception as exc:
            raise _failure(exc, started) from None

    def _sync(self) -> openai.OpenAI:
        """The process's sync client (its connection pool is greenlet-safe once gevent has
        patched threading, as the worker does before the app loads)."""
        if self._sync_client is None:
            self._sync_client = openai.OpenAI(
                api_key=self._api_key,
                base_url=self._base_url,
                timeout=self._timeout_s,
                max_retries=self._max_retries,
                http_client=openai.DefaultHttpxClient(
                    limits=httpx2.Limits(
                        max_connections=1000, max_keepalive_connections=100, keepalive_expiry=5.0
                    )
                ),
            )
        return self._sync_client

    def _refused(self, exc: openai.APIStatusError) -> StreamerError:
        """What the upstream refused, with its status and words (secrets out); its 401/403
        (the service's own key), 429 and 5xx as :func:`_status_error` says them."""
        status = exc.status_code
        error = exc.body if isinstance(exc.body, dict) else {}
        if status in (401, 403, 429) or not 400 <= status < 500 or not error:
            return _status_error(exc)
        log.warning("upstream refused the request (%d)", status)
        code, param = error.get("code"), error.get("param")
        return UpstreamRefused(
            self._scrub(
                str(error.get("message") or f"the upstream refused the request ({status})")
            ),
            type=code if isinstance(code, str) and code else "upstream_rejected",
            status=status,
            param=param if isinstance(param, str) else None,
        )

    def _in_band(self, data: str) -> StreamerError:
        """An ``{"error": ...}`` chunk: the upstream failed mid-answer."""
        try:
            error = orjson.loads(data).get("error")
        except Exception:
            error = None
        message = error.get("message") if isinstance(error, dict) else None
        log.warning("upstream sent an error chunk")
        return UpstreamError(
            "the model provider failed mid-answer"
            + (f": {self._scrub(message)}" if isinstance(message, str) and message else ""),
            type="upstream_error",
        )

    def _scrub(self, message: str) -> str:
        """The upstream's message without the service's key (or anything like a key)."""
        if self._api_key:
            message = message.replace(self._api_key, "***")
        return _KEYLIKE.sub("***", message)[:MAX_MESSAGE]


#: What looks like a key in an upstream's message (``sk-...``, ``Bearer ...``).
_KEYLIKE = re.compile(r"(?i)\b(?:sk|pk|rk|key)-[A-Za-z0-9_*.\-]{6,}|bearer\s+\S+")
MAX_MESSAGE = 1000
MAX_WHOLE = 32 * 1024 * 1024  # a stream: false answer's bytes, at most


class _Feed(Protocol):
    """What :meth:`OpenAIProvider._relay` reads a streamed body with: what each network
    chunk completed (``feed``), ``done`` at the upstream's end (named by ``last``), and
    ``end()`` when the body ended before it (raises what the body said, if anything)."""

    done: bool
    last: str

    def feed(self, chunk: bytes) -> list[str]: ...

    def end(self) -> None: ...


class _Payloads:
    """An SSE body's ``data:`` payloads, fed network chunks: ``done`` once ``[DONE]`` came;
    an ``{"error": ...}`` payload raises ``in_band(data)`` (after the payloads before it,
    which ``feed`` returns first, raising at the next call)."""

    last = "[DONE]"

    def __init__(self, in_band: Callable[[str], StreamerError]) -> None:
        self._lines = LineDecoder()
        self._in_band = in_band
        self._error: StreamerError | None = None
        self.done = False

    def feed(self, chunk: bytes) -> list[str]:
        if self._error is not None:
            raise self._error
        batch: list[str] = []
        for line in self._lines.feed(chunk):
            if not line.startswith("data:"):
                continue  # event:, id:, comments, blank lines
            data = line[5:].strip()
            if data == "[DONE]":
                self.done = True
                return batch
            if '"error"' in data[:16]:
                self._error = self._in_band(data)
                if not batch:
                    raise self._error
                return batch
            batch.append(data)
        return batch

    def end(self) -> None:
        """The body ended (without ``[DONE]``): an error payload's error, if one came."""
        if self._error is not None:
            raise self._error


class _Events:
    """A Responses API body's SSE events, fed network chunks, each as its block's text
    (``event:`` line, ``data:`` lines, blank line: as OpenAI writes them); ``done`` after
    the terminal event, which is passed on (a failed response's ``response.failed`` or an
    ``error`` event is the upstream's own in-band end, for the client's SDK to read)."""

    last = "a terminal event"

    def __init__(self) -> None:
        # The terminal event carries the whole response: a line as long as the answer.
        self._lines = LineDecoder(MAX_WHOLE)
        self._event: str | None = None
        self._data: list[str] = []
        self.done = False

    def feed(self, chunk: bytes) -> list[str]:
        batch: list[str] = []
        for line in self._lines.feed(chunk):
            if line.startswith("data:"):
                self._data.append(line[5:].strip())
            elif line.startswith("event:"):
                self._event = line[6:].strip()
            elif not line and self._data:
                name, data = self._event, self._data
                self._event, self._data = None, []
                head = f"event: {name}\n" if name else ""
                batch.append(head + "".join(f"data: {d}\n" for d in data) + "\n")
                if name in RESPONSE_ENDS:
                    self.done = True
                    return batch
            # id:, retry:, comments: not part of an event the client reads
        return batch

    def end(self) -> None:
        pass


#: The events after which a Responses API stream is over (OpenAI sends nothing after them).
RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})


def _sync_body(response: httpx2.Response) -> Iterator[bytes]:
    """The body as its bytes arrive: the transport's own stream (no httpx2 decoding layers),
    unless the body is content-encoded."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity") and isinstance(response.stream, httpx2.SyncByteStream):
        return iter(response.stream)
    return response.iter_bytes()


def _whole_sync(chunks: Iterator[bytes]) -> str:
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_WHOLE:
            raise UpstreamError("the model's answer is too large", type="upstream_error")
        parts.append(chunk)
    return b"".join(parts).decode("utf-8", "replace")


def _failure(exc: Exception, started: bool) -> StreamerError:
    """The upstream's failure (before or after the first token) as the service's error; its
    own words are not passed on (they may quote the upstream)."""
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        log.warning("upstream timeout (after first token: %s)", started)
        return StreamTimeout("the model did not answer in time", type="upstream_timeout")
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError | OSError):
        log.warning("upstream connection failed: %s", type(exc).__name__)
        return UpstreamError(
            "the connection to the model failed" + (" mid-answer" if started else ""),
            type="upstream_disconnected" if started else "upstream_unreachable",
        )
    # httpx2 errors from the raw body (a cut chunked read), JSON errors: the answer broke.
    log.warning("upstream stream failed: %s", type(exc).__name__)
    return UpstreamError(
        "the model's answer broke off" if started else "the model's answer could not be read",
        type="upstream_disconnected" if started else "upstream_error",
    )


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
