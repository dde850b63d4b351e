"""streamer._compat.flask: the Flask internals it reads are still there (read from Flask 3.1.3)."""

from __future__ import annotations

import contextvars

from flask import Flask

from streamer._compat import flask as compat_flask


def test_flask_request_context_tokens() -> None:
    # In an empty context: another test's open stream may still hold a request in this one.
    contextvars.Context().run(_check_flask_request_context_tokens)


def _check_flask_request_context_tokens() -> None:
    app = Flask(__name__)
    assert compat_flask.cv_request.get(None) is None
    with app.test_request_context("/") as ctx:
        assert compat_flask.cv_request.get(None) is ctx, "flask.globals._cv_request changed"
        assert compat_flask.cv_app.get(None) is not None, "flask.globals._cv_app changed"
        tokens = compat_flask.context_tokens(ctx)
        assert isinstance(tokens, list) and len(tokens) == 1, "RequestContext._cv_tokens"
        request_token, app_ctx = tokens[0]
        assert app_ctx is compat_flask.cv_app.get(None), (
            "RequestContext._cv_tokens no longer holds (token, pushed app context)"
        )
        assert len(compat_flask.context_tokens(app_ctx)) == 1, "AppContext._cv_tokens"
        assert request_token.var is compat_flask.cv_request


def test_the_flask_internals_streamer_relies_on_are_there() -> None:
    # streamer.engine.request_context was read from Flask 3.1: fail loudly if they move.
    from flask.ctx import RequestContext
    from flask.globals import _cv_app, _cv_request

    app = Flask(__name__)
    with app.test_request_context() as ctx:
        assert isinstance(ctx, RequestContext)
        assert isinstance(ctx._cv_tokens, list) and len(ctx._cv_tokens) == 1
        assert _cv_request.get() is ctx and _cv_app.get() is not None
