"""The demo service: a Flask app built on streamer's public API (``Streamer``, ``stream()``)
like any user's app, plus its own routes, keys, CORS and error pages. No work at import time.

>>> app = create_app({"STREAMER_HEARTBEAT_S": "5"})   # tests: env-style overrides
>>> app = create_app(Config(heartbeat_s=5))              # or a Config
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from streamer import Config, Streamer, StreamerError, auth, cors, stream
from streamer.chat import make_provider, parse_chat_body
from streamer.context import current_state, current_store
from streamer.jsonerror import json_error
from streamer.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from streamer.openai_api import STREAM_ENDPOINTS as OPENAI_STREAM_ENDPOINTS
from streamer.openapi import MAX_COUNT, MAX_INTERVAL_S
from streamer.openapi import document as openapi_document
from streamer.params import bool_param, float_param, int_param
from streamer.producers import data_chunks, series

log = logging.getLogger("streamer")

MAX_BODY_BYTES = 1 << 20

# For streamer.auth: endpoints that never need a key, that need none while
# STREAMER_OPEN_DEMO is on, and whose responses are streams (a per-key slot while open).
OPEN_ENDPOINTS = ("healthz", "readyz", "metrics", "openapi")
DEMO_ENDPOINTS = ("page", "index", "static", "stream_data", "stream_series")
STREAM_ENDPOINTS = ("chat", "stream_data", "stream_series", "testing.stream",
                    "benchmark.stream_bench", *OPENAI_STREAM_ENDPOINTS)


def create_app(config: Config | Mapping[str, str] | None = None) -> Flask:
    """Build the app. ``config`` is a :class:`Config`, a mapping of environment-style
    overrides applied on top of the process environment, or None (the environment)."""
    if config is None:
        cfg = Config.from_env()
    elif isinstance(config, Config):
        cfg = config
    else:
        import os

        cfg = Config.from_env({**os.environ, **config})

    # The demo page's files live in the package, so the container image already holds them.
    app = Flask(__name__, static_folder="streamer/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    Streamer(app, config=cfg)  # registry, store, /streams/<id>, StreamerError as JSON, metrics
    app.extensions["streamer.chat"] = make_provider(cfg)

    _register_errors(app)
    # CORS first: a browser's preflight carries no key and must be answered before auth.
    cors.install(app, cfg.cors_origins)
    auth.install(app, cfg, open_endpoints=OPEN_ENDPOINTS, demo_endpoints=DEMO_ENDPOINTS,
                 stream_endpoints=STREAM_ENDPOINTS)
    _register_routes(app)
    _register_openai_api(app)
    if cfg.testing:
        from streamer.testing import bp

        app.register_blueprint(bp)
    if cfg.bench:
        from streamer.benchmark import bp as bench_bp

        app.register_blueprint(bench_bp)
    if not cfg.api_keys:
        log.warning("STREAMER_API_KEYS is not set: the service is open to anyone who can "
                    "reach it")
    return app


def _register_openai_api(app: Flask) -> None:
    """The OpenAI-compatible /v1 API (docs/openai.md)."""
    from streamer.openai_api import register

    register(app)


def _register_routes(app: Flask) -> None:
    @app.get("/")
    def page() -> Response:
        return app.send_static_file("index.html")

    @app.get("/api")
    def index() -> Response:
        return jsonify({
            "service": "streamer",
            "endpoints": ["/stream/data", "/stream/series", "POST /chat", "/streams/<id>",
                          "/healthz", "/readyz", "/metrics", "/openapi.json"],
            "formats": ["text", "ndjson", "sse"],
        })

    @app.get("/stream/data")
    def stream_data() -> Response:
        count = int_param(request.args, "count", 1000, 0, MAX_COUNT)
        interval = float_param(request.args, "interval", 1.0, 0.0, MAX_INTERVAL_S)
        return stream(data_chunks(count, interval),
                      resumable=bool_param(request.args, "resumable"))

    @app.get("/stream/series")
    def stream_series() -> Response:
        count = int_param(request.args, "count", 200, 0, MAX_COUNT)
        interval = float_param(request.args, "interval", 0.1, 0.0, MAX_INTERVAL_S)
        seed = int_param(request.args, "seed", secrets.randbelow(2**31), 0, 2**63 - 1)
        return stream(series(count, interval, seed))

    @app.post("/chat")
    def chat() -> Response:
        cfg = current_state().config
        raw = request.get_data(cache=False)
        if request.content_length is None and len(raw) >= MAX_BODY_BYTES:
            # A chunked body has no Content-Length to refuse up front, and Werkzeug's
            # LimitedStream quietly truncates it at the limit: refuse it here instead of
            # parsing a cut body (a body of exactly the limit is refused too).
            raise RequestEntityTooLarge()
        body = parse_chat_body(request.content_type, raw, cfg.chat_model)
        provider = app.extensions["streamer.chat"]
        # Resumable: runs to the end detached from this request; X-Stream-Id names it.
        return stream(provider.stream(body), resumable=body.resumable)

    @app.get("/metrics")
    def metrics() -> Response:
        body = current_state().metrics.render()
        return Response(body, content_type=METRICS_CONTENT_TYPE)

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document(current_state().config))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        store = current_store()
        try:
            store.ping()
        except StreamerError as exc:
            response = jsonify({"status": "unavailable", "store": store.name,
                                "error": exc.to_json()})
            response.status_code = 503
            response.headers["Retry-After"] = "5"
            return response
        return jsonify({"status": "ready", "store": store.name})


def error_body(type: str, message: str, status: int) -> Response:
    return json_error(status, type, message)


def _register_errors(app: Flask) -> None:
    # StreamerError is the extension's (streamer.extension.error_response): the same body.
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        name = (exc.name or "error").lower().replace(" ", "_")
        response = error_body(name, exc.description or name, exc.code or 500)
        for key, value in exc.get_headers():
            if key.lower() == "allow":
                response.headers[key] = value
        return response

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_body("internal_error", "internal error", 500)
