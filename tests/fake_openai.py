"""A protocol-accurate fake of the OpenAI chat completions API, served on a loopback port.

Tests start it in their own process; the real ``openai`` SDK (or the service under test, in
another process, with ``OPENAI_BASE_URL=server.base_url``) talks to it over real sockets::

    with FakeOpenAI(api_key="sk-test") as server:
        client = OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        stream = client.chat.completions.create(
            model=fake_model(tokens=5, delay=0.02),
            messages=[{"role": "user", "content": "hello there"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        ...
        record = server.wait_requests(1, timeout=5)[0]
        record.wait_closed(timeout=5)

Endpoints: ``POST /v1/chat/completions`` (streamed and not), ``POST /v1/responses`` (streamed
and not; see "The Responses API" below), ``GET /v1/models``, ``GET /v1/models/<id>``, and
``GET /_fake/requests`` (the records as JSON, no auth).

The wire format of a streamed answer, as the real API sends it (HTTP/1.1, chunked, no
Content-Length, one SSE event per HTTP chunk, compact UTF-8 JSON)::

    data: {"id":"chatcmpl-..","object":"chat.completion.chunk","created":..,"model":"fake",
           "service_tier":"default","system_fingerprint":"fp_..","choices":[{"index":0,
           "delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,
           "finish_reason":null}],"usage":null,"obfuscation":".."}
    data: {... "choices":[{"index":0,"delta":{"content":"hello"},"logprobs":null,
           "finish_reason":null}] ...}                       (one per token)
    data: {... "choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}] ...}
    data: {... "choices":[],"usage":{"prompt_tokens":..,...}}   (only with include_usage)
    data: [DONE]

``"usage": null`` appears on every chunk only when ``stream_options.include_usage`` is true;
``obfuscation`` is present unless ``stream_options.include_obfuscation`` is false (as in the
real API; here it is deterministic padding). ``finish_reason`` is ``"length"`` when
``max_tokens``/``max_completion_tokens`` cut the reply.

The reply
---------
Deterministic from the request: the words of the last user message (split on whitespace),
echoed back as tokens, the first bare and every further one with a leading space, like real
BPE tokens (``"hello"``, ``" there"``). With ``tokens=N`` the words are cycled (or cut) to N
tokens; an empty message uses lorem ipsum words. :func:`expected_reply` computes it.

Scenarios: directives in the ``model`` field
--------------------------------------------
``model`` is ``NAME`` or ``NAME?OPTIONS`` with OPTIONS in URL query syntax, e.g.
``fake?tokens=50&delay=0.02`` or ``fake?fail=429&retry_after=7``. NAME is echoed back as the
chunks' ``model``. Each request carries its own scenario, so concurrent tests never interfere.
Unknown options or bad values are a 400 (so typos fail loudly). :func:`fake_model` builds it.

==============  ==============================================================================
option          meaning
==============  ==============================================================================
tokens=N        reply length in tokens (default: the last user message's word count)
delay=S         seconds between content tokens, on a fixed grid (token k is due k x S after the
                role chunk: no drift); default: the server's ``delay``
fail=STATUS     answer with that HTTP status and the real API's error JSON instead (401, 403,
                404, 429, 500, 503, any 400-599); 429 carries ``retry-after`` and
                ``x-ratelimit-*`` headers
retry_after=V   the ``retry-after`` header value for ``fail`` (default ``1`` for 429)
cut=K           stream: send the role chunk and K content tokens, then close the socket
                (FIN) without the chunked terminator, ``[DONE]`` or a finish chunk
error=K         stream: after K tokens send an in-band ``data: {"error": {...}}`` event (as
                the real API does for a failure mid-generation), then end the body
hang=WHERE      ``before_headers``: read the request, send nothing (the real API sends its
                200 only when generation starts); ``after_headers``: send the 200 headers of
                the stream, then nothing (a model silent before its first token)
hang_s=S        end the hang after S seconds and go on normally (default: hang until the
                client leaves or the server stops)
hold=NAME       stream: after the first content token, wait until the test calls
                ``server.release(NAME)`` (or the client leaves); the grid of ``delay``
                starts again there
tool_calls=N    call the request's ``tools`` N times in parallel instead of answering in text
                (cycling through them; arguments ``{"<key>": "<last user text>"}``, the key
                the tool's first ``parameters`` property, else ``query``); streamed
                as the real API does: each call's first fragment carries ``index``, ``id``,
                ``type`` and ``function.name`` (and the first one the role), then its
                ``function.arguments`` in pieces, one call after the other; ``finish_reason``
                ``"tool_calls"``. A 400 when the request has no ``tools``. Chat: when the last
                message is a ``tool`` result, the answer is text, as a model's that has what
                it asked for (an app's tool loop then ends)
future=1        chat: fields the SDKs do not know yet on every chunk, choice and delta
                (``x_future``, with a number only a re-serialization would change);
                responses: the same on every event and on the whole response
==============  ==============================================================================

Chat honours ``n`` (one chunk per choice and token, ``index`` set; a whole answer has n
choices), ``logprobs`` / ``top_logprobs`` (each content token's ``logprobs.content`` entry)
and ``response_format`` ``json_object`` / ``json_schema`` (the reply becomes the JSON object
``{"answer": "<reply>"}``, streamed in pieces). ``record.sent`` holds each data payload of a
streamed chat answer as sent (or the whole JSON body of one that is not), for tests that
compare what a client got with what the upstream sent; for ``/v1/responses``, each event's
data payload (or the whole response).

What the ``openai`` SDK (3.54, ``max_retries=0``) raises for each scenario, as tested:
``fail=401`` or a wrong key: ``AuthenticationError``; ``fail=429``: ``RateLimitError``
(``e.response.headers["retry-after"]``); ``fail=500``: ``InternalServerError``; ``cut=K``:
``APIConnectionError`` from the stream iteration, caused by ``httpx2.RemoteProtocolError``
("incomplete chunked read"); ``error=K``: plain ``APIError`` from the iteration; a hang with a
client timeout: ``APITimeoutError`` (from ``create()`` for ``before_headers``, from the
iteration for ``after_headers``). The SDK retries 429, 5xx and connection errors by default.

The Responses API
-----------------
``POST /v1/responses`` with ``stream: true`` answers with named SSE events, each with a
``sequence_number`` counting from 0, as the real API sends them::

    event: response.created           {"response": {... "status":"in_progress","output":[]}}
    event: response.in_progress
    event: response.output_item.added {"output_index":0,"item":{"type":"message",..}}
    event: response.content_part.added
    event: response.output_text.delta {"item_id":"msg_..","delta":"hello",..}   (per token)
    event: response.output_text.done
    event: response.content_part.done
    event: response.output_item.done
    event: response.completed         {"response": {... "output":[..],"usage":{..}}}

No ``[DONE]``. The reply is the one of the chat endpoint for the last user text of ``input`` (a
string or a list of messages). ``tool_calls=N`` gives ``function_call`` items instead
(``output_item.added``, ``function_call_arguments.delta`` per piece, ``.done``,
``output_item.done``); ``max_output_tokens`` below the reply's length ends with
``response.incomplete`` (``incomplete_details.reason: "max_output_tokens"``); ``error=K``
sends ``response.failed`` (``error.code: "server_error"``) after K tokens. ``tokens``,
``delay``, ``fail``, ``cut``, ``hang=before_headers`` and ``hold`` work as for chat.

Auth: every ``/v1`` request needs ``Authorization: Bearer <key>``. With ``api_key=None`` any
non-empty key is accepted. A missing key or a wrong one gets the real 401 bodies.

Observability
-------------
``server.requests`` is a snapshot list of :class:`FakeRequest` records, one per HTTP request,
mutated live by the server thread. Times are ``time.monotonic()`` of this process, so tests
compare them with their own ``time.monotonic()`` readings. The peer closing its connection
(FIN or RST) is seen by an event-driven protocol callback (``eof_received``/``connection_lost``),
also while the server is idle, hanging or sleeping between tokens, and stamped at once on the
connection's current request as ``closed_at``/``closed_by="client"``; the request's generation
then stops. Wait helpers: :meth:`FakeOpenAI.wait_for`, :meth:`FakeOpenAI.wait_requests`,
:meth:`FakeRequest.wait_closed`, :meth:`FakeRequest.wait_tokens`. Unexpected exceptions inside
the server are collected in ``server.errors`` (tests should assert it stays empty).

Divergences from the real API, on purpose: HTTP/1.1 only (no TLS, no HTTP/2); a client that
half-closes its socket (``shutdown(SHUT_WR)``) counts as gone; audio is ignored (and ``n``
and logprobs by the Responses API), and ``tools`` are called only in the ``tool_calls``
scenario; ``model`` in the answer is the NAME part, not a dated snapshot.
The server runs an asyncio loop in a real OS thread: start it in a process that gevent has not
monkey-patched.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode

__all__ = [
    "FakeOpenAI",
    "FakeRequest",
    "Scenario",
    "expected_reply",
    "fake_model",
    "reply_tokens",
]

T = TypeVar("T")

SYSTEM_FINGERPRINT = "fp_f4ke0c0ffe"
LOREM = [
    *("Lorem", "ipsum", "dolor", "sit", "amet,", "consectetur", "adipiscing", "elit,", "sed"),
    *("do", "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua."),
]
_WORDS = re.compile(r"\S+")
_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
_HANG_MODES = ("before_headers", "after_headers")


# --- scenarios -------------------------------------------------------------------------------


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be >= 0")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise ValueError("must be a finite number >= 0")
    return number


def _status(value: str) -> int:
    number = int(value)
    if not 400 <= number <= 599:
        raise ValueError("must be an HTTP error status, 400-599")
    return number


def _hang(value: str) -> str:
    if value not in _HANG_MODES:
        raise ValueError(f"must be one of {', '.join(_HANG_MODES)}")
    return value


_OPTIONS: dict[str, Callable[[str], Any]] = {
    "tokens": _count,
    "delay": _seconds,
    "fail": _status,
    "retry_after": str,
    "cut": _count,
    "error": _count,
    "hang": _hang,
    "hang_s": _seconds,
    "hold": str,
    "tool_calls": _count,
    "future": _count,
}


@dataclass(frozen=True)
class Scenario:
    """What one request asks the fake to do, parsed from its ``model`` field."""

    name: str = "fake"
    tokens: int | None = None
    delay: float | None = None
    fail: int | None = None
    retry_after: str | None = None
    cut: int | None = None
    error: int | None = None
    hang: str | None = None
    hang_s: float | None = None
    hold: str | None = None
    tool_calls: int | None = None
    future: int | None = None

    @classmethod
    def parse(cls, model: str) -> Scenario:
        """Parse ``NAME`` or ``NAME?opt=value&...``; raises ``ValueError`` naming the option."""
        name, sep, query = model.partition("?")
        if not sep:
            return cls(name=model)
        options: dict[str, Any] = {}
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError as exc:
            raise ValueError(f"bad fake scenario {query!r}: {exc}") from None
        for key, value in pairs:
            convert = _OPTIONS.get(key)
            if convert is None:
                raise ValueError(f"unknown fake option {key!r}; known: {', '.join(_OPTIONS)}")
            try:
                options[key] = convert(value)
            except ValueError as exc:
                raise ValueError(f"bad value for fake option {key}={value!r}: {exc}") from None
        return cls(name=name, **options)


def fake_model(name: str = "fake", **options: object) -> str:
    """The ``model`` string for a scenario: ``fake_model(tokens=5, fail=429)``.

    Options set to ``None`` are left out; the result is validated by :meth:`Scenario.parse`.
    """
    given = {key: value for key, value in options.items() if value is not None}
    model = f"{name}?{urlencode(given)}" if given else name
    Scenario.parse(model)
    return model


# --- the deterministic reply -----------------------------------------------------------------


def _message_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}, ...]
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _last_user_text(messages: Iterable[object]) -> str:
    for message in reversed(list(messages)):
        if isinstance(message, dict) and message.get("role") == "user":
            return _message_text(message.get("content"))
    return ""


def reply_tokens(text: str, tokens: int | None = None) -> list[str]:
    """The tokens the fake streams for a last user message ``text`` (see the module doc)."""
    words = _WORDS.findall(text) or LOREM
    count = len(words) if tokens is None else tokens
    chosen = itertools.islice(itertools.cycle(words), count)
    return [word if i == 0 else " " + word for i, word in enumerate(chosen)]


def expected_reply(text: str, tokens: int | None = None, max_tokens: int | None = None) -> str:
    """The full reply text the fake gives for ``text`` (optionally cut at ``max_tokens``)."""
    return "".join(reply_tokens(text, tokens)[:max_tokens])


def _prompt_tokens(messages: list[Any]) -> int:
    # Like the real count: 3 tokens of framing per message, 3 to prime the reply.
    words = sum(
        len(_WORDS.findall(_message_text(m.get("content"))))
        for m in messages
        if isinstance(m, dict)
    )
    return words + 3 * len(messages) + 3


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_names(tools: object) -> list[tuple[str, str]]:
    """The function names of a request's ``tools`` (chat's ``{"type": "function", "function":
    {"name": ..}}`` and the Responses API's flat ``{"type": "function", "name": ..}``), each
    with the argument the fake fills: the first property of its ``parameters``, or ``query``."""
    names = []
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict) and tool.get("type") == "function":
            function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            if isinstance(function.get("name"), str):
                schema = function.get("parameters")
                props = schema.get("properties") if isinstance(schema, dict) else None
                key = next(iter(props), "query") if isinstance(props, dict) else "query"
                names.append((function["name"], str(key)))
    return names


def _calls(names: list[tuple[str, str]], count: int, text: str) -> list[dict[str, Any]]:
    """``count`` deterministic calls of ``names`` (cycled): name, ids, arguments and the
    pieces the arguments are streamed in (about 4 characters each, as the real API's)."""
    calls = []
    for k, (name, key) in zip(range(count), itertools.cycle(names), strict=False):
        arguments = json.dumps({key: text}, ensure_ascii=False)
        digest = hashlib.blake2b(f"{name}{k}{text}".encode(), digest_size=12).hexdigest()
        calls.append(
            {
                "name": name,
                "call_id": f"call_{digest}",
                "item_id": f"fc_{digest}",
                "arguments": arguments,
                "pieces": [arguments[i : i + 4] for i in range(0, len(arguments), 4)],
            }
        )
    return calls


#: ``future=1``: what the SDKs do not know yet; 1e-07 is 1e-7 once re-serialized by orjson.
FUTURE: dict[str, Any] = {"tier": "next", "score": 1e-07, "tags": ["ü", None]}


def _dumps(obj: object) -> bytes:
    # The real API sends compact JSON with raw UTF-8 (not \\u escapes).
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _mask_key(key: str) -> str:
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


# --- records ---------------------------------------------------------------------------------


class _ClientGone(Exception):
    """The peer closed or reset the connection."""


class _BadRequest(Exception):
    """Unparseable HTTP framing: answer 400 and close."""


@dataclass(eq=False)
class FakeRequest:
    """What the fake saw and did for one HTTP request; times are ``time.monotonic()``.

    ``outcome`` is ``pending`` while the answer is being written, then one of ``complete``
    (a full 2xx answer), ``error`` (a full error answer), ``cut`` (the server closed the socket
    on purpose, scenario ``cut``), ``client_gone`` (the client left before the end) or
    ``aborted`` (the server was shut down).
    """

    index: int
    connection: int
    method: str
    path: str
    headers: dict[str, str]
    request_id: str
    started_at: float
    body: Any = None
    model: str | None = None
    scenario: Scenario | None = None
    stream: bool = False
    status: int | None = None
    headers_sent_at: float | None = None
    tokens_planned: int = 0
    tokens_sent: int = 0
    sent: list[str] = field(default_factory=list)  # chat: each data payload / whole body
    first_token_at: float | None = None
    last_token_at: float | None = None
    finished: bool = False
    finished_at: float | None = None
    outcome: str = "pending"
    closed_at: float | None = None
    closed_by: str | None = None
    _server: FakeOpenAI | None = field(default=None, repr=False)

    @property
    def disconnected(self) -> bool:
        """The client closed the connection before the server finished this answer."""
        return self.closed_by == "client" and not self.finished

    def wait_closed(self, timeout: float) -> float:
        """Wait until this request's connection is closed (by either side); return ``closed_at``."""
        return self._wait(lambda: self.closed_at, timeout, "its connection to close")

    def wait_tokens(self, count: int, timeout: float) -> int:
        """Wait until at least ``count`` content tokens were written; return ``tokens_sent``."""
        return self._wait(
            lambda: self.tokens_sent if self.tokens_sent >= count else 0,
            timeout,
            f"{count} tokens",
        )

    def wait_done(self, timeout: float) -> str:
        """Wait until the outcome is no longer ``pending``; return it."""
        return self._wait(
            lambda: None if self.outcome == "pending" else self.outcome, timeout, "the end"
        )

    def _wait(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        assert self._server is not None
        return self._server.wait_for(predicate, timeout, f"request {self.index}: {what}")

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["scenario"] = None if self.scenario is None else vars(self.scenario)
        data["disconnected"] = self.disconnected
        return data


# --- the connection --------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One client connection; HTTP/1.1 keep-alive, requests handled one after the other.

    The callbacks (not a read at the next write) notice the peer leaving: ``eof_received`` on
    FIN, ``connection_lost`` on RST; both stamp the current request and wake any sleep.
    """

    def __init__(self, server: FakeOpenAI, number: int, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.number = number
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.closed = False  # no more I/O: the peer left or we closed
        self.gone = False  # the peer left
        self.current: FakeRequest | None = None
        self.task: asyncio.Task[None] | None = None
        self._gone_future: asyncio.Future[None] = loop.create_future()
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.server._conns.add(self)
        self.task = self.loop.create_task(self.server._serve(self))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._wake_reader()
        if len(self.buf) > _MAX_BODY + _MAX_HEAD and self.transport is not None:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._peer_gone()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._peer_gone()
        self.server._conns.discard(self)
        self._wake_drain()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drain()

    # state changes

    def _peer_gone(self) -> None:
        if self.closed:
            return
        self.closed = self.gone = True
        record = self.current
        if record is not None and record.closed_at is None:
            record.closed_at = time.monotonic()
            record.closed_by = "client"
            if record.outcome == "pending":
                record.outcome = "client_gone"
        if not self._gone_future.done():
            self._gone_future.set_result(None)
        self._wake_reader()
        self.server._changed()

    def close(self, outcome: str | None = None) -> None:
        """Close from the server side (FIN after the buffered data); ``outcome`` if pending."""
        record = self.current
        if not self.closed:
            self.closed = True
            if record is not None and record.closed_at is None:
                record.closed_at = time.monotonic()
                record.closed_by = "server"
        if record is not None and outcome is not None and record.outcome == "pending":
            record.outcome = outcome
        if not self._gone_future.done():
            self._gone_future.set_result(None)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.server._changed()

    def _wake_reader(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    def _wake_drain(self) -> None:
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # I/O for the handler

    async def _more_data(self) -> None:
        if self.gone:
            raise _ClientGone
        self._data_waiter = self.loop.create_future()
        try:
            await self._data_waiter
        finally:
            self._data_waiter = None

    async def read_head(self) -> bytes | None:
        """The next request head (without the blank line), or None at a clean end."""
        while True:
            while self.buf[:2] == b"\r\n":  # RFC 9112 2.2: ignore CRLFs before a request
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buf[:end])
                del self.buf[: end + 4]
                return head
            if len(self.buf) > _MAX_HEAD:
                raise _BadRequest("request head too large")
            if self.gone or self.closed:
                if self.buf:
                    raise _ClientGone
                return None
            await self._more_data()

    async def read_exactly(self, count: int) -> bytes:
        while len(self.buf) < count:
            await self._more_data()
        data = bytes(self.buf[:count])
        del self.buf[:count]
        return data

    async def read_line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > _MAX_HEAD:
                raise _BadRequest("line too long")
            await self._more_data()
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    async def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise _ClientGone
        self.transport.write(data)
        if self._write_paused:  # flow control: wait for the client to read
            self._drain_waiter = self.loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None
            if self.closed:
                raise _ClientGone

    async def sleep(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: forever); raise ``_ClientGone`` as soon as the peer leaves."""
        if self.closed:
            raise _ClientGone
        if seconds is not None and seconds <= 0:
            return
        await asyncio.wait([self._gone_future], timeout=seconds)
        if self.closed:
            raise _ClientGone

    async def wait_event(self, event: asyncio.Event) -> None:
        """Wait until ``event`` is set; raise ``_ClientGone`` as soon as the peer leaves."""
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait([self._gone_future, waiter], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self.closed:
            raise _ClientGone


# --- the server ------------------------------------------------------------------------------


class FakeOpenAI:
    """The fake OpenAI API on ``host:port`` (port 0: a free one), served from a background thread.

    ``api_key``: the accepted Bearer key (None: any). ``delay``: default seconds before each
    streamed token. Use as a context manager, or ``start()`` and ``close()``.
    """

    def __init__(
        self,
        *,
        api_key: str | None = "sk-fake-test-key",
        delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.delay = delay
        self.host = host
        self._port = port
        self.errors: list[str] = []
        self._requests: list[FakeRequest] = []
        self._cond = threading.Condition()
        self._conns: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._startup_error: BaseException | None = None
        self._closed = False
        self._conn_numbers = itertools.count(1)
        self._holds: dict[str, asyncio.Event] = {}  # scenario hold=NAME, used on the loop

    # lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` (no path)."""
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """What to give the SDK as ``base_url`` / ``OPENAI_BASE_URL``."""
        return f"{self.url}/v1"

    def start(self) -> FakeOpenAI:
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI already started")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="fake-openai", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("FakeOpenAI did not start within 10 s")
        if self._startup_error is not None:
            self._thread.join(5)
            raise RuntimeError("FakeOpenAI failed to start") from self._startup_error
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop serving: open connections are aborted, the thread ends; idempotent."""
        loop, thread = self._loop, self._thread
        if self._closed or loop is None or thread is None or not thread.is_alive():
            return
        self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def release(self, name: str) -> None:
        """Let the streams held by ``hold=NAME`` go on (and any later one pass at once)."""
        loop = self._loop
        assert loop is not None, "FakeOpenAI is not running"
        loop.call_soon_threadsafe(lambda: self._hold_event(name).set())

    def _hold_event(self, name: str) -> asyncio.Event:
        return self._holds.setdefault(name, asyncio.Event())

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                loop.create_server(
                    lambda: _Connection(self, next(self._conn_numbers), loop),
                    self.host,
                    self._port,
                    backlog=4096,
                )
            )
            self._port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # reported by start()
            self._startup_error = exc
            loop.close()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        conns = list(self._conns)
        tasks = [conn.task for conn in conns if conn.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in conns:
            if conn.transport is not None:
                conn.transport.abort()
        await self._server.wait_closed()
        # Let the scheduled connection_lost callbacks run: they close the sockets (otherwise
        # ResourceWarning: unclosed transport, an error under filterwarnings=error).
        for _ in range(3):
            await asyncio.sleep(0)

    # observability

    @property
    def requests(self) -> list[FakeRequest]:
        """A snapshot of the records, oldest first (the records themselves are live)."""
        with self._cond:
            return list(self._requests)

    def clear(self) -> None:
        with self._cond:
            self._requests.clear()

    def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str = "") -> T:
        """Wait until ``predicate()`` is truthy, re-checked on every change; return its value.

        Raises ``TimeoutError`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (value := predicate()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"fake OpenAI: no {what or 'condition'} within {timeout} s")
                self._cond.wait(remaining)
            return value

    def wait_requests(self, count: int, timeout: float) -> list[FakeRequest]:
        """Wait until at least ``count`` requests arrived; return the snapshot."""
        return self.wait_for(
            lambda: self._requests[:] if len(self._requests) >= count else None,
            timeout,
            f"{count} requests",
        )

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # HTTP

    async def _serve(self, conn: _Connection) -> None:
        try:
            while not conn.closed:
                head = await conn.read_head()
                if head is None:
                    break
                if not await self._handle(conn, head):
                    break
        except _ClientGone:
            pass
        except _BadRequest as exc:
            with contextlib.suppress(_ClientGone):
                body = _dumps(
                    {
                        "error": {
                            "message": str(exc),
                            "type": "invalid_request_error",
                            "param": None,
                            "code": None,
                        }
                    }
                )
                await conn.write(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                )
        except Exception:
            self.errors.append(traceback.format_exc())
        finally:
            conn.close("aborted")

    async def _read_body(self, conn: _Connection, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            size_total = 0
            while True:
                line = await conn.read_line()
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _BadRequest("bad chunk size") from None
                if size == 0:
                    while await conn.read_line():  # trailers, up to the blank line
                        pass
                    return b"".join(parts)
                size_total += size
                if size_total > _MAX_BODY:
                    raise _BadRequest("request body too large")
                parts.append(await conn.read_exactly(size))
                if await conn.read_exactly(2) != b"\r\n":
                    raise _BadRequest("bad chunk framing")
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit() or int(length_text) > _MAX_BODY:
            raise _BadRequest("bad content-length")
        return await conn.read_exactly(int(length_text))

    async def _handle(self, conn: _Connection, head: bytes) -> bool:
        """Answer one request; return whether the connection stays open."""
        request_line, *lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(f"bad request line {request_line!r}")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _BadRequest(f"bad header line {line!r}")
            key = name.lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = version == "HTTP/1.1" and "close" not in connection
        if headers.get("expect", "").lower() == "100-continue":
            await conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        raw_body = await self._read_body(conn, headers)

        record = FakeRequest(
            index=-1,  # set under the lock below
            connection=conn.number,
            method=method,
            path=target,
            headers=headers,
            request_id="req_" + secrets.token_hex(16),
            started_at=time.monotonic(),
            _server=self,
        )
        with self._cond:
            record.index = len(self._requests)
            self._requests.append(record)
            self._cond.notify_all()
        conn.current = record
        path = target.partition("?")[0]

        if path == "/_fake/requests" and method == "GET":
            snapshot = [r.to_dict() for r in self.requests]
            return await self._send_json(conn, record, 200, snapshot, keep_alive)
        if path.startswith("/v1/") and not self._authorized(record):
            return await self._send_auth_error(conn, record, keep_alive)
        if path in ("/v1/chat/completions", "/v1/responses") and method == "POST":
            try:
                record.body = json.loads(raw_body) if raw_body else None
            except ValueError:
                return await self._send_error(
                    conn,
                    record,
                    400,
                    keep_alive,
                    "We could not parse the JSON body of your request. (HINT: This likely means "
                    "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                    "payload, but what was sent was not valid JSON.)",
                )
            if path == "/v1/responses":
                return await self._responses(conn, record, keep_alive)
            return await self._chat(conn, record, keep_alive)
        if path == "/v1/models" and method == "GET":
            models = [self._model_object(name) for name in ("fake", "gpt-4o-mini", "gpt-4.1")]
            return await self._send_json(
                conn, record, 200, {"object": "list", "data": models}, keep_alive
            )
        if path.startswith("/v1/models/") and method == "GET":
            name = path.removeprefix("/v1/models/")
            return await self._send_json(conn, record, 200, self._model_object(name), keep_alive)
        return await self._send_error(
            conn, record, 404, keep_alive, f"Invalid URL ({method} {path})"
        )

    @staticmethod
    def _model_object(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 1715367049, "owned_by": "system"}

    def _authorized(self, record: FakeRequest) -> bool:
        scheme, _, key = record.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        return self.api_key is None or key.strip() == self.api_key

    async def _send_auth_error(self, conn: _Connection, record: FakeRequest, keep: bool) -> bool:
        scheme, _, key = record.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return await self._send_error(
                conn,
                record,
                401,
                keep,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                "or as the password field (with blank username) if you're accessing the API "
                "from your browser and are prompted for a username and password. You can "
                "obtain an API key from https://platform.openai.com/account/api-keys.",
            )
        return await self._send_error(
            conn,
            record,
            401,
            keep,
            f"Incorrect API key provided: {_mask_key(key.strip())}. You can find your API key "
            "at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )

    def _common_headers(self, record: FakeRequest) -> list[tuple[str, str]]:
        elapsed_ms = str(int((time.monotonic() - record.started_at) * 1000))
        return [
            ("access-control-expose-headers", "X-Request-ID"),
            ("openai-organization", "user-fake"),
            ("openai-processing-ms", elapsed_ms),
            ("openai-project", "proj_fake"),
            ("openai-version", "2020-10-01"),
            ("x-envoy-upstream-service-time", elapsed_ms),
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-limit-tokens", "10000000"),
            ("x-ratelimit-remaining-requests", "9999"),
            ("x-ratelimit-remaining-tokens", "9999990"),
            ("x-ratelimit-reset-requests", "6ms"),
            ("x-ratelimit-reset-tokens", "0s"),
            ("x-request-id", record.request_id),
            ("strict-transport-security", "max-age=31536000; includeSubDomains; preload"),
            ("cf-cache-status", "DYNAMIC"),
            ("x-content-type-options", "nosniff"),
            ("server", "cloudflare"),
        ]

    async def _send_head(
        self,
        conn: _Connection,
        record: FakeRequest,
        status: int,
        headers: list[tuple[str, str]],
    ) -> None:
        # Like the real API: date first, then the content headers, then the rest.
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            f"date: {formatdate(usegmt=True)}",
        ]
        lines += [f"{name}: {value}" for name, value in headers]
        await conn.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        record.status = status
        record.headers_sent_at = time.monotonic()
        self._changed()

    async def _send_json(
        self,
        conn: _Connection,
        record: FakeRequest,
        status: int,
        obj: object,
        keep_alive: bool,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> bool:
        body = _dumps(obj)
        extra = list(extra_headers)
        overridden = {name for name, _ in extra}
        headers = [
            (
                "content-type",
                "application/json; charset=utf-8" if status >= 400 else "application/json",
            ),
            ("content-length", str(len(body))),
            ("connection", "keep-alive" if keep_alive else "close"),
            *[(k, v) for k, v in self._common_headers(record) if k not in overridden],
            *extra,
        ]
        await self._send_head(conn, record, status, headers)
        await conn.write(body)
        self._finish(record, "error" if status >= 400 else "complete")
        if not keep_alive:
            conn.close()
        return keep_alive

    async def _send_error(
        self,
        conn: _Connection,
        record: FakeRequest,
        status: int,
        keep_alive: bool,
        message: str,
        *,
        error_type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> bool:
        if error_type is None:
            error_type = "server_error" if status >= 500 else "invalid_request_error"
        error = {"message": message, "type": error_type, "param": param, "code": code}
        return await self._send_json(
            conn, record, status, {"error": error}, keep_alive, extra_headers
        )

    async def _send_failure(
        self, conn: _Connection, record: FakeRequest, scenario: Scenario, keep: bool
    ) -> bool:
        """The real API's answer for the scenario's ``fail`` status."""
        status = scenario.fail
        assert status is not None
        retry_after = scenario.retry_after or ("1" if status == 429 else None)
        extra = [("retry-after", retry_after)] if retry_after is not None else []
        if status == 401:
            _, _, key = record.headers.get("authorization", "").partition(" ")
            return await self._send_error(
                conn,
                record,
                401,
                keep,
                f"Incorrect API key provided: {_mask_key(key.strip())}. You can find your API "
                "key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
                extra_headers=extra,
            )
        if status == 429:
            extra += [
                ("x-ratelimit-limit-requests", "3"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", f"{retry_after}s"),
                ("x-ratelimit-limit-tokens", "40000"),
                ("x-ratelimit-remaining-tokens", "39990"),
                ("x-ratelimit-reset-tokens", "15ms"),
            ]
            return await self._send_error(
                conn,
                record,
                429,
                keep,
                f"Rate limit reached for {scenario.name} in organization org-fake on requests "
                f"per min (RPM): Limit 3, Used 3, Requested 1. Please try again in "
                f"{retry_after}s. Visit https://platform.openai.com/account/rate-limits to "
                "learn more.",
                error_type="requests",
                param=None,
                code="rate_limit_exceeded",
                extra_headers=extra,
            )
        known: dict[int, tuple[str, str | None, str | None]] = {
            403: (
                "Country, region, or territory not supported",
                "request_forbidden",
                "unsupported_country_region_territory",
            ),
            404: (
                f"The model `{scenario.name}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            ),
            500: (
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            ),
            503: (
                "The engine is currently overloaded, please try again later",
                "server_error",
                None,
            ),
        }
        message, error_type, code = known.get(
            status, (f"Fake failure {status} on request.", None, None)
        )
        return await self._send_error(
            conn,
            record,
            status,
            keep,
            message,
            error_type=error_type,
            code=code,
            extra_headers=extra,
        )

    def _finish(self, record: FakeRequest, outcome: str) -> None:
        record.finished = True
        record.finished_at = time.monotonic()
        if record.outcome == "pending":
            record.outcome = outcome
        self._changed()

    # chat completions

    async def _chat(self, conn: _Connection, record: FakeRequest, keep: bool) -> bool:
        body = record.body
        if not isinstance(body, dict):
            return await self._send_error(
                conn, record, 400, keep, "The body must be a JSON object."
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return await self._send_error(
                conn, record, 400, keep, "you must provide a model parameter"
            )
        record.model = model
        try:
            scenario = record.scenario = Scenario.parse(model)
        except ValueError as exc:
            return await self._send_error(conn, record, 400, keep, str(exc), param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return await self._send_error(
                conn,
                record,
                400,
                keep,
                "Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        stream = record.stream = body.get("stream") is True
        options = body.get("stream_options")
        if options is not None and not stream:
            return await self._send_error(
                conn,
                record,
                400,
                keep,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        options = options if isinstance(options, dict) else {}

        tokens = reply_tokens(_last_user_text(messages), scenario.tokens)
        finish_reason = "stop"
        calls: list[dict[str, Any]] = []
        answered = isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
        if scenario.tool_calls and not answered:
            names = _tool_names(body.get("tools"))
            if not names:
                return await self._send_error(
                    conn,
                    record,
                    400,
                    keep,
                    "tool_calls needs tools in the request",
                    param="tools",
                )
            calls = _calls(names, scenario.tool_calls, _last_user_text(messages))
            tokens = [piece for call in calls for piece in call["pieces"]]
            finish_reason = "tool_calls"
        response_format = body.get("response_format")
        json_reply = isinstance(response_format, dict) and response_format.get("type") in (
            "json_object",
            "json_schema",
        )
        if json_reply and not calls:
            tokens = ['{"answer":"', *(_dumps(t).decode()[1:-1] for t in tokens), '"}']
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, finish_reason = tokens[:limit], "length"
        n = body.get("n") if isinstance(body.get("n"), int) and 1 <= body["n"] <= 8 else 1
        logprobs = body.get("logprobs") is True
        top = body.get("top_logprobs") if isinstance(body.get("top_logprobs"), int) else 0
        future = bool(scenario.future)

        def token_logprobs(text: str) -> dict[str, Any] | None:
            if not logprobs:
                return None
            entry = {"token": text, "logprob": -0.25, "bytes": list(text.encode())}
            alternatives = [dict(entry, logprob=-0.25 - i) for i in range(top)]
            return {"content": [{**entry, "top_logprobs": alternatives}], "refusal": None}

        record.tokens_planned = len(tokens)
        delay = self.delay if scenario.delay is None else scenario.delay
        self._changed()

        if scenario.hang == "before_headers" or (scenario.hang and not stream):
            await conn.sleep(scenario.hang_s)
        if scenario.fail is not None:
            return await self._send_failure(conn, record, scenario, keep)

        completion_id = "chatcmpl-" + secrets.token_urlsafe(21).replace("-", "x").replace("_", "y")
        created = int(time.time())
        usage = _usage(_prompt_tokens(messages), len(tokens))
        if not stream:
            await conn.sleep(delay * len(tokens))
            record.tokens_sent = len(tokens)
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None if calls else "".join(tokens),
                "refusal": None,
                "annotations": [],
            }
            if calls:
                message["tool_calls"] = [
                    {
                        "id": c["call_id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in calls
                ]
            whole_logprobs = None
            if logprobs and not calls:
                whole_logprobs = {
                    "content": [
                        entry
                        for t in tokens
                        for entry in (token_logprobs(t) or {"content": []})["content"]
                    ],
                    "refusal": None,
                }
            completion = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": scenario.name,
                "choices": [
                    {
                        "index": index,
                        "message": message,
                        "logprobs": whole_logprobs,
                        "finish_reason": finish_reason,
                    }
                    for index in range(n)
                ],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
            if future:
                completion["x_future"] = FUTURE
            record.sent.append(_dumps(completion).decode())
            return await self._send_json(conn, record, 200, completion, keep)

        include_usage = options.get("include_usage") is True
        obfuscate = options.get("include_obfuscation", True) is not False
        sequence = itertools.count()

        def event(choices: list[dict[str, Any]], usage_value: object = None) -> bytes:
            chunk: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": scenario.name,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": choices,
            }
            if include_usage:
                chunk["usage"] = usage_value
            if obfuscate:
                digest = hashlib.blake2b(f"{completion_id}{next(sequence)}".encode()).hexdigest()
                chunk["obfuscation"] = digest[: 2 + len(digest) % 11]
            if future:
                chunk["x_future"] = FUTURE
            data = _dumps(chunk)
            record.sent.append(data.decode())
            return _sse(data)

        def choice(
            delta: dict[str, Any], finish: str | None = None, index: int = 0
        ) -> list[dict[str, Any]]:
            content = delta.get("content")
            one: dict[str, Any] = {
                "index": index,
                "delta": dict(delta, x_future="é") if future else delta,
                "logprobs": token_logprobs(content) if content else None,
                "finish_reason": finish,
            }
            if future:
                one["x_future"] = 1
            return [one]

        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("transfer-encoding", "chunked"),
            ("connection", "keep-alive" if keep else "close"),
            *self._common_headers(record),
        ]
        await self._send_head(conn, record, 200, headers)
        if scenario.hang == "after_headers":
            await conn.sleep(scenario.hang_s)
        # The deltas: text tokens, or each call's fragments (its first one names the call).
        role: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        deltas: list[dict[str, Any]] = [{"content": token} for token in tokens]
        if calls:
            role = {"role": "assistant", "content": None, "refusal": None}
            deltas = []
            for index, call in enumerate(calls):
                fragments: list[dict[str, Any]] = [
                    {"index": index, "function": {"arguments": piece}} for piece in call["pieces"]
                ]
                fragments[0] = {
                    "index": index,
                    "id": call["call_id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["pieces"][0]},
                }
                deltas += [{"tool_calls": [fragment]} for fragment in fragments]
            role.update(deltas.pop(0))
            record.tokens_sent += 1
        for index in range(n):
            await conn.write(event(choice(role, index=index)))
        # Token k is due at start + k x delay: a fixed grid, so the rate does not drift by the
        # timer's and the loop's overhead per token (about 1 ms per token at delay=0.02).
        start = time.monotonic()
        for k, delta in enumerate(deltas, 1):
            if scenario.cut is not None and record.tokens_sent >= scenario.cut:
                break
            if scenario.error is not None and record.tokens_sent >= scenario.error:
                break
            await conn.sleep(start + k * delay - time.monotonic() if delay else 0)
            for index in range(n):
                await conn.write(event(choice(delta, index=index)))
            now = time.monotonic()
            if record.first_token_at is None:
                record.first_token_at = now
            record.last_token_at = now
            record.tokens_sent += 1
            self._changed()
            if scenario.hold is not None and k == 1:
                await conn.wait_event(self._hold_event(scenario.hold))
                start = time.monotonic() - delay  # token 2 is due one delay from here
        if scenario.cut is not None:
            # No finish chunk, no [DONE], no chunked terminator: a truncated body.
            conn.close("cut")
            return False
        if scenario.error is not None:
            error = {
                "message": "The server had an error while processing your request. "
                "Sorry about that!",
                "type": "server_error",
                "param": None,
                "code": None,
            }
            record.sent.append(_dumps({"error": error}).decode())
            await conn.write(_sse(_dumps({"error": error})))
        else:
            for index in range(n):
                await conn.write(event(choice({}, finish_reason, index)))
            if include_usage:
                await conn.write(event([], usage))
            await conn.write(_sse(b"[DONE]"))
        await conn.write(b"0\r\n\r\n")
        self._finish(record, "complete" if scenario.error is None else "error")
        if not keep:
            conn.close()
        return keep

    # the Responses API

    async def _responses(self, conn: _Connection, record: FakeRequest, keep: bool) -> bool:
        body = record.body
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return await self._send_error(
                conn, record, 400, keep, "Missing required parameter: 'model'.", param="model"
            )
        record.model = model = body["model"]
        try:
            scenario = record.scenario = Scenario.parse(model)
        except ValueError as exc:
            return await self._send_error(conn, record, 400, keep, str(exc), param="model")
        given = body.get("input")
        if not isinstance(given, str | list):
            return await self._send_error(
                conn, record, 400, keep, "Missing required parameter: 'input'.", param="input"
            )
        messages = [{"role": "user", "content": given}] if isinstance(given, str) else given
        text = _last_user_text(messages)
        tokens = reply_tokens(text, scenario.tokens)
        calls: list[dict[str, Any]] = []
        if scenario.tool_calls:
            names = _tool_names(body.get("tools"))
            if not names:
                return await self._send_error(
                    conn, record, 400, keep, "tool_calls needs tools in the request", param="tools"
                )
            calls, tokens = _calls(names, scenario.tool_calls, text), []
        incomplete = None
        limit = body.get("max_output_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens, incomplete = tokens[:limit], "max_output_tokens"
        pieces = [piece for call in calls for piece in call["pieces"]]
        record.tokens_planned = len(tokens) + len(pieces)
        record.stream = stream = body.get("stream") is True
        delay = self.delay if scenario.delay is None else scenario.delay
        self._changed()
        if scenario.hang == "before_headers":
            await conn.sleep(scenario.hang_s)
        if scenario.fail is not None:
            return await self._send_failure(conn, record, scenario, keep)

        digest = hashlib.blake2b(f"{record.request_id}".encode(), digest_size=16).hexdigest()
        usage = _usage(_prompt_tokens(messages), record.tokens_planned)
        response: dict[str, Any] = {
            "id": f"resp_{digest}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": limit if isinstance(limit, int) else None,
            "model": scenario.name,
            "output": [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": body.get("tools") or [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None,
            "user": None,
            "metadata": {},
        }
        message = {
            "id": f"msg_{digest}",
            "type": "message",
            "status": "completed" if incomplete is None else "incomplete",
            "content": [
                {"type": "output_text", "annotations": [], "logprobs": [], "text": "".join(tokens)}
            ],
            "role": "assistant",
        }
        items = [message] if tokens else []
        items += [
            {
                "id": call["item_id"],
                "type": "function_call",
                "status": "completed",
                "arguments": call["arguments"],
                "call_id": call["call_id"],
                "name": call["name"],
            }
            for call in calls
        ]
        final = {
            **response,
            "status": "completed" if incomplete is None else "incomplete",
            "incomplete_details": None if incomplete is None else {"reason": incomplete},
            "output": items,
            "usage": {
                "input_tokens": usage["prompt_tokens"],
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": usage["completion_tokens"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage["total_tokens"],
            },
        }
        if scenario.future:
            final["x_future"] = FUTURE
        if not stream:
            await conn.sleep(delay * record.tokens_planned)
            record.tokens_sent = record.tokens_planned
            record.sent.append(_dumps(final).decode())
            return await self._send_json(conn, record, 200, final, keep)

        headers = [
            ("content-type", "text/event-stream; charset=utf-8"),
            ("transfer-encoding", "chunked"),
            ("connection", "keep-alive" if keep else "close"),
            *self._common_headers(record),
        ]
        await self._send_head(conn, record, 200, headers)
        sequence = itertools.count()

        async def send(kind: str, **fields: Any) -> None:
            payload = {"type": kind, "sequence_number": next(sequence), **fields}
            if scenario.future:
                payload["x_future"] = FUTURE
            data = _dumps(payload)
            record.sent.append(data.decode())
            await conn.write(_sse(data, event=kind))

        start = time.monotonic()

        async def delta(kind: str, **fields: Any) -> bool:
            """One token (or arguments piece) on the grid of ``delay``; False: stop here."""
            nonlocal start
            if scenario.cut is not None and record.tokens_sent >= scenario.cut:
                return False
            if scenario.error is not None and record.tokens_sent >= scenario.error:
                return False
            k = record.tokens_sent + 1
            await conn.sleep(start + k * delay - time.monotonic() if delay else 0)
            await send(kind, **fields)
            record.first_token_at = record.first_token_at or time.monotonic()
            record.last_token_at = time.monotonic()
            record.tokens_sent += 1
            self._changed()
            if scenario.hold is not None and k == 1:
                await conn.wait_event(self._hold_event(scenario.hold))
                start = time.monotonic() - delay
            return True

        await send("response.created", response=response)
        await send("response.in_progress", response=response)
        complete = True
        if tokens:
            ids = {"item_id": message["id"], "output_index": 0}
            added = {**message, "status": "in_progress", "content": []}
            part = {"type": "output_text", "annotations": [], "logprobs": []}
            await send("response.output_item.added", output_index=0, item=added)
            await send(
                "response.content_part.added", **ids, content_index=0, part=part | {"text": ""}
            )
            for token in tokens:
                if not (
                    complete := await delta(
                        "response.output_text.delta",
                        **ids,
                        content_index=0,
                        delta=token,
                        logprobs=[],
                    )
                ):
                    break
            if complete:
                whole = "".join(tokens)
                await send(
                    "response.output_text.done", **ids, content_index=0, text=whole, logprobs=[]
                )
                await send(
                    "response.content_part.done",
                    **ids,
                    content_index=0,
                    part=part | {"text": whole},
                )
                await send("response.output_item.done", output_index=0, item=message)
        for index, (call, item) in enumerate(
            zip(calls, items[len(items) - len(calls) :], strict=True)
        ):
            if not complete:
                break
            ids = {"item_id": item["id"], "output_index": index}
            added = {**item, "status": "in_progress", "arguments": ""}
            await send("response.output_item.added", output_index=index, item=added)
            for piece in call["pieces"]:
                if not (
                    complete := await delta(
                        "response.function_call_arguments.delta", **ids, delta=piece
                    )
                ):
                    break
            if complete:
                await send(
                    "response.function_call_arguments.done", **ids, arguments=call["arguments"]
                )
                await send("response.output_item.done", output_index=index, item=item)
        if scenario.cut is not None and not complete:
            conn.close("cut")
            return False
        if not complete:  # error=K
            error = {
                "code": "server_error",
                "message": "An error occurred while processing your request.",
            }
            await send("response.failed", response={**response, "status": "failed", "error": error})
        else:
            kind = "response.completed" if incomplete is None else "response.incomplete"
            await send(kind, response=final)
        await conn.write(b"0\r\n\r\n")
        self._finish(record, "complete" if complete else "error")
        if not keep:
            conn.close()
        return keep


def _sse(data: bytes, event: str | None = None) -> bytes:
    """One SSE event as one HTTP chunk (named: the Responses API's ``event:`` line first)."""
    payload = b"data: " + data + b"\n\n"
    if event is not None:
        payload = b"event: " + event.encode() + b"\n" + payload
    return b"%x\r\n%s\r\n" % (len(payload), payload)
