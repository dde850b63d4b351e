"""Fast tier of the streamer.security package: the add-ons plug in through the extension's
state, and an app that installs none is open (the add-ons themselves: test_security_*.py)."""

from __future__ import annotations

from flask import Flask

from streamer import Streamer, stream
from streamer.security import auth
from streamer.security.auth import KeyPolicy
from streamer.server.state import OwnerPolicy, state_of
from streamer.service.settings import ServiceConfig


def _app(keys: tuple[str, ...]) -> Flask:
    app = Flask(__name__)
    config = ServiceConfig(api_keys=keys, heartbeat_s=1.0)
    Streamer(app, config=config)
    auth.install(app, config)

    @app.get("/r")
    def r() -> object:
        return stream(iter(["a"]), resumable=True)

    return app


def test_without_keys_the_owner_policy_is_the_open_default() -> None:
    app = _app(())
    assert type(state_of(app).owners) is OwnerPolicy
    assert app.test_client().get("/r").status_code == 200


def test_with_keys_auth_sets_its_policy_and_resumable_streams_follow_it() -> None:
    app = _app(("k1", "k2"))
    assert isinstance(state_of(app).owners, KeyPolicy)
    client = app.test_client()
    assert client.get("/r").status_code == 401
    started = client.get("/r?format=ndjson", headers={"Authorization": "Bearer k1"})
    assert started.status_code == 200 and started.headers["X-Stream-Token"]
    sid = started.headers["X-Stream-Id"]
    other = client.get(f"/streams/{sid}", headers={"Authorization": "Bearer k2"})
    assert other.status_code == 404  # another key's stream reads as unknown
    own = client.get(f"/streams/{sid}?format=ndjson", headers={"Authorization": "Bearer k1"})
    assert own.status_code == 200 and b'"event":"end"' in own.data


def test_a_stream_refused_for_a_full_worker_gives_its_keys_slot_back() -> None:
    app = Flask(__name__)
    config = ServiceConfig(api_keys=("k1",), max_streams=1, max_streams_per_key=1)
    Streamer(app, config=config)
    auth.install(app, config)

    @app.get("/r")
    def r() -> object:
        return stream(iter(["a"]), resumable=True)

    client = app.test_client()
    for _ in range(2):  # the second would be a 429 if the first had kept its slot
        refused = client.get("/r", headers={"Authorization": "Bearer k1"})
        assert (
            refused.status_code == 503 and refused.get_json()["error"]["type"] == "too_many_streams"
        )
    policy = state_of(app).owners
    assert isinstance(policy, KeyPolicy) and policy.slots.count("key1") == 0
