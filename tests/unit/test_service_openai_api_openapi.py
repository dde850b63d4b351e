"""Fast tier of streamer.service.openai_api.openapi: the /v1 part of the OpenAPI document (the whole
document against the routes: tests/unit/test_service_openapi.py)."""

from __future__ import annotations

import json

import pytest

from streamer.service.openai_api.errors import InvalidParameter
from streamer.service.openai_api.openapi import _request, paths
from streamer.service.openai_api.request import parse_completion_body


def test_the_v1_paths_and_their_methods() -> None:
    doc = paths()
    assert set(doc) == {
        "/v1/chat/completions",
        "/v1/models",
        "/v1/models/{model}",
        "/v1/streams/{stream_id}",
        "/v1/responses",
        "/v1/responses/{response_id}",
        "/v1/responses/{response_id}/cancel",
    }
    assert "post" in doc["/v1/chat/completions"] and "get" in doc["/v1/models"]


def test_every_operation_documents_its_errors() -> None:
    for path, item in paths().items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            assert "200" in codes and codes - {"200"}, (path, method)


def test_the_documented_seed_is_the_accepted_one() -> None:
    # Found by schemathesis: a seed the document allowed (any integer) was a 400.
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    for streamed in (True, False):
        bounds = _request(streamed)["properties"]["seed"]
        for edge in (bounds["minimum"], bounds["maximum"], -204395.0):
            assert parse_completion_body(
                "application/json", json.dumps({**body, "seed": edge}).encode()
            )
        for past in (bounds["minimum"] - 1, bounds["maximum"] + 1):
            with pytest.raises(InvalidParameter):
                parse_completion_body(
                    "application/json", json.dumps({**body, "seed": past}).encode()
                )
