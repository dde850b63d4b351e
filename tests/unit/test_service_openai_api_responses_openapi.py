"""The Responses API's part of the OpenAPI document: its operations are the routes' endpoints,
and a body its schema allows is one the validator accepts."""

from __future__ import annotations

import json

from streamer.service.openai_api.responses.openapi import SCHEMAS, paths
from streamer.service.openai_api.responses.request import parse_responses_body
from streamer.service.openai_api.responses.views import bp


def test_the_operations_are_the_blueprints_endpoints() -> None:
    ids = {op["operationId"] for item in paths().values() for op in item.values()}
    assert ids == {"openai_responses.create", "openai_responses.retrieve",
                   "openai_responses.cancel"}  # fmt: skip
    assert all(i.startswith(bp.name + ".") for i in ids)


def test_the_schemas_branches_are_bodies_the_validator_accepts() -> None:
    for branch in SCHEMAS["ResponseRequest"]["anyOf"]:
        body = {"model": "m", "input": "hi"}
        if "background" in branch["required"]:
            body |= {"background": True, "store": None}
        else:
            body |= {"background": False, "store": False}
        parse_responses_body("application/json", json.dumps(body).encode())
