"""Chat: a validated request, and providers that stream the assistant's text.

A provider has ``name`` and ``stream(request) -> Iterator[str]``: a generator of text tokens
whose return value (``{"usage": {...}}``) goes into the stream's ``end`` record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ..config import Config
from .echo import EchoProvider
from .request import ChatRequest, InvalidField, parse_chat_body

__all__ = ["ChatProvider", "ChatRequest", "EchoProvider", "InvalidField", "make_provider",
           "parse_chat_body"]


class ChatProvider(Protocol):
    name: str

    def stream(self, request: ChatRequest) -> Iterator[str]: ...


def make_provider(config: Config) -> ChatProvider:
    if config.chat_provider == "openai":
        assert config.openai_api_key is not None  # Config.from_env checks this
        # Imported here: only an openai deployment pays for importing the SDK.
        from .openai_provider import OpenAIProvider

        return OpenAIProvider(config.openai_api_key, config.openai_base_url,
                              config.upstream_timeout_s, config.upstream_retries)
    return EchoProvider(config.echo_delay_s)
