"""The current Flask app's streamer state, in one place.

Everything in the library that needs the app's config, its open-stream registry or its
stream store inside a request asks here, so where that state lives is decided once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from .config import Config
    from .registry import StreamRegistry
    from .store import StreamStore


def current_config() -> Config:
    """The current app's streamer :class:`~streamer.config.Config`."""
    config: Config = current_app.config["STREAMER"]
    return config


def current_registry() -> StreamRegistry | None:
    """The current app's registry of open streams, if it has one."""
    registry: StreamRegistry | None = current_app.extensions.get("streamer.streams")
    return registry


def current_store() -> StreamStore:
    """The current app's stream store (resumable streams)."""
    store: StreamStore = current_app.extensions["streamer.store"]
    return store
