"""OpenAI's streamed chat format: the chunk objects, their SSE encoding and OpenAI's error
shape. Shared by :func:`streamer.llm.formats.openai` (any view) and the demo's /v1 API.

The wire, as the official SDKs (openai-python, openai-node) read it::

    data: {"id":"chatcmpl-..","object":"chat.completion.chunk",...,"choices":[{"index":0,
           "delta":{"role":"assistant","content":"","refusal":null},...}]}
    data: {... "delta":{"content":"You"} ...}               (one per token)
    data: {... "delta":{},"finish_reason":"stop" ...}
    data: {... "choices":[],"usage":{...}}                   (with include_usage only)
    data: [DONE]

and then the body ends. Differences from streamer's own ``sse`` format, each for a client:

- no ``event:`` names: openai-node wraps a named event as ``{event, data}``, which has no
  ``choices``;
- no ``retry:`` block: openai-python dispatches a block without data as an event and parses its
  empty data as JSON (and fails);
- heartbeats are a comment *line*, ``: ping``, with no blank line after it: once an ``id:`` was
  seen, openai-python's decoder dispatches every blank line as an event (it keeps the last id,
  as the spec says, and then counts it as content), so ``: ping`` + blank line would break it
  the same way. The next event's own blank line ends the comment harmlessly;
- an error after the first byte is ``data: {"error": {...}}`` (both SDKs raise ``APIError``),
  and then the body is cut without ``[DONE]`` or the chunked terminator.

:class:`ChunkSSE` sends no ``id:`` (as OpenAI); :class:`ResumableChunkSSE` puts one on every
chunk, for ``Last-Event-ID`` resumes.

OpenAI's error shape is ``{"error": {"message", "type", "param", "code"}}``: the SDKs pick
their exception class from the status (401 ``AuthenticationError``, 429 ``RateLimitError``,
400 ``BadRequestError``...) and show ``message``; ``type`` is OpenAI's broad category,
``code`` carries streamer's own error type (``too_many_streams_for_key``,
``upstream_timeout``...), and ``param`` names the request field at fault, if one is.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..wire.framing import Encoder, json_bytes

__all__ = [
    "Answer",
    "ChunkSSE",
    "ResumableChunkSSE",
    "category",
    "completion_id",
    "error_object",
]


class _NoOrjson(Exception):
    """Never raised: what the encoders catch when orjson is not installed."""


def _orjson() -> tuple[Callable[[Any], bytes], type[Exception]]:
    """Compact UTF-8 JSON, as :func:`~streamer.wire.framing.json_bytes` makes it, by orjson
    when it is installed (``streamer[service]``): a chunk object costs ~1 µs instead of ~5
    (once per token). orjson refuses a lone surrogate and objects it does not know (an SDK
    chunk model), which the encoders then hand to json_bytes; without orjson every payload
    goes there."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - the service's extra installs it

        def refuse(value: Any) -> bytes:
            raise _NoOrjson

        return refuse, _NoOrjson
    return orjson.dumps, orjson.JSONEncodeError


# Called in the encoders themselves, not through a helper: a call less per token (~60 ns of
# the ~400 a chunk's encoding costs).
_dumps, _Refused = _orjson()


def category(status: int | None, code: str) -> str:
    """OpenAI's ``type`` for an error of HTTP ``status`` (None: in-band, after the first
    byte) and streamer type ``code``."""
    if status == 429 or code.endswith("rate_limited"):
        return "rate_limit_error"
    if status is not None and 400 <= status < 500:
        return "invalid_request_error"
    return "server_error"


def error_object(
    code: str, message: str, status: int | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"message": message, "type": category(status, code), "param": param, "code": code}


class ChunkSSE(Encoder):
    """Data-only SSE for OpenAI chunk objects: payloads are the chunk dicts, or a chunk's
    JSON text (a ``str``), which goes out byte for byte (a relayed upstream chunk)."""

    name = "openai"
    media_type = "text/event-stream; charset=utf-8"

    @classmethod
    def data(
        cls, id: int, payload: Any, *, json_bytes: Callable[[Any], bytes] = json_bytes
    ) -> bytes:
        # json_bytes: the app's json_default, if it set one (with_json_default).
        if payload.__class__ is str:  # a chunk's JSON text, relayed as an upstream sent it
            return b"data: %s\n\n" % payload.encode()
        try:
            return b"data: %s\n\n" % _dumps(payload)
        except _Refused:
            return b"data: %s\n\n" % json_bytes(payload)

    @classmethod
    def end(cls, count: int, extra: dict[str, Any] | None = None) -> bytes:
        return b"data: [DONE]\n\n"

    @classmethod
    def error(cls, type: str, message: str) -> bytes:
        return b"data: " + json_bytes({"error": error_object(type, message)}) + b"\n\n"

    @classmethod
    def ping(cls) -> bytes:
        return b": ping\n"


class ResumableChunkSSE(ChunkSSE):
    """:class:`ChunkSSE` with ``id: N`` on every chunk."""

    @classmethod
    def data(
        cls, id: int, payload: Any, *, json_bytes: Callable[[Any], bytes] = json_bytes
    ) -> bytes:
        if payload.__class__ is str:
            return b"id: %d\ndata: %s\n\n" % (id, payload.encode())
        try:
            return b"id: %d\ndata: %s\n\n" % (id, _dumps(payload))
        except _Refused:
            return b"id: %d\ndata: %s\n\n" % (id, json_bytes(payload))


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class Answer:
    """What every chunk (or the one ``chat.completion``) of an answer shares."""

    model: str
    include_usage: bool = False
    id: str = field(default_factory=completion_id)
    created: int = field(default_factory=lambda: int(time.time()))
    # Every chunk's fields but the choices, in the wire's order; a chunk is a copy of it
    # (~270 ns, where building the dict afresh costs ~400: once per token).
    _head: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        head: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": None,
        }
        if self.include_usage:
            head["usage"] = None
        object.__setattr__(self, "_head", head)  # frozen

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        chunk = self._head.copy()
        chunk["choices"] = [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ]
        return chunk

    def usage_chunk(self, usage: dict[str, Any]) -> dict[str, Any]:
        chunk = self._head.copy()
        chunk["choices"] = []
        chunk["usage"] = usage
        return chunk

    def completion(
        self,
        text: str,
        finish_reason: str,
        usage: dict[str, Any],
        refusal: str | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            # An answer that only calls tools has no content, as OpenAI sends it.
            "content": None if tool_calls and not text else text,
            "refusal": refusal,
            "annotations": [],
        }
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
            ],
            "usage": usage,
            "system_fingerprint": None,
        }
