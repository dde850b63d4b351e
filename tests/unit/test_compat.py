"""Fast tier of streamer._compat: every private name streamer reaches still means what it meant
in the version it was read from. A new version of gevent, Flask, httpcore2, gunicorn or CPython
that changes one fails, naming it, before anything else notices: here for the package (and
gunicorn, which has no module of its own), in test_compat_<dependency>.py for each module."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

# -- gunicorn ----------------------------------------------------------------------------------


def test_gunicorn_writes_its_refusal_through_sendall() -> None:
    """streamer.worker.refusals captures gunicorn's HTML refusal by handing ``handle_error`` a
    socket whose ``sendall`` keeps what is written; that is how gunicorn 27 writes it."""
    from gunicorn import util
    from gunicorn.workers.base import Worker

    assert "util.write_error(" in inspect.getsource(Worker.handle_error)
    assert "sendall" in inspect.getsource(util.write_error) + inspect.getsource(util.write)


def test_gunicorn_request_path_is_the_one_streamer_fastpath_follows() -> None:
    """streamer.worker.fastpath.handle_request is gunicorn 27's ``AsyncWorker.handle_request`` step
    for step, with its own response class handed to ``wsgi.create``; its response keeps
    ``Response``'s fields. If gunicorn changes either, read it again and follow."""
    from gunicorn.http import wsgi
    from gunicorn.workers.base_async import AsyncWorker

    source = inspect.getsource(AsyncWorker.handle_request)
    for step in (
        "self.cfg.pre_request(self, req)",
        "wsgi.create(req, sock, addr",
        "self.nr += 1",
        "resp.force_close()",
        "self.is_already_handled(respiter)",
        "environ['wsgi.file_wrapper']",
        "resp.write(item)",
        "resp.close()",
        "self.log.access(resp, req, environ, request_time)",
        "resp.should_close()",
        "resp.headers_sent",
        "self.cfg.post_request(self, req, environ, resp)",
    ):
        assert step in source, step
    assert source.count("\n") < 60, "gunicorn's request path grew: compare with fastpath"
    assert "response_class" in inspect.signature(wsgi.create).parameters
    fields = inspect.getsource(wsgi.Response.__init__)
    for field in (
        "self.headers_sent",
        "self.chunked",
        "self.response_length",
        "self.sent",
        "self.upgrade",
        "self.version",
    ):
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
    for path in [
        *sorted((root / "streamer").rglob("*.py")),
        root / "gunicorn.conf.py",
        root / "app.py",
        root / "wsgi.py",
    ]:
        if "_compat" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = re.sub(r"\bself\._\w+", "self.x", line.split("#", 1)[0])
            code = re.sub(r"``[^`]*``", "", code)  # names quoted in docstrings
            if any(p.search(code) for p in patterns):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not found, "private names of other libraries outside streamer._compat:\n" + "\n".join(
        found
    )
