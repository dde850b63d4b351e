"""The Responses API's part of the OpenAPI document (merged by :mod:`..openapi`).

The request schema is a subset of what the validator (:mod:`.request`) accepts, so every body
it allows is accepted (schemathesis checks it); ``function_call`` input items and
``tool_choice`` by name are left out of it. A background response must be stored: two
branches (``anyOf``).
"""

from __future__ import annotations

from typing import Any

from ...chat_body import MAX_TOKENS
from .request import MAX_METADATA

_ERROR = {"$ref": "#/components/schemas/OpenAIError"}
_RESPONSE = {"$ref": "#/components/schemas/Response"}
_TEXT = {"type": "string", "maxLength": 1000}
_PARTS = {
    "type": "array",
    "maxItems": 8,
    "items": {
        "type": "object",
        "required": ["type", "text"],
        "properties": {"type": {"enum": ["input_text", "output_text"]}, "text": _TEXT},
    },
}
_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "message"},
        "role": {"enum": ["user", "system", "developer", "assistant"]},
        "content": {"anyOf": [_TEXT, _PARTS]},
    },
}
_TOOL = {
    "type": "object",
    "required": ["type", "name"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "function"},
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        "description": {"type": ["string", "null"], "maxLength": 200},
        "parameters": {"type": ["object", "null"]},
        "strict": {"type": ["boolean", "null"]},
    },
}


def _request(background: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "model": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/@?&=+-]{0,199}$"},
        "input": {
            "anyOf": [
                _TEXT,
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 8,
                    "items": _MESSAGE,
                    "contains": {
                        "type": "object",
                        "required": ["role"],
                        "properties": {"role": {"const": "user"}},
                    },
                },
            ]
        },
        "instructions": {"type": ["string", "null"], "maxLength": 1000},
        "max_output_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TOKENS},
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "tools": {"type": ["array", "null"], "maxItems": 4, "items": _TOOL},
        "tool_choice": {"enum": ["none", "auto", None]},
        "parallel_tool_calls": {"type": ["boolean", "null"]},
        "stream": {"type": ["boolean", "null"]},
        "metadata": {
            "type": ["object", "null"],
            "maxProperties": MAX_METADATA,
            "propertyNames": {"maxLength": 64},
            "additionalProperties": {"type": "string", "maxLength": 512},
        },
        "user": {"type": ["string", "null"]},
    }
    if background:
        properties["background"] = {"const": True}
        properties["store"] = {"enum": [True, None]}
    else:
        properties["background"] = {"enum": [False, None]}
        properties["store"] = {"type": ["boolean", "null"]}
    return {
        "type": "object",
        "required": ["model", "input"] + (["background"] if background else []),
        "additionalProperties": False,
        "properties": properties,
    }


SCHEMAS: dict[str, Any] = {
    "ResponseRequest": {"anyOf": [_request(background=False), _request(background=True)]},
    "Response": {
        "type": "object",
        "required": ["id", "object", "status", "output"],
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "response"},
            "status": {
                "enum": ["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]
            },
            "output": {"type": "array"},
            "usage": {"type": ["object", "null"]},
        },
    },
}

_EVENTS = (
    "Server-Sent Events named by their type (`event: response.output_text.delta`), each "
    "`data:` a JSON event with its `sequence_number`; `: ping` comment lines during "
    "silence; no `[DONE]`. A failure after the first byte is `response.failed` and the body "
    "is cut; a cancel ends with `response.incomplete` (status `cancelled`)."
)
# OpenAPI 3.1 (before 3.2's itemSchema): the schema of text/event-stream is one event.
_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "pattern": "^(response\\.[a-z_.]+|error)$"},
        "data": {"type": "string", "description": "the event as JSON"},
    },
}
_ID = {
    "name": "response_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "a background response's id (resp_...)",
}


def _error(description: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ERROR}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "seconds"}
        }
    return response


def paths() -> dict[str, Any]:
    """The /v1/responses path items."""
    common = {
        "401": _error("a client key is needed (when STREAMER_API_KEYS is set)"),
        "429": _error("rate limited: this key's streams, or the upstream's", retry_after=True),
        "503": _error("too many open streams on this worker, or restarting", retry_after=True),
    }
    whole_or_events = {
        "application/json": {"schema": _RESPONSE},
        "text/event-stream": {"schema": _EVENT},
    }
    return {
        "/v1/responses": {
            "post": {
                "operationId": "openai_responses.create",
                "summary": "OpenAI's Responses API: streamed, whole, or in the background",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ResponseRequest"}
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "`stream: false`: the response object (`background`: "
                        "queued). " + _EVENTS,
                        "content": whole_or_events,
                    },
                    "400": _error("the body is wrong; `param` names the field"),
                    **common,
                    "413": _error("the body is larger than 1 MiB"),
                    "415": _error("the body is not sent as JSON"),
                    "502": _error("the upstream model API failed"),
                    "504": _error("the upstream did not answer in time"),
                },
            }
        },
        "/v1/responses/{response_id}": {
            "get": {
                "operationId": "openai_responses.retrieve",
                "summary": "a background response: the object, or its events after a number",
                "parameters": [
                    _ID,
                    {
                        "name": "stream",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["true", "false"]},
                    },
                    {
                        "name": "starting_after",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                        "description": "with stream=true: the last sequence number seen",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the response object, or with stream=true its events "
                        "after `starting_after`, then live ones. " + _EVENTS,
                        "content": whole_or_events,
                    },
                    "400": _error("a bad `starting_after`, or past the last event"),
                    **common,
                    "404": _error("no such background response (unknown, expired, another key's)"),
                    "410": _error("the events after that number were dropped"),
                },
            }
        },
        "/v1/responses/{response_id}/cancel": {
            "post": {
                "operationId": "openai_responses.cancel",
                "summary": "cancel a background response; it ends cancelled",
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "the response object, status cancelled",
                        "content": {"application/json": {"schema": _RESPONSE}},
                    },
                    "400": _error("the response had already ended otherwise"),
                    "401": common["401"],
                    "404": _error("no such background response"),
                },
            }
        },
    }
