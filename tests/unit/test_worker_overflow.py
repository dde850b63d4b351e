"""streamer.worker.overflow without a server: the spare slots and the refusal's bytes. A full
worker under gunicorn is tests/real/test_edges_live.py's."""

from __future__ import annotations

import json

from streamer.worker.overflow import REFUSAL, slots


def test_spare_slots_are_a_tenth_of_the_limit_and_at_least_32() -> None:
    assert slots(10_000) == 1_000
    assert slots(20) == 32


def test_the_refusal_is_a_whole_503_json_response_that_closes() -> None:
    head, _, body = REFUSAL.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Length"] == str(len(body))
    assert headers["Retry-After"] == "1" and headers["Connection"] == "close"
    assert json.loads(body)["error"]["type"] == "too_many_connections"


def test_the_worker_names_its_health_paths() -> None:
    from streamer.worker import Worker

    assert {"/healthz", "/readyz"} <= Worker.health_paths
