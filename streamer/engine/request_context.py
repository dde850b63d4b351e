"""Keep a Flask request's context alive for as long as its stream, and tear it down once.

Flask pops the request context (and runs ``teardown_request`` / ``teardown_appcontext``)
when the view returns, before a streamed body is sent. ``flask.stream_with_context`` keeps it
by pushing it again inside the generator, and pops it when the generator closes; a stream
that is abandoned without closing its generator never runs teardown (pallets/flask #6123:
database connections leak), and its ``push()`` matches the URL a second time.

streamer closes every producer (streamer.server.response.StreamBody.close()), so it can do this
reliably and more cheaply:

- :func:`hold` adds one token to the request context's stack, so the pop at the end of
  ``Flask.wsgi_app`` is not the last one: no teardown then, and ``request``, ``g`` and
  ``current_app`` stay bound in the handler's contextvars.
- The returned :class:`Hold` is released exactly once, when the stream has ended and its
  producer has finished, whatever the ending; its ``pop`` is then the last one and runs the
  app's teardown functions with the producer's exception, if any. If the stream fails before
  the view returns, the release pops only the extra token and ``wsgi_app`` tears down as usual.
- A pump greenlet runs the producer in a snapshot of the handler's ``contextvars`` taken
  then (:attr:`Hold.context`), so a producer reads the request like the view does, even if
  the handler's context later binds another request (keep-alive, or Flask's test client,
  which serves several open streams from one thread).
- The pop runs in the handler's context, where its tokens were made. Context variables
  reset as a stack: a stream that ends while another request is bound on top there cannot
  pop its own; it then runs the same teardown functions in a snapshot and leaves the
  variables to the request on top.

This uses Flask's private ``_cv_request`` and ``RequestContext._cv_tokens``, through
:mod:`streamer._compat.flask` (read from Flask 3.1.3; tests/unit/test_compat_flask.py fails if they
change).
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

import greenlet

from .._compat.flask import context_tokens, cv_app, cv_request

log = logging.getLogger("streamer")


class Hold:
    """One held request context; :meth:`release` pops it (once)."""

    __slots__ = ("_ctx", "_home", "context")

    def __init__(self, ctx: Any, home: contextvars.Context | None) -> None:
        self._ctx = ctx
        self._home = home  # the handler greenlet's contextvars
        #: A snapshot with this request bound: run the producer in it.
        self.context = contextvars.copy_context()

    def release(self, exc: BaseException | None = None) -> None:
        ctx: Any = self._ctx
        self._ctx = None
        if ctx is None:
            return
        try:
            home = self._home
            if home is None or greenlet.getcurrent().gr_context is home:
                _pop(ctx, exc)
            else:
                home.run(_pop, ctx, exc)  # from the pump greenlet
        except Exception:
            log.exception("streamer: the request's teardown failed")


def _pop(ctx: Any, exc: BaseException | None) -> None:
    top: Any = cv_request.get(None)
    if top is ctx:
        ctx.pop(exc)
    else:
        contextvars.copy_context().run(_teardown, ctx, exc)


def _teardown(ctx: Any, exc: BaseException | None) -> None:
    """What ``RequestContext.pop`` runs for its last token, without resetting variables that
    now belong to another request (run in a snapshot where this request is bound)."""
    _token, app_ctx = context_tokens(ctx).pop()
    cv_request.set(ctx)
    if app_ctx is not None:
        cv_app.set(app_ctx)
    try:
        ctx.app.do_teardown_request(exc)
        close = getattr(ctx.request, "close", None)
        if close is not None:
            close()
    finally:
        ctx.request.environ["werkzeug.request"] = None
        if app_ctx is not None:
            context_tokens(app_ctx).pop()
            ctx.app.do_teardown_appcontext(exc)


def hold_request() -> Hold | None:
    """Hold the current request context (None outside a request)."""
    ctx = cv_request.get(None)
    if ctx is None:
        return None
    # What RequestContext.push() records when the app context is already the right one,
    # without its second session open and URL match.
    context_tokens(ctx).append((cv_request.set(ctx), None))
    return Hold(ctx, greenlet.getcurrent().gr_context)
