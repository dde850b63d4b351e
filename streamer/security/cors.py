"""CORS for browsers, by allow-list (``STREAMER_CORS_ORIGINS``).

An allowed ``Origin`` gets ``Access-Control-Allow-Origin`` echoed back (with ``Vary: Origin``)
and may read ``X-Stream-Id``, ``X-Stream-Token`` and ``Retry-After``; preflights (``OPTIONS`` with
``Access-Control-Request-Method``) are answered here with 204 before authentication, since a
browser never sends credentials on a preflight. ``*`` in the list allows any origin and is
sent as ``*``. Credentials (cookies) are never allowed: clients authenticate with a bearer
key, which a page sends explicitly, so ``Access-Control-Allow-Credentials`` is never sent,
and the spec forbids it together with ``*`` anyway. A disallowed origin gets no CORS
headers at all (the browser then refuses the response to the page).

A divergence from flask-cors: about 40 lines here instead of a dependency, because the
policy is fixed (one list, no per-route rules) and must be read in one place.
"""

from __future__ import annotations

import re

from flask import Flask, Response, request

from ..errors import ConfigError
from ..quote import echo

ALLOW_METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, Last-Event-ID, X-Streamer-Resumable, "
    # What the openai npm package sends from a browser (streamer.service.openai_api).
    "OpenAI-Organization, OpenAI-Project, X-Stainless-Arch, X-Stainless-Lang, "
    "X-Stainless-OS, X-Stainless-Package-Version, X-Stainless-Retry-Count, "
    "X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Timeout, "
    # The Durable Streams protocol's (streamer.server.durable, docs/durable-streams.md).
    "If-None-Match, Stream-Seq, Stream-TTL, Stream-Expires-At, Stream-Closed, "
    "Stream-Forked-From, Stream-Fork-Offset, Stream-Fork-Sub-Offset, Producer-Id, "
    "Producer-Epoch, Producer-Seq"
)
EXPOSE_HEADERS = (
    "X-Stream-Id, X-Stream-Token, Retry-After, "
    "Stream-Next-Offset, Stream-Cursor, Stream-Up-To-Date, Stream-Closed, Stream-TTL, "
    "Stream-Expires-At, Stream-SSE-Data-Encoding, Producer-Epoch, Producer-Seq, "
    "Producer-Expected-Seq, Producer-Received-Seq, ETag, Location"
)
MAX_AGE_S = "600"
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|\*")


def install(app: Flask, origins: tuple[str, ...]) -> None:
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(
                "STREAMER_CORS_ORIGINS must list origins such as "
                f"https://app.example:8443 (or *), got {echo(origin)}"
            )
    if not origins:
        return
    wildcard = "*" in origins
    allowed = frozenset(o.lower() for o in origins)

    def allow_origin() -> str | None:
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        if wildcard:
            return "*"
        return origin if origin.lower() in allowed else None

    @app.before_request
    def preflight() -> Response | None:
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        response = Response(status=204)
        del response.headers["Content-Type"]
        origin = allow_origin()
        response.headers["Vary"] = "Origin"
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = MAX_AGE_S
        return response

    @app.after_request
    def add_headers(response: Response) -> Response:
        if "Access-Control-Allow-Origin" in response.headers:
            return response  # a preflight, already answered
        origin = allow_origin()
        if not wildcard:
            response.vary.add("Origin")
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response
