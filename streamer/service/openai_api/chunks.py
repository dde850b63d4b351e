"""OpenAI's streamed chat format: the chunk objects and their SSE encoding.

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
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from gevent import GreenletExit

from ...errors import StreamTimeout
from ...wire.framing import Encoder, json_bytes
from .errors import error_object
from .usage import UsageMeter


def _json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as :func:`~streamer.wire.framing.json_bytes` makes it, by orjson: a
    chunk object costs ~1 µs instead of ~5 (once per token). orjson refuses a lone surrogate,
    which json_bytes escapes."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json_bytes(value)


class ChunkSSE(Encoder):
    """Data-only SSE for OpenAI chunk objects (payloads are the chunk dicts)."""

    name = "openai"
    media_type = "text/event-stream; charset=utf-8"

    @classmethod
    def data(cls, id: int, payload: Any) -> bytes:
        return b"data: " + _json(payload) + b"\n\n"

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
    def data(cls, id: int, payload: Any) -> bytes:
        return b"id: %d\ndata: %s\n\n" % (id, _json(payload))


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class Answer:
    """What every chunk (or the one ``chat.completion``) of an answer shares."""

    model: str
    include_usage: bool = False
    id: str = field(default_factory=completion_id)
    created: int = field(default_factory=lambda: int(time.time()))

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return self._chunk(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        )

    def usage_chunk(self, usage: dict[str, Any]) -> dict[str, Any]:
        chunk = self._chunk([])
        chunk["usage"] = usage
        return chunk

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def completion(self, text: str, finish_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text,
            "refusal": None,
            "annotations": [],
        }
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


def finish_reason(max_tokens: int | None, completion_tokens: int) -> str:
    """``length`` when the reply used all of ``max_tokens`` (the providers do not pass the
    upstream's own reason on), else ``stop``."""
    return "length" if max_tokens is not None and completion_tokens >= max_tokens else "stop"


def chunks(
    tokens: Iterator[str],
    answer: Answer,
    meter: UsageMeter,
    *,
    max_tokens: int | None = None,
    detached: bool = False,
) -> Generator[dict[str, Any], None, dict[str, Any]]:
    """The chunk objects of a provider's token stream (a generator returning
    ``{"usage": ...}``), counting them into ``meter``.

    The role chunk goes out with the first token, not before: until then a failure (the
    upstream's 401, 429) can still be a real HTTP status. ``detached`` (a resumable answer,
    which has no response of its own): report the usage when this generator ends, with the
    outcome it saw; otherwise the view reports it with the response's outcome.
    """
    outcome = "error"
    try:
        started = False
        for token in counted(tokens, meter):
            if not started:
                started = True
                yield answer.chunk({"role": "assistant", "content": "", "refusal": None})
            yield answer.chunk({"content": token})
        if not started:
            yield answer.chunk({"role": "assistant", "content": "", "refusal": None})
        usage = meter.usage()
        yield answer.chunk({}, finish_reason(max_tokens, usage["completion_tokens"]))
        if answer.include_usage:
            yield answer.usage_chunk(usage)
        outcome = "complete"
        return {}
    except (GeneratorExit, GreenletExit):
        outcome = "cancel"
        raise
    except StreamTimeout:
        outcome = "timeout"
        raise
    finally:
        close = getattr(tokens, "close", None)
        if close is not None:
            close()  # at once: this is what cancels the upstream request
        if detached:
            meter.finish(outcome)


def counted(tokens: Iterator[str], meter: UsageMeter) -> Generator[str, None, None]:
    while True:
        try:
            token = next(tokens)
        except StopIteration as stop:
            value = stop.value
            usage = value.get("usage") if isinstance(value, dict) else None
            meter.provider_usage(usage if isinstance(usage, dict) else None)
            return
        meter.token()
        yield token
