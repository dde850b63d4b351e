"""Fast tier of streamer.server.state: what the extension keeps per app, and the current app's
state, in one place."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask

from streamer import Streamer
from streamer.config import Config
from streamer.engine.registry import StreamRegistry
from streamer.errors import ConfigError
from streamer.server.state import (
    StreamerState,
    current_config,
    current_registry,
    current_state,
    current_store,
    state_of,
)
from streamer.store.memory import MemoryStore
from streamer.wire.framing import NDJSON


def test_each_app_gets_its_own_observers_and_no_metrics_by_default() -> None:
    config = Config()
    one = StreamerState(config, StreamRegistry(), MemoryStore(config))
    two = StreamerState(config, StreamRegistry(), MemoryStore(config))
    one.observers.append(object())  # type: ignore[arg-type]
    assert two.observers == [] and one.metrics is None


def test_the_state_is_slotted() -> None:
    assert "__slots__" in vars(StreamerState)
    assert [f.name for f in dataclasses.fields(StreamerState)] == [
        "config",
        "registry",
        "store",
        "observers",
        "metrics",
        "owners",
        "formats",
        "json_default",
        "other_stores",
        "_derived",
    ]


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


def test_a_payload_formats_encoder_gets_the_apps_json_default_derived_once() -> None:

    plain, app = Flask("plain"), Flask("own")
    Streamer(plain)
    Streamer(app, json_default=str)
    assert state_of(plain).encoder_for(NDJSON) is NDJSON
    derived = state_of(app).encoder_for(NDJSON)
    assert derived is not NDJSON and issubclass(derived, NDJSON)
    assert state_of(app).encoder_for(NDJSON) is derived
    assert derived.data(1, [1j]) == b'{"event":"data","id":1,"data":["1j"]}\n'
