"""The OpenAPI document: in step with the routes (fast), and true of a live gunicorn
(schemathesis: generated valid and invalid requests, every response checked against it)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from app import create_app
from streamer.service import openapi
from streamer.service import views as app_module

HIDDEN = ("/_test/", "/stream/bench")  # test-only and benchmark endpoints: not documented


def _flask_operations(environ: dict[str, str]) -> set[tuple[str, str]]:
    app = create_app({"STREAMER_TESTING": "1", "STREAMER_BENCH": "1", **environ})
    ops = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(HIDDEN):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                ops.add((method.lower(), path))
    return ops


def _documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_route_is_documented_and_every_documented_path_is_a_route() -> None:
    app = create_app({})
    doc = app.test_client().get("/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    assert _documented(doc) == _flask_operations({})


def test_documented_bounds_are_the_enforced_ones() -> None:
    assert openapi.MAX_COUNT == app_module.MAX_COUNT
    assert openapi.MAX_INTERVAL_S == app_module.MAX_INTERVAL_S
    client = create_app({}).test_client()
    over = client.get(f"/stream/data?count={openapi.MAX_COUNT + 1}")
    assert over.status_code == 400 and over.get_json()["error"]["type"] == "invalid_parameter"


def test_security_follows_the_configuration() -> None:
    open_doc = create_app({}).test_client().get("/openapi.json").get_json()
    assert "security" not in open_doc
    doc = create_app({"STREAMER_API_KEYS": "k"}).test_client().get("/openapi.json").get_json()
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/stream/data"]["get"]["security"] == []
    assert "security" not in doc["paths"]["/chat"]["post"]


@pytest.mark.timeout(30)
def test_a_fast_resumable_stream_serves_its_first_reader() -> None:
    # Found by schemathesis: a producer more than STREAMER_RESUMABLE_MAX_RECORDS ahead of its
    # first reader used to get that reader a 410. The originating reader now holds it back.
    client = create_app({"STREAMER_RESUMABLE_MAX_RECORDS": "10"}).test_client()
    response = client.get("/stream/data?count=100&interval=0&resumable=1&format=ndjson")
    assert response.status_code == 200, response.get_json()
    records = [json.loads(line) for line in response.get_data(as_text=True).split("\n") if line]
    assert [r["id"] for r in records if r["event"] == "data"] == list(range(1, 101))
    assert records[-1] == {"event": "end", "count": 100}
