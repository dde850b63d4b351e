"""OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``.

The SDKs pick their exception class from the status (401 ``AuthenticationError``, 429
``RateLimitError``, 400 ``BadRequestError``...) and show ``message``; ``type`` is OpenAI's
broad category, ``code`` carries streamer's own error type (``too_many_streams_for_key``,
``upstream_timeout``...), and ``param`` names the request field at fault, if one is.

Defined in :mod:`streamer.llm.openai_chunks` (the library's ``format="openai"`` sends it
in-band too); re-exported here for the /v1 views.
"""

from __future__ import annotations

from ...errors import InvalidParameter as InvalidParameter  # re-exported: defined there
from ...llm.openai_chunks import category as category  # re-exported: defined there
from ...llm.openai_chunks import error_object as error_object  # re-exported
