"""The demo's chat: which provider its settings choose (:mod:`streamer.llm`)."""

from __future__ import annotations

from ..llm import ChatProvider, ChatRequest
from .chat_body import InvalidField, parse_chat_body
from .echo_provider import EchoProvider
from .settings import ServiceConfig

__all__ = [
    "ChatProvider",
    "ChatRequest",
    "EchoProvider",
    "InvalidField",
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
