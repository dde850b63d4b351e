"""OpenAI's Responses API on ``/v1``: ``POST /v1/responses`` (streamed or not, in the
background or not), ``GET /v1/responses/<id>`` (the object, or its events after a sequence
number) and ``POST /v1/responses/<id>/cancel``, answered by the same chat providers as
``/v1/chat/completions``. See docs/openai.md, "The Responses API".

- :mod:`.request`: the body, validated, as a :class:`~streamer.llm.ChatRequest`;
- :mod:`.events`: answer events -> the Responses stream events;
- :mod:`.fold`: those events -> the response object;
- :mod:`.wire`: those events as named SSE, failures written from the fold;
- :mod:`.views`: the routes; background responses on streamer's resumable streams.
"""

from __future__ import annotations

from .views import STREAM_ENDPOINTS, register

__all__ = ["STREAM_ENDPOINTS", "register"]
