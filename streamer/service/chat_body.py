"""The body of ``POST /chat`` (and the shared checks of ``/v1``), validated into a
:class:`~streamer.llm.ChatRequest`: every bad field is a 4xx that names it.

400 when the body is not a JSON object at all (hostile JSON included: streamer.service.jsonbody),
415 when it is not sent as JSON, 422 when a field is missing or wrong. Sizes are bounded so a
request cannot make the upstream call (and its bill) arbitrarily large.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import BadRequest
from ..errors import InvalidField as InvalidField  # re-exported: defined there
from ..llm import ChatRequest
from ..quote import echo
from .jsonbody import parse_json_body

ROLES = ("system", "developer", "user", "assistant")
MAX_MESSAGES = 100
MAX_CONTENT_CHARS = 32_000
MAX_TOTAL_CHARS = 200_000
MAX_TOKENS = 32_768
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@?&=+-]{0,199}")
_FIELDS = {"messages", "model", "temperature", "max_tokens", "resumable", "stream"}


def parse_chat_body(content_type: str | None, raw: bytes, default_model: str) -> ChatRequest:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise BadRequest(
            "the body must be JSON (Content-Type: application/json)",
            type="unsupported_media_type",
            status=415,
        )
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", type="invalid_json")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidField(f"unknown field {echo(unknown[0])}")
    return ChatRequest(
        messages=_messages(body.get("messages")),
        model=_model(body.get("model", default_model)),
        temperature=_number(body.get("temperature"), "temperature", 0.0, 2.0),
        max_tokens=_integer(body.get("max_tokens"), "max_tokens", 1, MAX_TOKENS),
        resumable=_boolean(body.get("resumable", False), "resumable"),
    )


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if value is None:
        raise InvalidField("field 'messages' is required")
    if not isinstance(value, list) or not value:
        raise InvalidField("field 'messages' must be a non-empty list")
    if len(value) > MAX_MESSAGES:
        raise InvalidField(f"field 'messages' has more than {MAX_MESSAGES} messages")
    out, total = [], 0
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidField(f"field '{where}' must be an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise InvalidField(f"field '{where}.role' must be one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise InvalidField(f"field '{where}.content' must be a string")
        if len(content) > MAX_CONTENT_CHARS:
            raise InvalidField(
                f"field '{where}.content' is longer than {MAX_CONTENT_CHARS} characters"
            )
        total += len(content)
        out.append({"role": role, "content": content})
    if total > MAX_TOTAL_CHARS:
        raise InvalidField(f"field 'messages' holds more than {MAX_TOTAL_CHARS} characters")
    if not any(m["role"] == "user" for m in out):
        raise InvalidField("field 'messages' needs at least one message with role 'user'")
    return tuple(out)


def _model(value: Any) -> str:
    if not isinstance(value, str) or not _MODEL.fullmatch(value):
        raise InvalidField("field 'model' must be a model name (letters, digits, ._:/-)")
    return value


def _number(value: Any, name: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidField(f"field '{name}' must be a number")
    if not low <= value <= high:
        raise InvalidField(f"field '{name}' must be between {low:g} and {high:g}")
    return float(value)


def _integer(value: Any, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema: 5.0 is an integer (found by schemathesis)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField(f"field '{name}' must be a whole number")
    if not low <= value <= high:
        raise InvalidField(f"field '{name}' must be between {low} and {high}")
    return value


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidField(f"field '{name}' must be true or false")
    return value
