"""The naive way, for bench/bench_chat.py to compare against: iterate the SDK's own stream.

:class:`SDKObjectsProvider` is streamer's OpenAI provider with one change: instead of reading
the raw body (our line decoder, orjson), it iterates the SDK's ``AsyncStream`` of pydantic
``ChatCompletionChunk`` objects through :func:`streamer.llm.openai_events.achat_events` (the
library's way for a view that calls the SDK itself), one adapter item per event, on the SDK's
own HTTP client (httpcore's anyio backend). Everything else (the adapter, StreamBody, the app)
is the same. ``sdk_app()`` is the service with this provider, for gunicorn::

    gunicorn -c gunicorn.conf.py --pythonpath bench 'chat_sdk:sdk_app()'
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai

from streamer.adapter import loop_local
from streamer.llm import ChatRequest
from streamer.llm.events import AnswerEvent
from streamer.llm.openai_events import achat_events
from streamer.llm.openai_provider import OpenAIProvider


class SDKObjectsProvider(OpenAIProvider):
    def _client(self) -> openai.AsyncOpenAI:
        # The SDK as it comes: httpx on httpcore's default (anyio) network backend.
        return openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self._base_url,
            timeout=self._timeout_s,
            max_retries=self._max_retries,
        )

    async def _events(self, request: ChatRequest) -> AsyncIterator[list[AnswerEvent]]:
        client = loop_local(self._client_key, self._client)
        stream = await client.chat.completions.create(
            model=request.model,
            messages=list(request.messages),  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        async for event in achat_events(stream):
            yield [event]


def sdk_app() -> Any:
    """The service (as ``wsgi.py`` builds it, patched first) with :class:`SDKObjectsProvider`."""
    from gevent import monkey

    monkey.patch_all()
    from app import create_app
    from streamer.service.settings import ServiceConfig

    cfg = ServiceConfig.from_env()
    assert cfg.openai_api_key, "set OPENAI_API_KEY: the openai provider is needed"
    return create_app(
        cfg,
        provider=SDKObjectsProvider(
            cfg.openai_api_key, cfg.openai_base_url, cfg.upstream_timeout_s, cfg.upstream_retries
        ),
    )
