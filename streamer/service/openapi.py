"""The OpenAPI 3.1 document of the service, served at ``/openapi.json``.

Written by hand, as data, next to the routes it describes; ``tests/unit/test_service_openapi.py``
keeps the two in step (every route is documented, every documented path is a route) and schemathesis
checks live responses against it. The streaming responses are documented by media type
(``text/plain``, ``application/x-ndjson``, ``text/event-stream``) with the record shapes of
docs/design.md as prose: OpenAPI has no way to describe a sequence of records on one body.
Test-only and benchmark endpoints (``/_test/*``, ``/stream/bench``) are left out.
"""

from __future__ import annotations

from typing import Any

from .chat_body import MAX_CONTENT_CHARS, MAX_MESSAGES, MAX_TOKENS, ROLES
from .openai_api.openapi import SCHEMAS as OPENAI_SCHEMAS
from .openai_api.openapi import paths as openai_paths
from .settings import ServiceConfig

# The demo endpoints' bounds (/stream/data, /stream/series): app.py reads them from here.
MAX_COUNT = 100_000
MAX_INTERVAL_S = 60.0
MAX_SEED = 2**63 - 1

_ERROR = {"$ref": "#/components/schemas/Error"}
_STREAM_DOC = (
    "The body is streamed with chunked transfer encoding as records are produced. `text`: the "
    "payloads themselves. `ndjson`: one JSON object per line, `data` records "
    '(`{"event":"data","id":N,"data":...}`), then `end` on success or `error` on failure, '
    "with `ping` during silence. `sse`: the same as Server-Sent Events. A stream that fails "
    "after its first byte ends without the chunked terminator."
)


def _json_error(description: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ERROR}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "schema": {"type": "integer", "minimum": 1},
                "description": "seconds to wait",
            }
        }
    return response


def _stream(description: str, stream_id: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description + " " + _STREAM_DOC,
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/event-stream": {"schema": {"$ref": "#/components/schemas/ServerSentEvent"}},
        },
    }
    if stream_id:
        response["headers"] = {
            "X-Stream-Id": {
                "schema": {"type": "string"},
                "description": "the id of a resumable stream",
            },
            "X-Stream-Token": {
                "schema": {"type": "string"},
                "description": "with client keys: a short-lived read token "
                "of this stream, for GET /streams/{id}?token=",
            },
        }
    return response


def _query(
    name: str, schema: dict[str, Any], description: str, empty: bool = True
) -> dict[str, Any]:
    # ``empty``: an empty value (``?count=``) means the default, as if the name were absent.
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
        "allowEmptyValue": empty,
    }


_FORMAT = _query(
    "format",
    {"type": "string", "enum": ["text", "ndjson", "sse"]},
    "the wire format; otherwise from Accept; default text",
    empty=False,
)
_BOOL = {"type": "string", "enum": ["1", "0", "true", "false", "yes", "no", "on", "off"]}
_COMMON_ERRORS = {
    "400": _json_error("a parameter is out of range or malformed"),
    "401": _json_error(
        "a client key is needed (when STREAMER_API_KEYS is set; on the demo "
        "endpoints, to start a resumable stream)"
    ),
    "429": _json_error(
        "this key has too many open streams (running resumable ones included)", retry_after=True
    ),
    "503": _json_error(
        "too many open streams on this worker (running resumable ones "
        "included), the stream store is full or unreachable, or restarting",
        retry_after=True,
    ),
}

_NOT_YOURS = _json_error("unknown or expired stream, or one that another key started")


def _count_interval(default_count: int, default_interval: float) -> list[dict[str, Any]]:
    return [
        _query(
            "count",
            {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": default_count},
            "how many records",
        ),
        _query(
            "interval",
            {
                "type": "number",
                "minimum": 0,
                "maximum": MAX_INTERVAL_S,
                "default": default_interval,
            },
            "seconds between records",
        ),
    ]


_CHAT_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["messages"],
    "properties": {
        "messages": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_MESSAGES,
            "contains": {
                "type": "object",
                "required": ["role"],
                "properties": {"role": {"const": "user"}},
            },
            "description": "at least one with role user; at most 200,000 characters in all",
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"type": "string", "enum": list(ROLES)},
                    "content": {"type": "string", "maxLength": MAX_CONTENT_CHARS},
                },
            },
        },
        "model": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/@?&=+-]{0,199}$"},
        # null: the same as leaving the field out.
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TOKENS},
        "resumable": {"type": "boolean"},
        "stream": {"description": "accepted and ignored: the answer is always streamed"},
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "ChatRequest": _CHAT_REQUEST,
    # OpenAPI 3.1 (before 3.2's itemSchema): the schema of text/event-stream is one event.
    "ServerSentEvent": {
        "type": "object",
        "properties": {
            "event": {"enum": ["message", "end", "error"]},
            "data": {"type": "string", "description": "the payload; JSON unless a string"},
            "id": {"type": "string", "pattern": "^[1-9][0-9]*$"},
            "retry": {"type": "integer", "minimum": 0},
        },
    },
}


_READ_ONLY = _json_error("a read token was sent (`read_only_token`): writing needs a key")


def _durable_path() -> dict[str, Any]:
    """The Durable Streams URLs (docs/durable-streams.md): the protocol's own headers are
    described by PROTOCOL.md of durable-streams/durable-streams, not repeated here."""
    path = {
        "name": "path",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
        "description": "the stream's name (may hold `/`)",
    }
    body = {
        "required": False,
        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
    }
    refused = {
        "400": _json_error("a protocol header, the offset or the body is malformed"),
        "401": _COMMON_ERRORS["401"],
        "404": _json_error("no such stream"),
        "409": _json_error("conflicting configuration, closed stream or sequence"),
        "410": _json_error("the stream was deleted (it still has forks)"),
        "413": {"description": "the body is larger than the app allows"},
        "503": _COMMON_ERRORS["503"],
    }
    empty = {"description": "done; the protocol's headers say where the stream stands"}
    return {
        "put": {
            "operationId": "durable_create",
            "summary": "create (or fork) a Durable Stream, or confirm an identical one",
            "parameters": [path],
            "requestBody": body,
            "responses": {"200": empty, "201": empty, "403": _READ_ONLY, **refused},
        },
        "post": {
            "operationId": "durable_append",
            "summary": "append to (and/or close) a Durable Stream",
            "parameters": [path],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "minLength": 1}}
                },
                "description": "empty only with `Stream-Closed: true` (close without append)",
            },
            "responses": {
                "200": empty,
                "204": empty,
                "403": _json_error(
                    "a newer epoch of this producer has written, or a read token was sent"
                ),
                **refused,
            },
        },
        "get": {
            "operationId": "durable_read",
            "summary": "read a Durable Stream from an offset (catch-up, long-poll, SSE)",
            # ``live`` (long-poll, sse) is not a parameter here: it needs ``offset``, a
            # dependency OpenAPI cannot state (PROTOCOL.md 5.7, 5.8).
            "description": "`live=long-poll` waits for data, `live=sse` follows the stream "
            "as Server-Sent Events; both need an `offset` (PROTOCOL.md 5.7, 5.8)",
            "parameters": [
                path,
                _query(
                    "offset",
                    {"type": "string", "pattern": "^(-1|now|[0-9]{16}_[0-9]{16})$"},
                    "where to start: `-1` (the start), `now` (the tail) or a `Stream-Next-Offset`",
                    empty=False,
                ),
                _query("cursor", {"type": "string"}, "the last `Stream-Cursor`", empty=False),
                _query(
                    "token",
                    {"type": "string"},
                    "instead of Authorization: this stream's read token from X-Stream-Token "
                    "(reads and HEAD only); 401 invalid_token if wrong or expired",
                    empty=False,
                ),
            ],
            "responses": {
                "200": {
                    "description": "the stream's bytes from the offset (a JSON array in "
                    "JSON mode; SSE with `live=sse`)",
                    "content": {"*/*": {}},
                },
                "204": {"description": "a long-poll that timed out, or the EOF of a closed one"},
                "304": {"description": "If-None-Match matched the ETag"},
                **refused,
            },
        },
        "delete": {
            "operationId": "durable_delete",
            "summary": "delete a Durable Stream",
            "parameters": [path],
            "responses": {"204": empty, "403": _READ_ONLY, **refused},
        },
    }


def document(config: ServiceConfig) -> dict[str, Any]:
    """The OpenAPI 3.1 document for an app built with ``config``."""
    stream_id = {
        "name": "stream_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "from X-Stream-Id, or a Durable Stream's path (/v1/stream/<path>)",
    }
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "operationId": "page",
                "summary": "the demo page",
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/api": {
            "get": {
                "operationId": "index",
                "summary": "what the service offers",
                "responses": {
                    "200": {
                        "description": "a summary",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/stream/data": {
            "get": {
                "operationId": "stream_data",
                "summary": "the classic generator",
                "parameters": [
                    *_count_interval(1000, 1.0),
                    _FORMAT,
                    _query("resumable", _BOOL, "run detached and resumable"),
                ],
                "responses": {
                    "200": _stream("`data chunk i` records.", stream_id=True),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/stream/series": {
            "get": {
                "operationId": "stream_series",
                "summary": "numeric points for a chart",
                "parameters": [
                    *_count_interval(200, 0.1),
                    _FORMAT,
                    _query(
                        "seed",
                        {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
                        "makes the series repeat",
                    ),
                ],
                "responses": {"200": _stream('`{"i": 1, "y": 50.0}` points.'), **_COMMON_ERRORS},
            }
        },
        "/chat": {
            "post": {
                "operationId": "chat",
                "summary": "stream an assistant's answer",
                "parameters": [_FORMAT],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}
                    },
                },
                "responses": {
                    "200": _stream(
                        "The answer's text, token by token; `end` carries usage.", stream_id=True
                    ),
                    **_COMMON_ERRORS,
                    "408": _json_error(
                        "the body arrived too slowly (STREAMER_BODY_TIMEOUT_S, "
                        "STREAMER_BODY_MIN_RATE); the connection then closes"
                    ),
                    "413": _json_error("the body is larger than 1 MiB"),
                    "415": _json_error("the body is not sent as JSON"),
                    "422": _json_error("a field is missing or wrong; the message names it"),
                    "502": _json_error("the upstream model API failed"),
                    "504": _json_error("the upstream did not answer in time"),
                },
            }
        },
        "/streams/{stream_id}": {
            "parameters": [stream_id],
            "get": {
                "operationId": "get_stream",
                "summary": "resume or follow a resumable stream",
                "parameters": [
                    _FORMAT,
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                    },
                    _query(
                        "last_event_id",
                        {"type": "string", "pattern": "^[0-9]{1,18}$"},
                        "the last id seen, if no Last-Event-ID header",
                    ),
                    _query(
                        "token",
                        {"type": "string"},
                        "instead of Authorization (EventSource): this stream's read token "
                        "from X-Stream-Token; 401 invalid_token if wrong or expired",
                        empty=False,
                    ),
                ],
                "responses": {
                    "200": _stream(
                        "The records after the last id, then live ones.", stream_id=True
                    ),
                    "204": {
                        "description": "SSE only: the stream has finished and the last id is "
                        "its last record; tells EventSource to stop reconnecting"
                    },
                    **_COMMON_ERRORS,
                    "404": _NOT_YOURS,
                    "410": _json_error("the records after that id were dropped"),
                },
            },
            "delete": {
                "operationId": "delete_stream",
                "summary": "cancel a resumable stream",
                "responses": {
                    "202": {
                        "description": "cancelled",
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "required": ["id", "status"]}
                            }
                        },
                    },
                    "204": {"description": "the stream had already finished"},
                    "400": _COMMON_ERRORS["400"],
                    "401": _COMMON_ERRORS["401"],
                    "404": _NOT_YOURS,
                    "503": _COMMON_ERRORS["503"],
                },
            },
        },
        "/static/{filename}": {
            "get": {
                "operationId": "static",
                "summary": "the demo page's static files",
                "parameters": [
                    {
                        "name": "filename",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {"description": "the file", "content": {"*/*": {}}},
                    "401": _COMMON_ERRORS["401"],
                    "404": _json_error("no such file"),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "liveness",
                "security": [],
                "responses": {
                    "200": {
                        "description": "alive",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "readiness (store reachable)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "ready",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "503": {
                        "description": "the store is unreachable",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "this document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    paths.update(openai_paths())
    if config.durable:
        paths[config.durable_prefix + "/{path}"] = _durable_path()
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "streamer",
            "version": "0.1.0",
            "description": "HTTP streaming of data and LLM answers.",
        },
        "paths": paths,
        "components": {
            "schemas": {**_SCHEMAS, **OPENAI_SCHEMAS},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    if config.api_keys:
        doc["security"] = [{"bearer": []}]
        if config.open_demo:
            for path in ("/", "/api", "/static/{filename}", "/stream/data", "/stream/series"):
                paths[path]["get"]["security"] = []
    return doc
