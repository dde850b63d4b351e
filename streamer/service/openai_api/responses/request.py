"""A ``POST /v1/responses`` body, validated as OpenAI validates it: a bad field is a 400 whose
``param`` names it (``input[1].content[0]``), so the SDKs raise ``BadRequestError``.

Accepted: ``model``, ``input`` (a string, or a list of items: messages with roles user,
system, developer, assistant and content a string or ``input_text`` / ``output_text`` parts;
``function_call`` and ``function_call_output`` items, for a tool loop), ``instructions`` (a
system message in front), ``max_output_tokens``, ``temperature``, ``top_p``, ``tools``
(function tools in the Responses shape), ``tool_choice``, ``parallel_tool_calls``,
``stream``, ``background``, ``store``, ``metadata`` and ``user``. The conversation becomes a
:class:`~streamer.llm.ChatRequest`, so every chat provider answers it. Anything else
(``previous_response_id``, ``conversation``, ``reasoning``, built-in tools...) is a 400
naming it: streamer keeps no conversation state, and a gateway that dropped a field would
answer a different question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ....llm import ChatRequest
from ....quote import clip
from ...chat_body import MAX_CONTENT_CHARS, MAX_MESSAGES, MAX_TOKENS, MAX_TOTAL_CHARS
from ..errors import InvalidParameter
from ..request import boolean, check_number, json_object, model_name

_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ROLES = ("user", "system", "developer", "assistant")
_TEXT_PARTS = ("input_text", "output_text")
_TOOL_KEYS = frozenset({"type", "name", "description", "parameters", "strict"})
MAX_TOOLS = 128
MAX_METADATA = 16  # pairs, as OpenAI allows: keys up to 64 characters, values up to 512
_KNOWN = frozenset(
    {
        "model",
        "input",
        "instructions",
        "max_output_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "stream",
        "background",
        "store",
        "metadata",
        "user",
    }
)
# Known to OpenAI, refused here with a reason of their own.
_STATEFUL = {
    "previous_response_id": "streamer keeps no conversation state: send the whole "
    "conversation in 'input' instead of 'previous_response_id'",
    "conversation": "streamer keeps no conversations: send the whole conversation in 'input'",
}


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    chat: ChatRequest
    stream: bool = False
    background: bool = False
    #: The request's own fields, as the response object reflects them.
    echo: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.chat.model


def parse_responses_body(content_type: str | None, raw: bytes) -> ResponsesRequest:
    body = json_object(content_type, raw)
    for name in body:
        if name in _STATEFUL and body[name] is not None:
            raise InvalidParameter(name, _STATEFUL[name])
        if name not in _KNOWN and name not in _STATEFUL:
            raise InvalidParameter(
                clip(name), f"Unrecognized or unsupported request argument supplied: {clip(name)}"
            )
    model = model_name(body)
    stream = boolean(body, "stream", False)
    background = boolean(body, "background", False)
    store = boolean(body, "store", True)
    if background and not store:
        raise InvalidParameter(
            "background", "a background response is stored: 'store' can't be false"
        )
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidParameter("instructions", "'instructions' must be a string")
    messages = _input(body.get("input"))
    if instructions:
        if len(instructions) > MAX_CONTENT_CHARS:
            raise InvalidParameter(
                "instructions", f"'instructions' is longer than {MAX_CONTENT_CHARS} characters"
            )
        messages.insert(0, {"role": "system", "content": instructions})
    max_tokens = _max_tokens(body.get("max_output_tokens"))
    temperature = _number(body, "temperature", 0, 2)
    top_p = _number(body, "top_p", 0, 1)
    tools, tool_options = _tools(body)
    metadata = _metadata(body.get("metadata"))
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise InvalidParameter("user", "'user' must be a string")
    chat = ChatRequest(
        messages=tuple(messages),
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        resumable=background,
        sampling={} if top_p is None else {"top_p": top_p},
        tools=tuple(_chat_tool(tool) for tool in tools),
        tool_options=_chat_tool_options(tool_options) if tools else {},
    )
    echo = {
        "instructions": instructions,
        "max_output_tokens": max_tokens,
        "metadata": metadata,
        "model": model,
        "parallel_tool_calls": tool_options.get("parallel_tool_calls", True),
        "store": store,
        "temperature": 1.0 if temperature is None else temperature,
        "tool_choice": tool_options.get("tool_choice", "auto"),
        "tools": [{"strict": True, "description": None, "parameters": None, **t} for t in tools],
        "top_p": 1.0 if top_p is None else top_p,
        "user": user,
    }
    return ResponsesRequest(chat, stream=stream, background=background, echo=echo)


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    check_number(name, value, low, high)
    return float(value)


def _max_tokens(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter("max_output_tokens", "'max_output_tokens' must be a whole number")
    if not 1 <= value <= MAX_TOKENS:
        raise InvalidParameter(
            "max_output_tokens", f"'max_output_tokens' must be between 1 and {MAX_TOKENS}"
        )
    return value


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA:
        raise InvalidParameter(
            "metadata", f"'metadata' must be an object of at most {MAX_METADATA} pairs"
        )
    for key, item in value.items():
        if len(key) > 64 or not isinstance(item, str) or len(item) > 512:
            raise InvalidParameter(
                f"metadata.{clip(key)}",
                "'metadata' keys are at most 64 characters, values strings of at most 512",
            )
    return dict(value)


def _input(value: Any) -> list[dict[str, Any]]:
    """``input`` as chat messages (OpenAI's chat shape, which the providers take)."""
    if value is None:
        raise InvalidParameter("input", "Missing required parameter: 'input'.")
    if isinstance(value, str):
        if len(value) > MAX_CONTENT_CHARS:
            raise InvalidParameter(
                "input", f"'input' is longer than {MAX_CONTENT_CHARS} characters"
            )
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise InvalidParameter("input", "'input' must be a string or a non-empty array of items")
    if len(value) > MAX_MESSAGES:
        raise InvalidParameter("input", f"'input' has more than {MAX_MESSAGES} items")
    out: list[dict[str, Any]] = []
    total = 0
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise InvalidParameter(where, f"'{where}' must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in _ROLES:
                raise InvalidParameter(
                    f"{where}.role", f"'{where}.role' must be one of {', '.join(_ROLES)}"
                )
            content = _content(item.get("content"), f"{where}.content")
            total += len(content)
            out.append({"role": role, "content": content})
        elif kind == "function_call":
            call = _call_fields(item, where, ("call_id", "name", "arguments"))
            function = {"name": call["name"], "arguments": call["arguments"]}
            out.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": call["call_id"], "type": "function", "function": function}
                    ],
                }
            )
        elif kind == "function_call_output":
            call = _call_fields(item, where, ("call_id", "output"))
            total += len(call["output"])
            out.append({"role": "tool", "tool_call_id": call["call_id"], "content": call["output"]})
        else:
            raise InvalidParameter(
                f"{where}.type",
                f"'{where}.type' must be message, function_call or function_call_output",
            )
    if total > MAX_TOTAL_CHARS:
        raise InvalidParameter("input", f"'input' holds more than {MAX_TOTAL_CHARS} characters")
    if not any(m["role"] == "user" for m in out):
        raise InvalidParameter("input", "'input' needs at least one message with role 'user'")
    return out


def _call_fields(item: dict[str, Any], where: str, names: tuple[str, ...]) -> dict[str, str]:
    for name in names:
        if not isinstance(item.get(name), str) or (name == "call_id" and not item[name]):
            raise InvalidParameter(f"{where}.{name}", f"'{where}.{name}' must be a string")
    return {name: item[name] for name in names}


def _content(value: Any, where: str) -> str:
    if isinstance(value, list):
        texts = []
        for j, part in enumerate(value):
            if not (
                isinstance(part, dict)
                and part.get("type") in _TEXT_PARTS
                and isinstance(part.get("text"), str)
            ):
                raise InvalidParameter(
                    f"{where}[{j}]",
                    f'\'{where}[{j}]\' must be a text part ({{"type": "input_text", "text": ...}})',
                )
            texts.append(part["text"])
        value = "\n".join(texts)
    if not isinstance(value, str):
        raise InvalidParameter(where, f"'{where}' must be a string or a list of text parts")
    if len(value) > MAX_CONTENT_CHARS:
        raise InvalidParameter(where, f"'{where}' is longer than {MAX_CONTENT_CHARS} characters")
    return value


def _tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Function tools in the Responses shape (``{"type": "function", "name", "parameters"}``)
    and ``tool_choice`` / ``parallel_tool_calls``, checked as OpenAI checks them."""
    tools = body.get("tools")
    options: dict[str, Any] = {}
    parallel = body.get("parallel_tool_calls")
    if parallel is not None:
        options["parallel_tool_calls"] = boolean(body, "parallel_tool_calls", True)
    if tools is None or tools == []:
        if body.get("tool_choice") not in (None, "none", "auto"):
            raise InvalidParameter("tool_choice", "'tool_choice' names a tool but 'tools' is empty")
        return [], options
    if not isinstance(tools, list) or len(tools) > MAX_TOOLS:
        raise InvalidParameter("tools", f"'tools' must be an array of at most {MAX_TOOLS} tools")
    out = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise InvalidParameter(
                f"{where}.type",
                f"'{where}.type' must be 'function' (streamer has no built-in tools)",
            )
        if not _TOOL_NAME.fullmatch(str(tool.get("name", ""))):
            raise InvalidParameter(
                f"{where}.name", f"'{where}.name' must be 1-64 letters, digits, _ or -"
            )
        for key in tool:
            if key not in _TOOL_KEYS:
                raise InvalidParameter(
                    f"{where}.{clip(key)}", f"'{where}.{clip(key)}' is not supported"
                )
        if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
            raise InvalidParameter(
                f"{where}.parameters", f"'{where}.parameters' must be a JSON Schema object"
            )
        out.append(dict(tool))
    choice = body.get("tool_choice")
    if choice is not None:
        named = (
            choice.get("name")
            if isinstance(choice, dict) and choice.get("type") == "function"
            else None
        )
        if choice not in ("none", "auto", "required") and named not in [t["name"] for t in out]:
            raise InvalidParameter(
                "tool_choice",
                "'tool_choice' must be none, auto, required or one of the tools by name",
            )
        options["tool_choice"] = choice
    return out, options


def _chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = {key: value for key, value in tool.items() if key != "type" and value is not None}
    return {"type": "function", "function": function}


def _chat_tool_options(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    choice = out.get("tool_choice")
    if isinstance(choice, dict):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    return out
