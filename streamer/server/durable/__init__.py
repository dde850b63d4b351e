"""Durable Streams over HTTP (Electric's protocol: PROTOCOL.md of
durable-streams/durable-streams, conformance suite ``@durable-streams/server-conformance-tests``)
for any Flask app: with ``STREAMER_DURABLE=true`` the extension mounts
``STREAMER_DURABLE_PREFIX/<path>`` (default ``/v1/stream/<path>``), where anything can create a
stream (``PUT``), append to it (``POST``, idempotent producers included), close and delete it,
and read it from any offset (catch-up, long-poll, SSE).

The streams live in a :class:`~streamer.store.durable.DurableStore` (memory, or Redis with a
Redis URL). What is supported and where streamer differs: docs/durable-streams.md.
"""

from __future__ import annotations

from flask import Flask

from ...config import Config
from ...store.durable import DurableStore, open_durable_store
from ..state import state_of
from .records import DurableRecords
from .routes import ENDPOINT, blueprint
from .settings import EXTENSION, DurableSettings

__all__ = ["ENDPOINT", "install"]


def install(app: Flask, config: Config, store: DurableStore | None = None) -> DurableSettings:
    """Mount the stream URLs on ``app`` (the extension calls this when ``config.durable``)."""
    settings = DurableSettings(
        store=store if store is not None else open_durable_store(config),
        prefix=config.durable_prefix,
        long_poll_s=config.durable_long_poll_s,
        sse_max_s=config.durable_sse_max_s,
        max_read_bytes=config.durable_max_read_bytes,
    )
    app.extensions[EXTENSION] = settings
    # The other face: a Durable Stream named like a stream id at GET /streams/<path>.
    state_of(app).other_stores.append(DurableRecords(settings.store))
    app.register_blueprint(blueprint(config.durable_prefix))
    return settings
