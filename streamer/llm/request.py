"""What a chat provider is asked: the conversation so far and the sampling settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ChatRequest:
    #: OpenAI's message objects: ``role`` and ``content`` (a string; None for an assistant
    #: message that only calls tools), and ``name``, an assistant's ``tool_calls``, a tool
    #: result's ``tool_call_id`` when sent.
    messages: tuple[dict[str, Any], ...]
    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    resumable: bool = False
    #: Further sampling settings, validated, as the client sent them (OpenAI's names: ``top_p``,
    #: ``stop`` as a list, ``seed``, ``frequency_penalty``, ``presence_penalty``): a provider
    #: passes on what its model takes and applies what it can.
    sampling: Mapping[str, Any] = field(default_factory=dict)
    #: The functions the model may call (OpenAI's ``tools`` objects), and ``tool_choice`` /
    #: ``parallel_tool_calls`` as sent (absent: not sent).
    tools: tuple[dict[str, Any], ...] = ()
    tool_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stop(self) -> tuple[str, ...]:
        """The stop sequences: the reply ends before the first of them."""
        return tuple(self.sampling.get("stop", ()))

    @property
    def last_user_message(self) -> str:
        for message in reversed(self.messages):
            if message["role"] == "user":
                return str(message["content"])
        return ""
