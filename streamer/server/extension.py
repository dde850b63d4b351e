"""The Flask extension: ``Streamer(app)`` or ``Streamer().init_app(app)``.

It reads its settings from ``app.config`` under the environment variables' names
(``STREAMER_HEARTBEAT_S``, ``STREAMER_MAX_STREAMS``, ``STREAMER_REDIS_URL`` or ``REDIS_URL``,
``STREAMER_STREAMS_PREFIX``, ...; see :class:`streamer.config.Config` for the defaults), once,
at ``init_app``, and installs what a stream needs and nothing else:

- the app's ``json_default`` (``Streamer(app, json_default=fn)`` or
  ``app.config["STREAMER_JSON_DEFAULT"]``; a function, so not a :class:`Config` setting, which
  the environment can set): how payloads that are neither JSON-native, pydantic models nor
  dataclasses become JSON (:mod:`streamer.wire.framing`);

- the registry of open streams (``STREAMER_MAX_STREAMS``; graceful shutdown with
  :mod:`streamer.worker`; the deadline and send-timeout sweep);
- a JSON error response for :class:`~streamer.errors.StreamerError` only (the app's own
  error pages stay its own);
- the access line (logger ``streamer.access``) and, when prometheus-client is installed,
  the stream metrics (:func:`streamer.server.state.current_state` ``().metrics.render()``);
- the stream store (Redis with a Redis URL, else in memory) and the resume routes
  ``GET``/``DELETE <prefix>/<id>``;
- with ``STREAMER_DURABLE``, the Durable Streams protocol at ``STREAMER_DURABLE_PREFIX/<path>``
  (:mod:`streamer.server.durable`).

Authentication (:mod:`streamer.security.auth`) and CORS (:mod:`streamer.security.cors`) are
separate, opt-in. Its state is one :class:`~streamer.server.state.StreamerState` in
``app.extensions["streamer"]``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Flask, Response

from ..config import Config
from ..engine.registry import StreamRegistry
from ..engine.sendguard import check_interval
from ..errors import ConfigError, StreamerError
from ..store import open_store
from ..wire.framing import FORMATS, JsonDefault, with_json_default
from . import redirects
from .access import AccessLog
from .bodydeadline import BodyDeadline
from .jsonerror import json_error
from .resumable.routes import blueprint
from .state import EXTENSION, StreamerState, StreamObserver

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger("streamer")


class Streamer:
    """Streaming for a Flask app.

    >>> app = Flask(__name__)
    >>> app.config["STREAMER_HEARTBEAT_S"] = 5
    >>> Streamer(app)                       # or: ext = Streamer(); ext.init_app(app)

    ``config`` (a :class:`~streamer.config.Config`) replaces ``app.config`` as the source.

    ``json_default`` (else ``app.config["STREAMER_JSON_DEFAULT"]``) serialises what a producer
    yields that JSON, pydantic's ``model_dump`` and dataclasses do not cover, as
    ``json.dumps(default=...)`` would: return something JSON-serialisable, or raise
    :class:`TypeError`. It is called only for such objects, never for a dict or a str.

    >>> Streamer(app, json_default=str)     # datetimes, Decimals, UUIDs... as their str()
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        config: Config | None = None,
        json_default: JsonDefault | None = None,
    ) -> None:
        self._config = config
        self._json_default = json_default
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Set streamer up on ``app``, once: a second registration on the same app is a
        :class:`~streamer.errors.ConfigError` (it would leave two registries and two stores,
        and the routes registered twice)."""
        if EXTENSION in app.extensions:
            raise ConfigError(
                "streamer is already set up on this app: call Streamer(app) or "
                "init_app(app) once per app"
            )
        config = self._config if self._config is not None else Config.from_mapping(app.config)
        default = self._json_default or app.config.get("STREAMER_JSON_DEFAULT")
        if default is not None and not callable(default):
            raise ConfigError(
                f"STREAMER_JSON_DEFAULT must be a function, got {type(default).__name__}"
            )
        formats = FORMATS
        if default is not None:
            formats = {name: with_json_default(enc, default) for name, enc in FORMATS.items()}
        metrics = _metrics()
        observers: list[StreamObserver] = [AccessLog()]
        if metrics is not None:
            observers.append(metrics)
        app.extensions[EXTENSION] = StreamerState(
            config=config,
            registry=StreamRegistry(tick_s=sweep_interval(config)),
            store=open_store(config),  # connects lazily, on first use
            observers=observers,
            metrics=metrics,
            formats=formats,
            json_default=default,
        )
        app.register_error_handler(StreamerError, error_response)
        # Request edges (docs/hardening.md): every read of a request body has a deadline, and
        # the router's own redirects never carry the request's Host.
        app.wsgi_app = BodyDeadline(  # type: ignore[method-assign]
            app.wsgi_app,
            timeout_s=config.body_timeout_s,
            min_rate=config.body_min_rate,
            on_drop=metrics.body_dropped if metrics is not None else None,
        )
        redirects.install(app)
        app.register_blueprint(blueprint(config.streams_prefix))
        if config.durable:
            from . import durable

            durable.install(app, config)


def error_response(exc: StreamerError) -> Response:
    """``{"error": {"type", "message"}}`` with the error's status (and ``Retry-After``)."""
    return json_error(exc.status, exc.type, exc.message, exc.retry_after)


def sweep_interval(cfg: Config) -> float:
    """How often the registry checks each stream's send guard and deadline: each at most
    1/8 of its timeout (and 2 s) late, by the send guard's own rule."""
    deadline = check_interval(cfg.max_stream_s)
    return min(check_interval(cfg.send_timeout_s), deadline) if cfg.send_timeout_s > 0 else deadline


def _metrics() -> Metrics | None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return None
    from .metrics import Metrics

    return Metrics()
