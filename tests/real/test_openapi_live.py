"""Real tier of tests/unit/test_service_openapi.py: the same subject through gunicorn on loopback
(and redis-server where it says so)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks

from streamer.service import openapi

from ..conftest import Server
from ..unit.test_service_openapi import _documented

KEY = "client-key-for-schemathesis-0001"
EXAMPLES = 50


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        {
            "STREAMER_API_KEYS": KEY,
            "STREAMER_ECHO_DELAY_S": "0",
            "STREAMER_HEARTBEAT_S": "0.5",
            "STREAMER_MAX_STREAM_S": "10",
            # Durable Streams reads that wait end well within a call's timeout.
            "STREAMER_DURABLE_LONG_POLL_S": "0.5",
            "STREAMER_DURABLE_SSE_MAX_S": "1",
        },
        tmp_path_factory.mktemp("openapi") / "gunicorn.log",
    )
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log()


def _bounded(case: Any, live: Server) -> None:
    """Streams must end: small count and interval when they are valid numbers (invalid ones
    are kept, they are what the negative cases are about), and a Durable Stream that an
    earlier case created is closed before it is read through its streamer face (an open one
    is followed until the stream's maximum duration, then cut after an in-band error)."""
    if case.operation.path == "/streams/{stream_id}":
        path = (case.path_parameters or {}).get("stream_id")
        if isinstance(path, str) and path:
            requests.post(
                live.url("/v1/stream/" + quote(path, safe="")),
                headers={"Authorization": f"Bearer {KEY}", "Stream-Closed": "true"},
                timeout=5,
            )
        return
    if case.operation.path not in ("/stream/data", "/stream/series"):
        return
    if case.query is None:
        case.query = {}
    query = case.query
    for name, small in (("count", 5), ("interval", 0)):
        if query.get(name) in (None, ""):  # absent or empty: the (long) default
            query[name] = small
    for name, cap in (("count", 30), ("interval", 0.001)):
        try:
            value = float(query[name])
        except (TypeError, ValueError, OverflowError):
            continue
        if cap < value <= (openapi.MAX_COUNT if name == "count" else openapi.MAX_INTERVAL_S):
            query[name] = cap if not isinstance(query[name], str) else str(cap)


def _operations(base_url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.real
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"]
)
def test_schemathesis_finds_no_5xx_and_every_response_matches_the_document(
    live: Server, mode: GenerationMode
) -> None:
    operations = _operations(live.base_url)
    doc = requests.get(live.url("/openapi.json"), timeout=5).json()
    documented = _documented(doc)
    # schemathesis leaves out the document's own path.
    assert {(op.method.lower(), op.path) for op in operations} == documented - {
        ("get", "/openapi.json")
    }
    calls: dict[str, int] = {}
    # Invalid requests must get a documented 4xx JSON error, never a 5xx; but "invalid data
    # was accepted" is not a failure here: the service deliberately ignores unknown query
    # parameters (a browser or proxy may add some), which schemathesis counts as invalid.
    excluded = [checks.negative_data_rejection] if mode == GenerationMode.NEGATIVE else []
    for operation in operations:
        label = operation.label

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            _bounded(case, live)
            calls[label] = calls.get(label, 0) + 1  # noqa: B023 (called in this iteration)
            # The default checks: no 5xx, documented status, content type, headers and
            # JSON schema (errors included), valid data accepted, invalid data rejected,
            # and (with the key left off) that auth is not ignored.
            case.call_and_validate(
                base_url=live.base_url,
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=15,
                excluded_checks=excluded,
            )

        try:
            check()
        except Unsatisfiable:
            # Nothing to make invalid (no parameters, or only free strings such as a path).
            assert mode == GenerationMode.NEGATIVE
    assert calls, "no request was made"
    if mode == GenerationMode.POSITIVE:
        assert set(calls) == {op.label for op in operations}
    else:
        assert {"POST /chat", "GET /stream/data", "GET /streams/{stream_id}"} <= set(calls)
