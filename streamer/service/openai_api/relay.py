"""Pass-through to an OpenAI-compatible upstream: the request forwarded as sent, the answer
relayed as the upstream sent it.

A provider with a ``relay(body)`` method (the ``openai`` provider) serves ``/v1/chat/completions``
this way. The gateway checks only what it needs itself: a JSON object, ``model``, a
non-empty ``messages`` array of at most :data:`~..chat_body.MAX_MESSAGES` objects with a
``role``, ``stream``, ``stream_options`` and its own ``streamer`` object (taken out). Every other
field (``tools``, ``response_format``, ``logprobs``, ``n``, image parts, fields added next year)
goes to the upstream untouched, and the upstream validates it: what it refuses comes back with
its status and its message, in OpenAI's error shape.

Each streamed chunk is the upstream's JSON text, sent on byte for byte: nothing is parsed but a
chunk that carries ``usage``, which the meter records. So that every answer's usage is known,
``stream_options.include_usage`` is always asked of the upstream; a client that did not ask
for it gets the chunks as it would have without: no usage-only chunk, and the ``"usage":null``
the option adds to every other chunk taken out of its text (the one edit made to a chunk).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .chunks import reported
from .errors import InvalidParameter
from .request import boolean, json_object, message_list, model_name, resumable_option
from .usage import UsageMeter


@dataclass(frozen=True, slots=True)
class RelayRequest:
    body: dict[str, Any]  # what goes to the upstream
    model: str
    stream: bool
    include_usage: bool  # the client asked for the usage chunk
    resumable: bool


def parse_relay_body(
    content_type: str | None, raw: bytes, *, resumable_header: bool = False
) -> RelayRequest:
    body = json_object(content_type, raw)
    model = model_name(body)
    stream = boolean(body, "stream", False)
    resumable = resumable_option(body, stream, resumable_header)
    _check_messages(body.get("messages"))
    forwarded = {name: value for name, value in body.items() if name != "streamer"}
    include_usage = False
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidParameter("stream_options", "'stream_options' must be an object")
    if stream:
        options = dict(options or {})
        include_usage = boolean(options, "include_usage", False, "stream_options.")
        options["include_usage"] = True
        forwarded["stream_options"] = options
    return RelayRequest(forwarded, model, stream, include_usage, resumable)


def _check_messages(value: Any) -> None:
    for i, message in enumerate(message_list(value)):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidParameter(
                f"messages[{i}]", f"'messages[{i}]' must be an object with a role"
            )


def relayed(
    batches: Iterator[list[str]],
    meter: UsageMeter,
    include_usage: bool,
    *,
    detached: bool = False,
) -> Generator[str, None, dict[str, Any]]:
    """The upstream's chunks (JSON text, as sent) of ``batches`` (a provider's ``relay``),
    counted into ``meter``; see :func:`.chunks.reported` for ``detached``."""
    return reported(_chunks(batches, meter, include_usage), batches, meter, detached)


def _chunks(batches: Iterator[list[str]], meter: UsageMeter, include_usage: bool) -> Iterator[str]:
    token = meter.token
    for batch in batches:
        for data in batch:
            # Only a chunk with usage is parsed; the others are searched, not parsed.
            if '"usage":{' in data or '"usage": {' in data:
                chunk = orjson.loads(data)
                usage = chunk.get("usage")
                if isinstance(usage, dict):
                    meter.provider_usage(usage)
                    if not include_usage and not chunk.get("choices"):
                        continue  # asked for the meter, not by the client
            else:
                if '"content":"' in data and '"content":""' not in data:
                    token()  # the estimate, should the upstream's usage never come
                if not include_usage:
                    data = _without_usage_null(data)
            yield data


def _without_usage_null(data: str) -> str:
    """The chunk as the upstream sends it without ``include_usage``: its top-level
    ``"usage":null`` taken out of the text (the last one: OpenAI puts it after ``choices``;
    inside a string its quotes would be escaped, so a match is always a key)."""
    for key in (',"usage":null', ', "usage": null'):
        at = data.rfind(key)
        if at >= 0:
            return data[:at] + data[at + len(key) :]
    return data


def answer_usage(usage: Any) -> dict[str, Any] | None:
    """A whole answer's ``usage`` as the meter takes it: itself, if it is an object."""
    return usage if isinstance(usage, dict) else None
