"""The /v1 API's part of the OpenAPI document (merged by :mod:`streamer.service.openapi`).

The request schema is the validator's (:mod:`.request`) rules: a body it allows is accepted,
and schemathesis checks both ways. Streamed and whole answers are two branches (``anyOf``):
``stream_options`` and ``streamer.resumable`` need ``stream: true``.
"""

from __future__ import annotations

from typing import Any

from ..chat_body import MAX_CONTENT_CHARS, MAX_MESSAGES, MAX_TOKENS, ROLES
from .responses import openapi as responses_openapi

_ERROR = {"$ref": "#/components/schemas/OpenAIError"}
_NULL_BOOL = {"type": ["boolean", "null"]}
_TOKENS = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TOKENS}


def _error(description: str, retry_after: bool = False) -> dict[str, Any]:
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


_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "additionalProperties": False,
    "properties": {
        "role": {"type": "string", "enum": list(ROLES)},
        "content": {
            "anyOf": [
                {"type": "string", "maxLength": MAX_CONTENT_CHARS},
                {
                    "type": "array",
                    "maxItems": 8,
                    "items": {
                        "type": "object",
                        "required": ["type", "text"],
                        "properties": {
                            "type": {"const": "text"},
                            "text": {"type": "string", "maxLength": 1000},
                        },
                    },
                },
            ]
        },
        "name": {"type": "string"},
    },
}


def _request(streamed: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "model": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/@?&=+-]{0,199}$"},
        "messages": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_MESSAGES,
            "items": _MESSAGE,
            "contains": {
                "type": "object",
                "required": ["role"],
                "properties": {"role": {"const": "user"}},
            },
        },
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "max_tokens": _TOKENS,
        "max_completion_tokens": _TOKENS,
        "n": {"const": 1},
        "store": {"const": False},
        "user": {"type": "string", "description": "accepted and ignored"},
        "seed": {
            "type": "integer",
            "minimum": -(2**63 - 1),
            "maximum": 2**63 - 1,
            "description": "passed on to an upstream (the echo ignores it)",
        },
        "service_tier": {"type": "string", "description": "accepted and ignored"},
        "metadata": {"type": "object", "description": "accepted and ignored"},
    }
    if streamed:
        properties["stream"] = {"const": True}
        properties["stream_options"] = {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {"include_usage": _NULL_BOOL, "include_obfuscation": _NULL_BOOL},
        }
        properties["streamer"] = {
            "type": ["object", "null"],
            "additionalProperties": False,
            "description": "streamer's own options (the SDKs send them with extra_body)",
            "properties": {"resumable": _NULL_BOOL},
        }
    else:
        properties["stream"] = {"enum": [False, None]}
        properties["stream_options"] = {"type": "null"}
        properties["streamer"] = {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {"resumable": {"enum": [False, None]}},
        }
    return {
        "type": "object",
        "required": ["model", "messages"] + (["stream"] if streamed else []),
        "additionalProperties": False,
        "properties": properties,
    }


SCHEMAS: dict[str, Any] = {
    "OpenAIError": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    },
    "ChatCompletionRequest": {"anyOf": [_request(streamed=True), _request(streamed=False)]},
    "ChatCompletion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
            "object": {"const": "chat.completion"},
            "choices": {"type": "array"},
            "usage": {"type": "object"},
        },
    },
    "Model": {
        "type": "object",
        "required": ["id", "object", "created", "owned_by"],
        "properties": {"object": {"const": "model"}, "id": {"type": "string"}},
    },
    **responses_openapi.SCHEMAS,
}

_CHUNKS = (
    "Data-only Server-Sent Events: one `chat.completion.chunk` object per `data:` line, "
    "`: ping` comment lines during silence, `data: [DONE]` last; an error after the "
    'first byte is `data: {"error": {...}}` and the body is cut. With '
    "`X-Streamer-Resumable: 1` (or `streamer.resumable`) every chunk has an `id:` and "
    "`X-Stream-Id` names the stream for `GET /v1/streams/{stream_id}`."
)
# OpenAPI 3.1 (before 3.2's itemSchema): the schema of text/event-stream is one event.
_EVENT = {
    "type": "object",
    "properties": {
        "event": {"const": "message"},
        "data": {"type": "string", "description": "a chunk object as JSON, or [DONE]"},
        "id": {"type": "string", "pattern": "^[1-9][0-9]*$"},
    },
}
_STREAM_ID = {
    "X-Stream-Id": {
        "schema": {"type": "string"},
        "description": "resumable answers: the stream's id",
    }
}


def paths() -> dict[str, Any]:
    """The /v1 path items."""
    common = {
        "401": _error("a client key is needed (when STREAMER_API_KEYS is set)"),
        "429": _error(
            "rate limited: this key's open streams, or the upstream's limit", retry_after=True
        ),
        "503": _error("too many open streams on this worker, or restarting", retry_after=True),
    }
    last_id = {"type": "string", "pattern": "^[0-9]{1,18}$"}
    return {
        "/v1/chat/completions": {
            "post": {
                "operationId": "openai.chat_completions",
                "summary": "OpenAI-compatible chat completion, streamed (stream: true) or whole",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "`stream: false`: one chat.completion. " + _CHUNKS,
                        "headers": _STREAM_ID,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ChatCompletion"}
                            },
                            "text/event-stream": {"schema": _EVENT},
                        },
                    },
                    "400": _error("the body is wrong; `param` names the field"),
                    **common,
                    "410": _error(
                        "resumable only: the stream's first records were already dropped"
                    ),
                    "413": _error("the body is larger than 1 MiB"),
                    "415": _error("the body is not sent as JSON"),
                    "502": _error("the upstream model API failed"),
                    "504": _error("the upstream did not answer in time"),
                },
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "openai.models",
                "summary": "the model this service answers with",
                "responses": {
                    "200": {
                        "description": "a list with the configured model",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["object", "data"],
                                    "properties": {
                                        "object": {"const": "list"},
                                        "data": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Model"},
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "401": common["401"],
                },
            }
        },
        "/v1/models/{model}": {
            "get": {
                "operationId": "openai.model",
                "summary": "one model",
                "parameters": [
                    {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "the model",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Model"}}
                        },
                    },
                    "401": common["401"],
                    "404": _error("not the configured model"),
                },
            }
        },
        "/v1/streams/{stream_id}": {
            "get": {
                "operationId": "openai.follow_stream",
                "summary": "continue a resumable answer in the same chunk format",
                "parameters": [
                    {
                        "name": "stream_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "from X-Stream-Id",
                    },
                    {"name": "Last-Event-ID", "in": "header", "required": False, "schema": last_id},
                    {
                        "name": "last_event_id",
                        "in": "query",
                        "required": False,
                        "schema": last_id,
                        "description": "the last id seen, if no Last-Event-ID",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The chunks after the last id, then live ones. " + _CHUNKS,
                        "headers": _STREAM_ID,
                        "content": {"text/event-stream": {"schema": _EVENT}},
                    },
                    "400": _error("a malformed id"),
                    **common,
                    "404": _error("unknown or expired stream"),
                    "410": _error("the records after that id were dropped"),
                },
            }
        },
        **responses_openapi.paths(),
    }
