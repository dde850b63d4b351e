"""The offline chat provider: a deterministic reply, token by token, with a realistic delay.

The default when no OpenAI key is configured, so a fresh machine runs the whole service. It
speaks the provider protocol (:class:`streamer.llm.ChatProvider`): a ``TextDelta`` per word,
then its ``Usage`` (words, not BPE tokens: it always knows them), then ``Finish("length")``
when ``max_tokens`` cut the reply, else ``Finish("stop")``. A ``stop`` sequence ends the reply
before it; the other sampling settings change nothing in a reply that has no randomness.
With ``tools`` it calls one (the one ``tool_choice`` names, else the first) with its first
parameter set to the prompt, and finishes with ``tool_calls``; a ``tool`` message last gets
the tool's answer echoed back as text, so an app's tool loop ends.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import gevent

from ..llm import ChatRequest
from ..llm.events import (
    AnswerEvent,
    Finish,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)

_TOKEN = re.compile(r"\s*\S+|\s+")


def echo_reply(prompt: str) -> str:
    said = " ".join(prompt.split())[:500] or "nothing"
    end = "" if said[-1] in ".!?" else "."
    return (
        f"You said: {said}{end} This is streamer's offline echo provider: each word arrives "
        "as it is produced, the way a model's tokens would."
    )


def tokens(text: str) -> list[str]:
    """Words with their leading spaces, so that the tokens join back to ``text``."""
    return _TOKEN.findall(text)


class EchoProvider:
    name = "echo"

    def __init__(self, delay_s: float = 0.03) -> None:
        self.delay_s = delay_s

    def stream(self, request: ChatRequest) -> Iterator[AnswerEvent]:
        tool = _tool_to_call(request)
        if tool is not None:
            yield from self._call(request, tool)
            return
        last = request.messages[-1]
        said = (
            f"the tool answered {last['content']}"
            if last["role"] == "tool"
            else request.last_user_message
        )
        reply = tokens(_until_stop(echo_reply(said), request.stop))
        cut = request.max_tokens is not None and len(reply) > request.max_tokens
        if cut:
            reply = reply[: request.max_tokens]
        for i, token in enumerate(reply):
            if i and self.delay_s:
                gevent.sleep(self.delay_s)
            yield TextDelta(token)
        yield _usage(request, len(reply))
        yield Finish("length" if cut else "stop")

    def _call(self, request: ChatRequest, tool: dict[str, Any]) -> Iterator[AnswerEvent]:
        """The model's turn as a call of ``tool``, its arguments built from the prompt."""
        function = tool["function"]
        properties = (function.get("parameters") or {}).get("properties") or {}
        argument = next(iter(properties), "query")
        arguments = json.dumps({argument: request.last_user_message}, ensure_ascii=False)
        call_id = "call_" + hashlib.sha256(arguments.encode()).hexdigest()[:24]
        yield ToolCallStart(call_id, function["name"], 0)
        half = len(arguments) // 2  # in two fragments, as a model streams them
        for i, fragment in enumerate((arguments[:half], arguments[half:])):
            if i and self.delay_s:
                gevent.sleep(self.delay_s)
            yield ToolCallDelta(call_id, fragment)
        yield ToolCallEnd(call_id, function["name"], arguments)
        yield _usage(request, len(tokens(arguments)))
        yield Finish("tool_calls")


def _tool_to_call(request: ChatRequest) -> dict[str, Any] | None:
    """The tool the echo calls: the one ``tool_choice`` names, else the first, unless the
    choice is ``none`` or the last message is already a tool's answer (the app's tool loop
    then gets its text and ends)."""
    choice = request.tool_options.get("tool_choice", "auto")
    if not request.tools or choice == "none" or request.messages[-1]["role"] == "tool":
        return None
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        return next(t for t in request.tools if t["function"]["name"] == name)
    return request.tools[0]


def _until_stop(reply: str, stop: tuple[str, ...]) -> str:
    """The reply up to the first stop sequence, which is not sent (as OpenAI's models do)."""
    cuts = [i for i in (reply.find(s) for s in stop) if i >= 0]
    return reply[: min(cuts)] if cuts else reply


def _usage(request: ChatRequest, completion: int) -> Usage:
    said = sum(len(tokens(m.get("content") or "")) for m in request.messages)
    return Usage(said, completion)
