"""gunicorn settings for streamer, all from the environment (see README: Configuration).

gevent workers hold thousands of open streams each; the values below come from the same
:class:`streamer.service.settings.ServiceConfig` as the app, so a bad value stops start-up naming
the variable.
"""

from __future__ import annotations

import logging
import os
import resource
import secrets
import sys
from typing import Any

from gunicorn.glogging import Logger

from streamer._compat.stdlib import skip_caller_lookup
from streamer.service.settings import ServiceConfig
from streamer.worker.overflow import slots

_cfg = ServiceConfig.from_env()

# Read tokens (streamer.security.tokens) must verify in every worker of this instance. Without
# STREAMER_TOKEN_SECRET, make one random secret here, before the fork, for all of them; other
# instances have their own, so a balancer in front of several needs the variable set.
if _cfg.api_keys and not _cfg.token_secret:
    os.environ["STREAMER_TOKEN_SECRET"] = secrets.token_urlsafe(32)
    sys.stderr.write(
        "WARNING streamer: STREAMER_TOKEN_SECRET is not set: read tokens are "
        "signed with a random secret of this instance; set one shared secret "
        "when several instances serve one client\n"
    )

bind = [f"[{_cfg.host}]:{_cfg.port}" if ":" in _cfg.host else f"{_cfg.host}:{_cfg.port}"]
# gunicorn's gevent worker, plus graceful shutdown of open streams, multi-worker metrics and
# gunicorn's own refusals of malformed requests as JSON.
worker_class = "streamer.worker.Worker"
workers = _cfg.workers
worker_connections = _cfg.worker_connections
# gevent workers notify the master from their own greenlet, so a long stream never trips
# this; it only catches a worker whose hub is truly stuck.
timeout = 30
graceful_timeout = int(_cfg.graceful_timeout_s)
keepalive = 5
# Streams are long-lived; never recycle a worker under them by request count.
max_requests = 0
# Each open stream is one file descriptor: let a worker use what the hard limit allows.
# (+ the spare slots whose connections are refused at once: streamer.worker.overflow)
_needed = worker_connections + slots(worker_connections) + 256

# gunicorn 27's control socket lives at one path per user: several instances on one host (two
# services behind a balancer, parallel tests) would fight over it, and a read-only container
# HOME cannot hold it. Nothing here uses it.
control_socket_disable = True

accesslog = None  # one line per stream comes from the streamer.access logger instead


class _NoAccessLog(Logger):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn builds its access-log atoms for every request whenever ``logconfig_dict`` is
    set, even with ``gunicorn.access`` silenced below: ~5% of a short stream's worker CPU
    (bench/per_stream.py). streamer.access logs each stream instead, so skip it outright."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        pass


logger_class = _NoAccessLog
# One streamer.access line per stream: skip the LogRecord fields no formatter here uses (the
# calling file and line, which walks the stack; thread, process and multiprocessing names),
# as the logging HOWTO's "Optimization" section suggests. A format that wants them must turn
# these back on. -49k of 1,712k worker instructions per request (bench/per_stream.py).
skip_caller_lookup()
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False

logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    # The standard formatter and StreamHandler, with less work per line (streamer.worker.logsink).
    "formatters": {
        "plain": {
            "class": "streamer.worker.logsink.Formatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    },
    "handlers": {
        "stderr": {
            "class": "streamer.worker.logsink.StderrHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {
        "streamer": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
    },
}


# gevent records each new greenlet's spawning stack (a walk of ~10 frames of Flask and
# gunicorn) for debugging tools; streamer spawns one greenlet per stream. Off unless the
# operator sets it (the variable is gevent's own, read at the first spawn in the worker).
os.environ.setdefault("GEVENT_TRACK_GREENLET_TREE", "false")


def post_fork(server: Any, worker: Any) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _needed if hard == resource.RLIM_INFINITY else min(_needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
