"""The demo service's own endpoints: the page, its data streams, chat, health, readiness,
metrics and the OpenAPI document, plus error pages that answer every error as JSON.

Built on the library's public API like any user's app; ``app.py`` composes it with the
extension, the security add-ons and the OpenAI-compatible API.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..errors import StreamerError
from ..llm import ChatProvider
from ..server.jsonerror import json_error
from ..server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ..server.state import current_state, current_store
from ..server.streaming import stream
from .chat import answer_records, parse_chat_body
from .openapi import MAX_COUNT, MAX_INTERVAL_S
from .openapi import document as openapi_document
from .params import bool_param, float_param, int_param
from .producers import data_chunks, series
from .settings import ServiceConfig

log = logging.getLogger("streamer")

MAX_BODY_BYTES = 1 << 20

#: For streamer.security.auth: endpoints that never need a key, that need none while
#: STREAMER_OPEN_DEMO is on, and whose responses are streams (a per-key slot while open).
OPEN_ENDPOINTS = ("healthz", "readyz", "metrics", "openapi")
DEMO_ENDPOINTS = ("page", "index", "static", "stream_data", "stream_series")
STREAM_ENDPOINTS = (
    "chat",
    "stream_data",
    "stream_series",
    "testing.stream",
    "benchmark.stream_bench",
)


def register(app: Flask, provider: ChatProvider, config: ServiceConfig) -> None:
    """The demo's routes on ``app`` (set up with ``Streamer(app)``): the page, its data
    streams, ``POST /chat`` answered by ``provider``, health, readiness, metrics and the
    OpenAPI document; and its error pages (every error a JSON body)."""
    _register_errors(app)

    @app.get("/")
    def page() -> Response:
        return app.send_static_file("index.html")

    @app.get("/api")
    def index() -> Response:
        return jsonify(
            {
                "service": "streamer",
                "endpoints": [
                    "/stream/data",
                    "/stream/series",
                    "POST /chat",
                    "/streams/<id>",
                    "/healthz",
                    "/readyz",
                    "/metrics",
                    "/openapi.json",
                ],
                "formats": ["text", "ndjson", "sse"],
            }
        )

    @app.get("/stream/data")
    def stream_data() -> Response:
        count = int_param(request.args, "count", 1000, 0, MAX_COUNT)
        interval = float_param(request.args, "interval", 1.0, 0.0, MAX_INTERVAL_S)
        return stream(data_chunks(count, interval), resumable=bool_param(request.args, "resumable"))

    @app.get("/stream/series")
    def stream_series() -> Response:
        count = int_param(request.args, "count", 200, 0, MAX_COUNT)
        interval = float_param(request.args, "interval", 0.1, 0.0, MAX_INTERVAL_S)
        seed = int_param(request.args, "seed", secrets.randbelow(2**31), 0, 2**63 - 1)
        return stream(series(count, interval, seed))

    @app.post("/chat")
    def chat() -> Response:
        raw = request.get_data(cache=False)
        if request.content_length is None and len(raw) >= MAX_BODY_BYTES:
            # A chunked body has no Content-Length to refuse up front, and Werkzeug's
            # LimitedStream quietly truncates it at the limit: refuse it here instead of
            # parsing a cut body (a body of exactly the limit is refused too).
            raise RequestEntityTooLarge()
        body = parse_chat_body(request.content_type, raw, config.chat_model)
        # Resumable: runs to the end detached from this request; X-Stream-Id names it.
        return stream(answer_records(provider.stream(body)), resumable=body.resumable)

    @app.get("/metrics")
    def metrics() -> Response:
        body = current_state().metrics.render()
        return Response(body, content_type=METRICS_CONTENT_TYPE)

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document(config))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        store = current_store()
        try:
            store.ping()
        except StreamerError as exc:
            response = jsonify(
                {"status": "unavailable", "store": store.name, "error": exc.to_json()}
            )
            response.status_code = 503
            response.headers["Retry-After"] = "5"
            return response
        return jsonify({"status": "ready", "store": store.name})


def error_body(type: str, message: str, status: int) -> Response:
    return json_error(status, type, message)


def _register_errors(app: Flask) -> None:
    # StreamerError is the extension's (streamer.server.extension.error_response): the same body.
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
