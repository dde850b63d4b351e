"""An OpenAI-compatible API: the official SDKs (Python, Node) point ``base_url`` at
``<streamer>/v1`` and stream through streamer's providers, limits and metrics.

>>> from streamer.service.openai_api import register
>>> register(app, provider, model="gpt-4o-mini")  # POST /v1/chat/completions, GET /v1/models, GET
/v1/streams/<id>, and the Responses API (:mod:`.responses`): POST /v1/responses...
"""

from __future__ import annotations

from .chunks import ChunkSSE, ResumableChunkSSE
from .views import STREAM_ENDPOINTS, register

__all__ = ["STREAM_ENDPOINTS", "ChunkSSE", "ResumableChunkSSE", "register"]
