"""Fast tier of streamer.context: the current app's streamer state, in one place."""

from __future__ import annotations

import pytest
from flask import Flask

from streamer import Streamer
from streamer.config import Config
from streamer.context import current_config, current_registry, current_state, current_store
from streamer.errors import ConfigError


def test_inside_a_request_the_state_is_the_apps() -> None:
    app = Flask(__name__)
    config = Config(heartbeat_s=3)
    Streamer(app, config=config)
    with app.test_request_context():
        state = current_state()
        assert state is app.extensions["streamer"]
        assert current_config() is config is state.config
        assert current_registry() is state.registry and current_store() is state.store


def test_without_the_extension_it_says_what_to_call() -> None:
    with Flask(__name__).app_context(), pytest.raises(ConfigError, match=r"Streamer\(app\)"):
        current_state()
