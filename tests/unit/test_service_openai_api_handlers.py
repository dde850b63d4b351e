"""Fast tier: what the /v1 views share (streamer.service.openai_api.handlers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from flask import Blueprint, Flask

from streamer import Streamer
from streamer.errors import InvalidParameter, StreamTimeout
from streamer.service.openai_api.handlers import collect_watched, openai_errors


def app() -> Flask:
    flask_app = Flask(__name__)
    flask_app.config["STREAMER_MAX_STREAM_S"] = 0.2
    Streamer(flask_app)
    bp = Blueprint("t", __name__)
    openai_errors(bp)

    @bp.get("/bad")
    def bad() -> Any:
        raise InvalidParameter("n", "'n' must be a whole number")

    flask_app.register_blueprint(bp)
    return flask_app


def test_errors_are_answered_in_openais_shape() -> None:
    got = app().test_client().get("/bad")
    assert got.status_code == 400
    assert got.get_json() == {
        "error": {
            "message": "'n' must be a whole number",
            "type": "invalid_request_error",
            "param": "n",
            "code": "invalid_parameter",
        }
    }
    missing = app().test_client().get("/nothing-here")
    assert missing.status_code == 404


def test_a_collection_past_the_maximum_duration_times_out_and_closes_its_source() -> None:
    closed: list[bool] = []
    outcomes: list[str] = []

    def source() -> Iterator[int]:
        try:
            while True:
                gevent.sleep(0.05)
                yield 1
        finally:
            closed.append(True)

    answer = source()
    with app().test_request_context("/"), pytest.raises(StreamTimeout):
        collect_watched(lambda: sum(answer), answer, on_end=outcomes.append)
    assert closed == [True] and outcomes == ["timeout"]


def test_a_finished_collection_is_complete() -> None:
    outcomes: list[str] = []
    answer = iter([1, 2, 3])
    with app().test_request_context("/"):
        assert collect_watched(lambda: sum(answer), answer, on_end=outcomes.append) == 6
    assert outcomes == ["complete"]
