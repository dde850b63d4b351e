"""The demo service: a Flask app built on streamer's public API (``Streamer``, ``stream()``)
like any user's app, plus its own routes (:mod:`streamer.service`), keys, CORS, error pages
and the OpenAI-compatible API. No work at import time.

>>> app = create_app({"STREAMER_HEARTBEAT_S": "5"})      # tests: env-style overrides
>>> app = create_app(ServiceConfig(heartbeat_s=5))        # or a config
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from flask import Flask

from streamer import Streamer
from streamer.llm import ChatProvider
from streamer.security import auth, cors, fairness
from streamer.service import openai_api, views
from streamer.service.chat import make_provider
from streamer.service.settings import ServiceConfig

log = logging.getLogger("streamer")


def create_app(
    config: ServiceConfig | Mapping[str, str] | None = None, *, provider: ChatProvider | None = None
) -> Flask:
    """Build the app. ``config`` is a :class:`ServiceConfig`, a mapping of environment-style
    overrides applied on top of the process environment, or None (the environment).
    ``provider`` answers the chats instead of the one the config chooses (benchmarks)."""
    if config is None:
        cfg = ServiceConfig.from_env()
    elif isinstance(config, ServiceConfig):
        cfg = config
    else:
        cfg = ServiceConfig.from_env({**os.environ, **config})

    # The demo page's files live in the service's package, so the image already holds them.
    app = Flask(__name__, static_folder="streamer/service/static")
    app.config["MAX_CONTENT_LENGTH"] = views.MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    Streamer(app, config=cfg)  # registry, store, /streams/<id>, StreamerError as JSON, metrics
    if provider is None:
        provider = make_provider(cfg)

    # CORS first: a browser's preflight carries no key and must be answered before auth.
    cors.install(app, cfg.cors_origins)
    stream_endpoints = (*views.STREAM_ENDPOINTS, *openai_api.STREAM_ENDPOINTS)
    # Per client address, before auth: requests without a valid key count too. Both count
    # the Durable Streams URLs' live reads (long-poll, SSE) as open streams by themselves;
    # their appends are requests, not new streams, and meet neither limit nor the rate.
    fairness.install(app, cfg, stream_endpoints=stream_endpoints)
    auth.install(
        app,
        cfg,
        open_endpoints=views.OPEN_ENDPOINTS,
        demo_endpoints=views.DEMO_ENDPOINTS if cfg.open_demo else (),
        stream_endpoints=stream_endpoints,
    )
    views.register(app, provider, cfg)
    openai_api.register(app, provider, model=cfg.chat_model)  # /v1 (docs/openai.md)
    if cfg.testing:
        from streamer.service.testing import bp

        app.register_blueprint(bp)
    if cfg.bench:
        from streamer.service.benchmark import bp as bench_bp

        app.register_blueprint(bench_bp)
    if not cfg.api_keys:
        log.warning("STREAMER_API_KEYS is not set: the service is open to anyone who can reach it")
    return app
