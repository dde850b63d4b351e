"""Fast tier of streamer.engine.request_context: a request context held past the view and released
once, running the app's teardown (the extension's teardown cases:
tests/unit/test_server_extension.py; the Flask internals it reads:
tests/unit/test_compat_flask.py)."""

from __future__ import annotations

import contextvars

from flask import Flask, request

from streamer.engine.request_context import hold_request


def test_outside_a_request_there_is_nothing_to_hold() -> None:
    # In a fresh context: a streamed response another test left open may still hold its
    # request in this thread's context.
    assert contextvars.Context().run(hold_request) is None


def test_a_held_request_outlives_its_context_and_tears_down_once_on_release() -> None:
    app = Flask(__name__)
    torn: list[BaseException | None] = []
    app.teardown_request(torn.append)
    with app.test_request_context("/held?x=1"):
        hold = hold_request()
        assert hold is not None
    assert torn == []  # the view's context left, the held one did not
    assert hold.context.run(lambda: request.args["x"]) == "1"
    error = RuntimeError("stream failed")
    hold.release(error)
    hold.release()
    assert torn == [error]
