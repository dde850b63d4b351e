"""The fast tier runs in-process: it never starts gunicorn, Redis, nginx, a browser or a
container (those tests live in tests/real/). The fixtures that would start one fail here
instead, and so does a subprocess that would run one."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from streamer.service.settings import ServiceConfig

REAL_PROGRAMS = (
    "gunicorn",
    "redis-server",
    "nginx",
    "chromium",
    "chrome",
    "docker",
    "podman",
    "hadolint",
)


def _refuse(what: str) -> None:
    pytest.fail(
        f"the fast tier does not start {what}: this test belongs in tests/real/", pytrace=False
    )


@pytest.fixture
def server() -> None:
    _refuse("gunicorn (the session server)")


@pytest.fixture
def make_server() -> None:
    _refuse("gunicorn")


@pytest.fixture
def app() -> Flask:
    """The demo app with a 0.2 s heartbeat and the test endpoints (/_test/...)."""
    return create_app(ServiceConfig(heartbeat_s=0.2, max_stream_s=5, testing=True))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _program(args: Any) -> str:
    argv = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
    first = os.path.basename(os.fsdecode(argv[0])) if argv else ""
    if "-m" in argv[:-1]:  # python -m gunicorn
        return os.fsdecode(argv[argv.index("-m") + 1])
    return first


@pytest.fixture(autouse=True, scope="module")
def _no_real_programs() -> Iterator[None]:
    real_init = subprocess.Popen.__init__

    def guarded(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        program = _program(args)
        if program.startswith(REAL_PROGRAMS):
            _refuse(program)
        real_init(self, args, *rest, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", guarded)
        yield
