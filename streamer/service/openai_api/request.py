"""A ``POST /v1/chat/completions`` body for a provider that is not an upstream to relay to
(the echo provider, a library user's own), validated the way OpenAI validates it: a bad field
is a 400 whose ``param`` names it (``messages[1].content``), so the SDKs raise
``BadRequestError``. (An upstream gets the body as sent and validates it: :mod:`.relay`.)

What is accepted: ``model``, ``messages`` (roles system, developer, user, assistant, tool;
content a string or a list of text and image parts), ``stream``, ``stream_options``
(``include_usage``; ``include_obfuscation`` is accepted and ignored), ``temperature``,
``max_tokens`` / ``max_completion_tokens``, ``n`` (up to :data:`MAX_CHOICES`), ``logprobs``
and ``top_logprobs``, ``response_format`` (text, json_object, json_schema), tools (below), the
sampling settings ``top_p``, ``stop`` (a string or up to four), ``seed``,
``frequency_penalty`` and ``presence_penalty`` (validated as OpenAI does, passed to the
provider), and the informational ``user``, ``metadata``, ``store`` (false) and
``service_tier``, which change nothing here. streamer's own options go in a ``streamer``
object (the SDKs send it through ``extra_body``): ``{"resumable": true}``. Anything else is
a 400 naming it: a provider that silently dropped a field would answer a different question.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ...errors import BadRequest
from ...llm import ChatRequest
from ...quote import clip
from ..chat_body import (
    MAX_CONTENT_CHARS,
    MAX_MESSAGES,
    MAX_TOKENS,
    MAX_TOTAL_CHARS,
    ROLES,
)
from ..jsonbody import parse_json_body
from .errors import InvalidParameter

_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@?&=+-]{0,199}")
_IGNORED = frozenset({"user", "metadata", "service_tier"})
# Sampling settings the AI SDK, LangChain and the SDKs send from their ordinary options:
# validated as OpenAI does and passed on (ChatRequest.sampling). Name -> (low, high).
_SAMPLING_RANGES = {
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
}
MAX_STOP = 4  # stop sequences, as OpenAI allows
MAX_STOP_CHARS = 200
_KNOWN = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "store",
        "streamer",
        "stop",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "logprobs",
        "top_logprobs",
        *_SAMPLING_RANGES,
        *_IGNORED,
    }
)
_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
_ROLES = (*ROLES, "tool")
MAX_TOOLS = 128  # as OpenAI allows
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOOL_KEYS = frozenset({"name", "description", "parameters", "strict"})


MAX_CHOICES = 8  # n, at most (OpenAI allows 128; an offline echo needs few)
MAX_TOP_LOGPROBS = 20  # as OpenAI allows


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    chat: ChatRequest
    stream: bool = False
    include_usage: bool = False
    resumable: bool = False
    n: int = 1
    logprobs: bool = False
    top_logprobs: int = 0
    json_output: bool = False  # response_format json_object or json_schema

    @property
    def model(self) -> str:
        return self.chat.model


def parse_completion_body(
    content_type: str | None, raw: bytes, *, resumable_header: bool = False
) -> CompletionRequest:
    """Validate a request body; ``resumable_header``: ``X-Streamer-Resumable: 1`` was sent."""
    return completion_request(json_object(content_type, raw), resumable_header=resumable_header)


def completion_request(
    body: dict[str, Any], *, resumable_header: bool = False
) -> CompletionRequest:
    """:func:`parse_completion_body` of a body already read as a JSON object."""
    for name in body:
        if name not in _KNOWN:
            raise InvalidParameter(
                clip(name),
                f"Unrecognized or unsupported request argument supplied: {clip(name)}",
            )
    model = model_name(body)
    stream = boolean(body, "stream", False)
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise InvalidParameter(
                "stream_options",
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            )
        if not isinstance(options, dict):
            raise InvalidParameter("stream_options", "'stream_options' must be an object")
        for name in options:
            if name not in ("include_usage", "include_obfuscation"):
                raise InvalidParameter(
                    f"stream_options.{clip(name)}",
                    f"Unrecognized stream option: {clip(name)}",
                )
        include_usage = boolean(options, "include_usage", False, "stream_options.")
        boolean(options, "include_obfuscation", True, "stream_options.")
    n = _whole_number(body, "n", 1, MAX_CHOICES, 1)
    logprobs = boolean(body, "logprobs", False)
    top_logprobs = _whole_number(body, "top_logprobs", 0, MAX_TOP_LOGPROBS, 0)
    if top_logprobs and not logprobs:
        raise InvalidParameter("top_logprobs", "'top_logprobs' needs 'logprobs' set to true")
    if body.get("store", False) is not False:
        raise InvalidParameter(
            "store", "streamer does not store completions: 'store' must be false"
        )
    max_tokens = _integer(body, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens")
    resumable = resumable_option(body, stream, resumable_header)
    chat = ChatRequest(
        messages=_messages(body.get("messages")),
        model=model,
        temperature=_temperature(body.get("temperature")),
        max_tokens=max_tokens,
        resumable=resumable,
        sampling=_sampling(body),
        **_tools(body),
    )
    return CompletionRequest(
        chat,
        stream=stream,
        include_usage=include_usage,
        resumable=resumable,
        n=n,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        json_output=_response_format(body.get("response_format")),
    )


def _whole_number(body: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(name, f"'{name}' must be a whole number from {low} to {high}")
    return value


def _response_format(value: Any) -> bool:
    """True for ``json_object`` or ``json_schema`` (a named schema), false for ``text``."""
    if value is None:
        return False
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "json_schema":
        schema = value.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise InvalidParameter(
                "response_format.json_schema", "'response_format.json_schema' needs a 'name'"
            )
        if not isinstance(schema.get("schema", {}), dict):
            raise InvalidParameter(
                "response_format.json_schema.schema",
                "'response_format.json_schema.schema' must be a JSON Schema object",
            )
    elif kind not in ("text", "json_object"):
        raise InvalidParameter(
            "response_format.type",
            "'response_format.type' must be one of text, json_object, json_schema",
        )
    return bool(kind != "text")


def json_object(content_type: str | None, raw: bytes) -> dict[str, Any]:
    """The body as a JSON object: 415 unless it is sent as JSON, 400 unless it is one."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise BadRequest(
            "the body must be JSON (Content-Type: application/json)",
            type="unsupported_media_type",
            status=415,
        )
    body = parse_json_body(raw)  # bounded depth and number size: hostile JSON is a 400
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", type="invalid_json")
    return body


def model_name(body: dict[str, Any]) -> str:
    if "model" not in body:
        raise InvalidParameter("model", "you must provide a model parameter")
    model = body["model"]
    if not isinstance(model, str) or not _MODEL.fullmatch(model):
        raise InvalidParameter("model", "'model' must be a model name (letters, digits, ._:/-)")
    return model


def resumable_option(body: dict[str, Any], stream: bool, header: bool) -> bool:
    """``streamer.resumable`` (per call: a mistake without a stream) or the
    ``X-Streamer-Resumable: 1`` header (maybe a client's default: streamed answers only)."""
    resumable = _streamer_options(body.get("streamer"))
    if resumable and not stream:
        raise InvalidParameter(
            "streamer.resumable", "a resumable answer must be streamed: set 'stream' to true"
        )
    return resumable or (header and stream)


def boolean(obj: dict[str, Any], name: str, default: bool, prefix: str = "") -> bool:
    value = obj.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidParameter(prefix + name, f"'{prefix}{name}' must be true or false")
    return value


def _integer(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(name, f"'{name}' must be a whole number")
    if not 1 <= value <= MAX_TOKENS:
        raise InvalidParameter(name, f"'{name}' must be between 1 and {MAX_TOKENS}")
    return value


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (low, high) in _SAMPLING_RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        check_number(name, value, low, high)
        out[name] = value
    seed = body.get("seed")
    if seed is not None:
        if isinstance(seed, float) and seed.is_integer():
            seed = int(seed)  # JSON has one kind of number: 7.0 is the whole number 7
        if isinstance(seed, bool) or not isinstance(seed, int) or abs(seed) >= 2**63:
            raise InvalidParameter("seed", "'seed' must be a 64-bit whole number")
        out["seed"] = seed
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise InvalidParameter("stop", "'stop' must be a string or a list of strings")
        if len(stops) > MAX_STOP:
            raise InvalidParameter("stop", f"'stop' takes at most {MAX_STOP} sequences")
        if any(len(s) > MAX_STOP_CHARS for s in stops):
            raise InvalidParameter(
                "stop", f"each 'stop' sequence is at most {MAX_STOP_CHARS} characters"
            )
        if stops:
            out["stop"] = stops
    return out


def _temperature(value: Any) -> float | None:
    if value is None:
        return None
    check_number("temperature", value, 0, 2)
    return float(value)


def check_number(name: str, value: Any, low: float, high: float) -> None:
    """A 400 naming ``name`` unless ``value`` is a finite number from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameter(name, f"'{name}' must be a number")
    if not low <= value <= high:
        raise InvalidParameter(name, f"'{name}' must be between {low:g} and {high:g}")


def _streamer_options(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, dict):
        raise InvalidParameter(
            "streamer", "'streamer' must be an object, e.g. {\"resumable\": true}"
        )
    for name in value:
        if name != "resumable":
            raise InvalidParameter(
                f"streamer.{clip(name)}", f"unknown streamer option: {clip(name)}"
            )
    return boolean(value, "resumable", False, "streamer.")


def message_list(value: Any) -> list[Any]:
    """``messages`` as given: a 400 unless a non-empty array of at most MAX_MESSAGES."""
    if value is None:
        raise InvalidParameter("messages", "Missing required parameter: 'messages'.")
    if not isinstance(value, list) or not value:
        raise InvalidParameter("messages", "'messages' must be a non-empty array")
    if len(value) > MAX_MESSAGES:
        raise InvalidParameter("messages", f"'messages' has more than {MAX_MESSAGES} messages")
    return value


def _messages(value: Any) -> tuple[dict[str, Any], ...]:
    value = message_list(value)
    out: list[dict[str, Any]] = []
    total = 0
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidParameter(where, f"'{where}' must be an object with role and content")
        for name in message:
            if name not in _MESSAGE_KEYS:
                raise InvalidParameter(
                    f"{where}.{clip(name)}", f"'{where}.{clip(name)}' is not supported"
                )
        role = message.get("role")
        if role not in _ROLES:
            raise InvalidParameter(
                f"{where}.role", f"'{where}.role' must be one of {', '.join(_ROLES)}"
            )
        kept: dict[str, Any] = {"role": role}
        calls = message.get("tool_calls")
        if calls is not None:
            if role != "assistant":
                raise InvalidParameter(
                    f"{where}.tool_calls", f"only an assistant message has '{where}.tool_calls'"
                )
            kept["tool_calls"] = _tool_calls(calls, f"{where}.tool_calls")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidParameter(
                    f"{where}.tool_call_id",
                    f"'{where}.tool_call_id' must name the call this message answers",
                )
            kept["tool_call_id"] = call_id
        elif "tool_call_id" in message:
            raise InvalidParameter(
                f"{where}.tool_call_id", f"only a tool message has '{where}.tool_call_id'"
            )
        if calls is not None and message.get("content") is None:
            kept["content"] = None  # an assistant message that only calls tools
        else:
            kept["content"] = _content(message.get("content"), f"{where}.content")
            total += len(kept["content"])
        if isinstance(message.get("name"), str):
            kept["name"] = message["name"]
        out.append(kept)
    if total > MAX_TOTAL_CHARS:
        raise InvalidParameter(
            "messages", f"'messages' hold more than {MAX_TOTAL_CHARS} characters"
        )
    if not any(m["role"] == "user" for m in out):
        raise InvalidParameter("messages", "'messages' needs at least one message with role 'user'")
    return tuple(out)


def _tool_calls(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise InvalidParameter(where, f"'{where}' must be a non-empty array")
    for j, call in enumerate(value):
        function = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(call, dict)
            and isinstance(call.get("id"), str)
            and call.get("type", "function") == "function"
            and isinstance(function, dict)
            and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments"), str)
        ):
            raise InvalidParameter(
                f"{where}[{j}]",
                f"'{where}[{j}]' must be a function call with an id, a name and arguments",
            )
    return value


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls``, checked as OpenAI checks them."""
    tools = body.get("tools")
    options: dict[str, Any] = {}
    if tools is None:
        for name in ("tool_choice", "parallel_tool_calls"):
            if body.get(name) is not None:
                raise InvalidParameter(name, f"'{name}' is only allowed when 'tools' are given")
        return {}
    if not isinstance(tools, list) or not tools or len(tools) > MAX_TOOLS:
        raise InvalidParameter(
            "tools", f"'tools' must be a non-empty array of at most {MAX_TOOLS} tools"
        )
    names = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise InvalidParameter(f"{where}.type", f"'{where}.type' must be 'function'")
        if not isinstance(function, dict) or not _TOOL_NAME.fullmatch(
            str(function.get("name", ""))
        ):
            raise InvalidParameter(
                f"{where}.function.name",
                f"'{where}.function.name' must be 1-64 letters, digits, _ or -",
            )
        for key in function:
            if key not in _TOOL_KEYS:
                raise InvalidParameter(
                    f"{where}.function.{clip(key)}",
                    f"'{where}.function.{clip(key)}' is not supported",
                )
        if "parameters" in function and not isinstance(function["parameters"], dict):
            raise InvalidParameter(
                f"{where}.function.parameters",
                f"'{where}.function.parameters' must be a JSON Schema object",
            )
        names.append(function["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        named = (
            choice.get("function", {}).get("name")
            if isinstance(choice, dict)
            and choice.get("type") == "function"
            and isinstance(choice.get("function"), dict)
            else None
        )
        if choice not in ("none", "auto", "required") and named not in names:
            raise InvalidParameter(
                "tool_choice",
                "'tool_choice' must be none, auto, required or one of the tools by name",
            )
        options["tool_choice"] = choice
    parallel = body.get("parallel_tool_calls")
    if parallel is not None:
        options["parallel_tool_calls"] = boolean(body, "parallel_tool_calls", True)
    return {"tools": tuple(tools), "tool_options": options}


def _is_image_part(part: Any) -> bool:
    image = part.get("image_url") if isinstance(part, dict) else None
    return (
        isinstance(part, dict)
        and part.get("type") == "image_url"
        and isinstance(image, dict)
        and isinstance(image.get("url"), str)
        and image.get("detail", "auto") in ("auto", "low", "high")
    )


def _content(value: Any, where: str) -> str:
    if isinstance(value, list):
        # Content parts: text, joined as OpenAI does, and images (checked, not read here).
        texts = []
        for j, part in enumerate(value):
            if _is_image_part(part):
                continue
            if not (
                isinstance(part, dict)
                and part.get("type") == "text"
                and isinstance(part.get("text"), str)
            ):
                raise InvalidParameter(
                    f"{where}[{j}]",
                    f'\'{where}[{j}]\' must be a text part ({{"type": "text", "text": "..."}}) '
                    "or an image part",
                )
            texts.append(part["text"])
        value = "\n".join(texts)
    if not isinstance(value, str):
        raise InvalidParameter(where, f"'{where}' must be a string or a list of text parts")
    if len(value) > MAX_CONTENT_CHARS:
        raise InvalidParameter(where, f"'{where}' is longer than {MAX_CONTENT_CHARS} characters")
    return value
