"""Flask internals (read from Flask 3.1.3, ``flask/ctx.py`` ``RequestContext.push``/``pop``;
tests/unit/test_compat_flask.py)."""

from __future__ import annotations

from typing import Any

from flask.globals import _cv_app as cv_app
from flask.globals import _cv_request as cv_request

__all__ = ["context_tokens", "cv_app", "cv_request"]


def context_tokens(ctx: Any) -> list[Any]:
    """A request or app context's stack of context-variable tokens (``_cv_tokens``): for a
    request context, ``(request token, app context pushed with it or None)`` pairs."""
    tokens: list[Any] = ctx._cv_tokens
    return tokens
