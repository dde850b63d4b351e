"""The current Flask app's streamer state, in one place.

Everything in the library that needs the app's config, its open-stream registry or its
stream store inside a request asks here. The state is the one object that
:class:`streamer.Streamer` stores in ``app.extensions["streamer"]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config
    from .registry import StreamRegistry
    from .state import StreamerState
    from .store import StreamStore

EXTENSION = "streamer"


def current_state() -> StreamerState:
    """The current app's :class:`~streamer.state.StreamerState`."""
    try:
        state: StreamerState = current_app.extensions[EXTENSION]
    except KeyError:
        raise ConfigError("streamer is not set up on this app: call Streamer(app) or "
                          "Streamer().init_app(app) first") from None
    return state


def current_config() -> Config:
    """The current app's streamer :class:`~streamer.config.Config`."""
    return current_state().config


def current_registry() -> StreamRegistry | None:
    """The current app's registry of open streams, if it has one."""
    return current_state().registry


def current_store() -> StreamStore:
    """The current app's stream store (resumable streams)."""
    return current_state().store
