"""The demo's chat: which provider its settings choose (:mod:`streamer.llm`), and how
``POST /chat`` streams the provider's answer."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from ..llm import ChatProvider, ChatRequest
from ..llm.events import AnswerEvent, Finish, TextDelta, Usage
from .chat_body import InvalidField, parse_chat_body
from .echo_provider import EchoProvider
from .settings import ServiceConfig

__all__ = [
    "ChatProvider",
    "ChatRequest",
    "EchoProvider",
    "InvalidField",
    "answer_records",
    "make_provider",
    "parse_chat_body",
]


def make_provider(config: ServiceConfig) -> ChatProvider:
    if config.chat_provider == "openai":
        assert config.openai_api_key is not None  # ServiceConfig.from_env checks this
        # Imported here: only an openai deployment pays for importing the SDK.
        from ..llm.openai_provider import OpenAIProvider

        return OpenAIProvider(
            config.openai_api_key,
            config.openai_base_url,
            config.upstream_timeout_s,
            config.upstream_retries,
        )
    return EchoProvider(config.echo_delay_s)


def answer_records(
    events: Iterator[AnswerEvent],
) -> Generator[str | AnswerEvent, None, dict[str, Any]]:
    """``/chat``'s producer over a provider's answer: each ``TextDelta`` is its text, one data
    record (what the page, the CLI and ``curl | jq`` read in every format); ``Usage`` and
    ``Finish`` go into the ``end`` record (``"usage": {...}`` when known, ``"finish_reason":
    "stop"``); any other event is a data record of its own, JSON that names its ``type``.
    Closing this closes the provider's iterator at once, which cancels the upstream."""
    end: dict[str, Any] = {}
    try:
        for event in events:
            if type(event) is TextDelta:  # the common case, checked first
                yield event.text
            elif type(event) is Usage:
                end["usage"] = event.as_openai()
            elif type(event) is Finish:
                end["finish_reason"] = event.reason
            else:
                yield event
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    return end
