"""The Flask app factory: routes and error handlers. No work at import time.

>>> app = create_app({"STREAMER_HEARTBEAT_S": "5"})   # tests: env-style overrides
>>> app = create_app(Config(heartbeat_s=5))              # or a Config
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from streamer import auth, cors
from streamer.chat import make_provider, parse_chat_body
from streamer.config import Config
from streamer.context import current_store
from streamer.errors import BadRequest, StreamerError
from streamer.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from streamer.metrics import Metrics
from streamer.openapi import document as openapi_document
from streamer.params import bool_param, float_param, int_param
from streamer.producers import data_chunks, series
from streamer.registry import StreamRegistry
from streamer.response import StreamStats, stream_for_request
from streamer.resumable import STORE_EXTENSION, check_owner, follow_response, resumable_response
from streamer.sendguard import check_interval
from streamer.store import open_store, valid_stream_id

log = logging.getLogger("streamer")
access_log = logging.getLogger("streamer.access")

MAX_COUNT = 100_000
MAX_INTERVAL_S = 60.0
MAX_BODY_BYTES = 1 << 20


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
    app.config["STREAMER"] = cfg
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    metrics = Metrics()
    app.extensions["streamer.metrics"] = metrics
    app.extensions["streamer.observers"] = [AccessLog(), metrics]
    app.extensions["streamer.streams"] = StreamRegistry(tick_s=_sweep_interval(cfg))
    app.extensions["streamer.chat"] = make_provider(cfg)
    app.extensions[STORE_EXTENSION] = open_store(cfg)  # connects lazily, on first use

    _register_errors(app)
    # CORS first: a browser's preflight carries no key and must be answered before auth.
    cors.install(app, cfg.cors_origins)
    auth.install(app, cfg)
    _register_routes(app)
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


def _sweep_interval(cfg: Config) -> float:
    """How often the registry checks each stream's send guard and deadline: each at most
    1/8 of its timeout (and 2 s) late, by the send guard's own rule."""
    deadline = check_interval(cfg.max_stream_s)
    return min(check_interval(cfg.send_timeout_s), deadline) if cfg.send_timeout_s > 0 else deadline


class AccessLog:
    """One log line per stream, when it ends. Routes, not URLs: query strings may hold keys."""

    def started(self, route: str, fmt: str) -> None:
        pass

    def finished(self, route: str, stats: StreamStats) -> None:
        ttfb = stats.ttfb_s
        access_log.info(
            "stream route=%s status=%d format=%s outcome=%s records=%d bytes=%d "
            "duration_s=%.3f ttfb_ms=%s%s",
            route, stats.status, stats.format,
            stats.outcome, stats.records, stats.bytes, stats.duration_s,
            "-" if ttfb is None else f"{ttfb * 1000:.1f}",
            f" error={stats.error_type}" if stats.error_type else "")


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
        if bool_param(request.args, "resumable"):
            return resumable_response(data_chunks(count, interval))
        return stream_for_request(data_chunks(count, interval))

    @app.get("/stream/series")
    def stream_series() -> Response:
        count = int_param(request.args, "count", 200, 0, MAX_COUNT)
        interval = float_param(request.args, "interval", 0.1, 0.0, MAX_INTERVAL_S)
        seed = int_param(request.args, "seed", secrets.randbelow(2**31), 0, 2**63 - 1)
        return stream_for_request(series(count, interval, seed))

    @app.post("/chat")
    def chat() -> Response:
        cfg: Config = app.config["STREAMER"]
        raw = request.get_data(cache=False)
        if request.content_length is None and len(raw) >= MAX_BODY_BYTES:
            # A chunked body has no Content-Length to refuse up front, and Werkzeug's
            # LimitedStream quietly truncates it at the limit: refuse it here instead of
            # parsing a cut body (a body of exactly the limit is refused too).
            raise RequestEntityTooLarge()
        body = parse_chat_body(request.content_type, raw, cfg.chat_model)
        provider = app.extensions["streamer.chat"]
        if body.resumable:
            # Runs to the end detached from this request; X-Stream-Id names it for resumes.
            return resumable_response(provider.stream(body))
        return stream_for_request(provider.stream(body))

    @app.get("/metrics")
    def metrics() -> Response:
        body = app.extensions["streamer.metrics"].render()
        return Response(body, content_type=METRICS_CONTENT_TYPE)

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document(app.config["STREAMER"]))

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

    @app.get("/streams/<stream_id>")
    def get_stream(stream_id: str) -> Response:
        raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or "0"
        after_id = _last_event_id(raw)
        return follow_response(check_owner(valid_stream_id(stream_id)), after_id)

    @app.delete("/streams/<stream_id>")
    def delete_stream(stream_id: str) -> Response:
        stream_id = check_owner(valid_stream_id(stream_id))
        if not current_store().cancel(stream_id):
            return Response(status=204)  # already finished: nothing to cancel
        response = jsonify({"id": stream_id, "status": "cancelled"})
        response.status_code = 202
        return response


def _last_event_id(raw: str) -> int:
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequest(f"Last-Event-ID must be a whole number, got {raw[:40]!r}",
                         type="invalid_last_event_id")
    return int(raw)


def error_body(type: str, message: str, status: int) -> Response:
    response = jsonify({"error": {"type": type, "message": message}})
    response.status_code = status
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(StreamerError)
    def streamer_error(exc: StreamerError) -> Response:
        response = error_body(exc.type, exc.message, exc.status)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response

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
