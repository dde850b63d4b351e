"""Pass-through of the Responses API to an OpenAI-compatible upstream: the request forwarded
as sent, the events relayed as the upstream sent them (as :mod:`..relay` does for chat).

A provider with a ``relay_responses(body)`` method (the ``openai`` provider) serves
``POST /v1/responses`` this way, unless the request asks for ``background``: background
responses run on streamer's resumable streams (:mod:`.views`), built from the provider's
chat answer. The gateway checks a JSON object, ``model``, ``stream`` and ``background``,
and takes out its own ``streamer`` object; every other field (``previous_response_id``,
``reasoning``, built-in tools, ``include``, fields added next year) goes to the upstream
untouched, and what the upstream refuses comes back with its status and message.

Each event is the upstream's SSE block, sent on byte for byte, its terminal event included
(``response.completed``, ``.incomplete``, ``.failed``, or ``error``). Only the terminal
event is parsed (its usage, for the meter); the text deltas are counted by their event
line, should the usage never come. A failure of the upstream or of the gateway after the
first event is the gateway's own ``response.failed`` carrying the response as far as it
went, with the next sequence number (an interruption of this server: an ``error`` event),
then a cut body, as on the built path (:func:`.wire.terminal_event`). For that the relay
keeps the stream's blocks (the strings it sent, no copy) and folds them only then: the
events of an answer that ends well are never parsed.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from ....wire.framing import Encoder, json_bytes
from ..chunks import reported
from ..request import boolean, json_object, model_name
from ..usage import UsageMeter
from .fold import Fold
from .wire import terminal_event

__all__ = [
    "RelayState",
    "RelayedResponseSSE",
    "ResponsesRelay",
    "chat_usage",
    "encoder_for_relay",
    "parse_responses_relay",
    "relayed_events",
]

_DELTA = "event: response.output_text.delta\n"
_ENDS = tuple(
    f"event: {name}\n" for name in ("response.completed", "response.incomplete", "response.failed")
)


@dataclass(frozen=True, slots=True)
class ResponsesRelay:
    body: dict[str, Any]  # what goes to the upstream
    model: str
    stream: bool


def parse_responses_relay(content_type: str | None, raw: bytes) -> ResponsesRelay | None:
    """The request to pass through; None for a background one (served by the built path)."""
    body = json_object(content_type, raw)
    model = model_name(body)
    stream = boolean(body, "stream", False)
    if boolean(body, "background", False):
        return None
    forwarded = {name: value for name, value in body.items() if name != "streamer"}
    return ResponsesRelay(forwarded, model, stream)


@dataclass(slots=True)
class RelayState:
    """The event blocks a relayed stream has sent, for a failure event of the gateway's."""

    blocks: list[str] = field(default_factory=list)

    def fold(self) -> Fold:
        """The response the blocks describe (an event the fold cannot take is left out: a
        failure event must be written whatever the upstream sent)."""
        fold = Fold()
        for block in self.blocks:
            try:
                fold.add(_data(block))
            except (KeyError, IndexError, TypeError, ValueError):
                continue
        return fold


def relayed_events(
    batches: Iterator[list[str]], meter: UsageMeter, state: RelayState
) -> Generator[str, None, dict[str, Any]]:
    """The upstream's events of ``batches`` (a provider's ``relay_responses``), as sent,
    counted into ``meter`` and ``state``."""
    return reported(_events(batches, meter, state), batches, meter, False)


def _events(batches: Iterator[list[str]], meter: UsageMeter, state: RelayState) -> Iterator[str]:
    token = meter.token
    keep = state.blocks.append
    for batch in batches:
        for block in batch:
            keep(block)
            if block.startswith(_DELTA):
                token()
            elif block.startswith(_ENDS):
                response = _data(block).get("response")
                if isinstance(response, dict):
                    usage = chat_usage(response.get("usage"))
                    if usage is not None:
                        meter.provider_usage(usage)
            yield block


def _data(block: str) -> dict[str, Any]:
    """The JSON of an event block's ``data:`` lines ({} if it is not an object)."""
    text = "\n".join(line[6:] for line in block.split("\n") if line.startswith("data: "))
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def chat_usage(usage: Any) -> dict[str, Any] | None:
    """A Responses usage (``input_tokens``, ``output_tokens``) in the meter's chat terms."""
    if not isinstance(usage, dict):
        return None
    return {
        "prompt_tokens": usage.get("input_tokens"),
        "completion_tokens": usage.get("output_tokens"),
        "total_tokens": usage.get("total_tokens"),
    }


class RelayedResponseSSE(Encoder):
    """The relayed events as they came; use a class of a stream's own
    (:func:`encoder_for_relay`), whose ``state`` the relay fills."""

    name = "openai-responses-relay"
    media_type = "text/event-stream; charset=utf-8"
    state: ClassVar[RelayState]

    @classmethod
    def data(cls, id: int, payload: Any) -> bytes:
        return payload.encode() if isinstance(payload, str) else json_bytes(payload)

    @classmethod
    def event(cls, id: int, name: str, payload: Any) -> bytes:
        return cls.data(id, payload)

    @classmethod
    def end(cls, count: int, extra: dict[str, Any] | None = None) -> bytes:
        return b""  # the upstream's terminal event was the last one

    @classmethod
    def error(cls, type: str, message: str) -> bytes:
        event = terminal_event(cls.state.fold(), type, message)
        return b"event: %s\ndata: %s\n\n" % (event["type"].encode(), json_bytes(event))

    @classmethod
    def ping(cls) -> bytes:
        return b": ping\n"


def encoder_for_relay(state: RelayState) -> type[RelayedResponseSSE]:
    """A :class:`RelayedResponseSSE` of one stream's own (see :func:`.wire.encoder_for`)."""
    return type("RelayedResponseSSE", (RelayedResponseSSE,), {"state": state})
