"""Fast tier: every private name streamer reaches (streamer._compat) still means what it
meant in the version it was read from. A new version of gevent, Flask, httpcore2, gunicorn
or CPython that changes one fails here, naming it, before anything else notices."""

from __future__ import annotations

import _socket
import contextlib
import contextvars
import inspect
import logging
import re
import socket
import threading
from pathlib import Path
from typing import Any

import gevent
import gevent.socket
from flask import Flask

from streamer._compat import flask as compat_flask
from streamer._compat import gevent as compat_gevent
from streamer._compat import httpcore as compat_httpcore
from streamer._compat import stdlib as compat_stdlib

# -- gevent ------------------------------------------------------------------------------------


def test_gevent_hub_if_exists_finds_a_threads_hub_without_making_one() -> None:
    seen: list[Any] = []

    def run() -> None:  # a fresh real thread: no hub yet
        seen.append(compat_gevent.get_hub_if_exists())
        hub = gevent.get_hub()
        seen.append(compat_gevent.get_hub_if_exists() is hub)
        hub.destroy(destroy_loop=True)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert seen == [None, True], "gevent._hub_local.get_hub_if_exists changed"


def test_gevent_socket_wraps_the_real_socket_in_sock() -> None:
    a, b = gevent.socket.socketpair()
    with contextlib.closing(a), contextlib.closing(b):
        raw = compat_gevent.raw_socket(a)
        # The C-level socket, not gevent's cooperative wrapper (whose methods may switch).
        assert isinstance(raw, _socket.socket) and not isinstance(raw, gevent.socket.socket), \
            "gevent socket's _sock changed"
        assert raw.fileno() == a.fileno()
    plain, other = socket.socketpair()
    with contextlib.closing(plain), contextlib.closing(other):
        assert compat_gevent.raw_socket(plain) is plain


def test_gevent_selector_ready_is_the_event_select_waits_on() -> None:
    from gevent.selectors import GeventSelector

    source = inspect.getsource(GeventSelector)
    assert "self._ready.wait(timeout)" in source and "self._ready.set()" in source, \
        "GeventSelector no longer waits on its _ready event"
    a, b = socket.socketpair()
    selector = GeventSelector()
    with contextlib.closing(a), contextlib.closing(b), contextlib.closing(selector):
        selector.register(a, 1)  # EVENT_READ
        assert compat_gevent.selector_has_ready(selector) is False
        selector._ready.set()
        assert compat_gevent.selector_has_ready(selector) is True
        selector._ready.clear()
        b.send(b"x")
        assert selector.select(1), "GeventSelector no longer reports the ready socket"


# -- CPython -----------------------------------------------------------------------------------


def test_threading_register_atexit_exists_and_runs_before_the_thread_join() -> None:
    assert callable(getattr(threading, "_register_atexit", None)), \
        "threading._register_atexit is gone"
    source = inspect.getsource(threading._shutdown)  # type: ignore[attr-defined]
    assert "_threading_atexits" in source, "threading._shutdown no longer runs the hooks"


def test_logging_srcfile_is_what_the_logger_consults() -> None:
    assert hasattr(logging, "_srcfile"), "logging._srcfile is gone"
    assert "_srcfile" in inspect.getsource(logging.Logger._log), \
        "Logger._log no longer consults logging._srcfile"
    saved = logging._srcfile
    try:
        compat_stdlib.skip_caller_lookup()
        assert logging._srcfile is None
    finally:
        logging._srcfile = saved


# -- Flask -------------------------------------------------------------------------------------


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
        assert app_ctx is compat_flask.cv_app.get(None), \
            "RequestContext._cv_tokens no longer holds (token, pushed app context)"
        assert len(compat_flask.context_tokens(app_ctx)) == 1, "AppContext._cv_tokens"
        assert request_token.var is compat_flask.cv_request


# -- httpcore2 / httpx2 ------------------------------------------------------------------------


def test_httpcore_is_socket_readable() -> None:
    a, b = socket.socketpair()
    with contextlib.closing(a), contextlib.closing(b):
        assert compat_httpcore.is_socket_readable(a) is False
        b.send(b"x")
        assert compat_httpcore.is_socket_readable(a) is True


# -- gunicorn ----------------------------------------------------------------------------------


def test_gunicorn_writes_its_refusal_through_sendall() -> None:
    """streamer.refusals captures gunicorn's HTML refusal by handing ``handle_error`` a socket
    whose ``sendall`` keeps what is written; that is how gunicorn 27 writes it."""
    from gunicorn import util
    from gunicorn.workers.base import Worker

    assert "util.write_error(" in inspect.getsource(Worker.handle_error)
    assert "sendall" in inspect.getsource(util.write_error) + inspect.getsource(util.write)


def test_gunicorn_request_path_is_the_one_streamer_fastpath_follows() -> None:
    """streamer.fastpath.handle_request is gunicorn 27's ``AsyncWorker.handle_request`` step
    for step, with its own response class handed to ``wsgi.create``; its response keeps
    ``Response``'s fields. If gunicorn changes either, read it again and follow."""
    from gunicorn.http import wsgi
    from gunicorn.workers.base_async import AsyncWorker

    source = inspect.getsource(AsyncWorker.handle_request)
    for step in ("self.cfg.pre_request(self, req)", "wsgi.create(req, sock, addr",
                 "self.nr += 1", "resp.force_close()", "self.is_already_handled(respiter)",
                 "environ['wsgi.file_wrapper']", "resp.write(item)", "resp.close()",
                 "self.log.access(resp, req, environ, request_time)", "resp.should_close()",
                 "resp.headers_sent", "self.cfg.post_request(self, req, environ, resp)"):
        assert step in source, step
    assert source.count("\n") < 60, "gunicorn's request path grew: compare with fastpath"
    assert "response_class" in inspect.signature(wsgi.create).parameters
    fields = inspect.getsource(wsgi.Response.__init__)
    for field in ("self.headers_sent", "self.chunked", "self.response_length", "self.sent",
                  "self.upgrade", "self.version"):
        assert field in fields, field
    assert "util.write_chunk(self.sock" in inspect.getsource(wsgi.Response.close)


# -- nothing outside streamer._compat ----------------------------------------------------------

_PRIVATE_TOUCHES = [
    r"^\s*from\s+(?!\.)[\w.]*\._\w+\s+import",  # from gevent._hub_local import ...
    r"^\s*from\s+(?!\.)[\w.]+\s+import\s+.*\b_[a-z]\w*",  # from flask.globals import _cv_app
    r"\b(?:logging|threading|gevent|flask|httpx2?|httpcore2?|prometheus_client)\._[a-z]",
    r"\w\._(?:cv_tokens|sock|ready|sum|buckets|upper_bounds|transport|pool|network_backend)\b",
    r"getattr\([^,]+,\s*[\"']_(?:sock|transport|pool)[\"']",
]


def test_no_module_outside_compat_touches_another_librarys_internals() -> None:
    root = Path(__file__).resolve().parents[2]
    patterns = [re.compile(p) for p in _PRIVATE_TOUCHES]
    found = []
    for path in [*sorted((root / "streamer").rglob("*.py")), root / "gunicorn.conf.py",
                 root / "app.py", root / "wsgi.py"]:
        if "_compat" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = re.sub(r"\bself\._\w+", "self.x", line.split("#", 1)[0])
            code = re.sub(r"``[^`]*``", "", code)  # names quoted in docstrings
            if any(p.search(code) for p in patterns):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not found, "private names of other libraries outside streamer._compat:\n" + \
        "\n".join(found)
