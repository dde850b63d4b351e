"""The demo's /v1 chunk producer: a provider's token stream as OpenAI chunk objects, counted
into the usage meter. The chunk objects and their encoders are the library's
(:mod:`streamer.llm.openai_chunks`), re-exported here for the views."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from gevent import GreenletExit

from ...errors import StreamTimeout
from ...llm.openai_chunks import Answer, ChunkSSE, ResumableChunkSSE, completion_id
from .usage import UsageMeter

__all__ = [
    "Answer",
    "ChunkSSE",
    "ResumableChunkSSE",
    "chunks",
    "completion_id",
    "counted",
    "finish_reason",
]


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
