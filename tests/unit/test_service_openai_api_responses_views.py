"""The Responses routes in-process (Flask's test client, the echo provider, the memory store):
background responses retrieved, resumed and cancelled; the 400s and 404s in OpenAI's shape."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from app import create_app

KEYS = {"STREAMER_API_KEYS": "k-one-1234567890,k-two-1234567890", "STREAMER_ECHO_DELAY_S": "0"}
ONE = {"Authorization": "Bearer k-one-1234567890"}
TWO = {"Authorization": "Bearer k-two-1234567890"}


def events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in raw.decode().split("\n\n"):
        data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            out.append(json.loads(data[0]))
    return out


def wait_done(client: Any, response_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(
            f"/v1/responses/{response_id}", headers=headers
        ).get_json()
        if body["status"] not in ("queued", "in_progress"):
            return body
        time.sleep(0.02)
    raise AssertionError("the background response never ended")


@pytest.mark.timeout(20)
def test_a_background_response_is_the_keys_own_and_resumes_after_n() -> None:
    client = create_app(KEYS).test_client()
    queued = client.post(
        "/v1/responses", json={"model": "m", "input": "hello", "background": True}, headers=ONE
    )
    assert queued.status_code == 200 and queued.get_json()["status"] == "queued"
    response_id = queued.get_json()["id"]
    done = wait_done(client, response_id, ONE)
    assert done["status"] == "completed" and done["id"] == response_id
    assert done["usage"]["output_tokens"] > 0

    other = client.get(f"/v1/responses/{response_id}", headers=TWO)
    assert other.status_code == 404 and other.get_json()["error"]["type"] == "invalid_request_error"

    whole = events(client.get(f"/v1/responses/{response_id}?stream=true", headers=ONE).data)
    rest = events(
        client.get(f"/v1/responses/{response_id}?stream=true&starting_after=3", headers=ONE).data
    )
    assert rest == whole[4:] and whole[-1]["response"] == done
    past = client.get(f"/v1/responses/{response_id}?stream=true&starting_after=100000", headers=ONE)
    assert past.status_code == 400
    bad = client.get(f"/v1/responses/{response_id}?stream=true&starting_after=-1", headers=ONE)
    assert bad.status_code == 400 and bad.get_json()["error"]["param"] == "starting_after"
    assert client.post(f"/v1/responses/{response_id}/cancel", headers=ONE).status_code == 400


@pytest.mark.timeout(20)
def test_a_plain_response_is_not_kept() -> None:
    client = create_app({"STREAMER_ECHO_DELAY_S": "0"}).test_client()
    whole = client.post("/v1/responses", json={"model": "m", "input": "hello"}).get_json()
    assert whole["status"] == "completed"
    assert client.get(f"/v1/responses/{whole['id']}").status_code == 404


@pytest.mark.timeout(20)
def test_a_cancelled_background_response_ends_cancelled() -> None:
    client = create_app({"STREAMER_ECHO_DELAY_S": "0.2"}).test_client()
    queued = client.post(
        "/v1/responses", json={"model": "m", "input": "hello", "background": True}
    ).get_json()
    cancelled = client.post(f"/v1/responses/{queued['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    streamed = events(client.get(f"/v1/responses/{queued['id']}?stream=true").data)
    assert streamed[-1]["type"] == "response.incomplete"
    assert streamed[-1]["response"]["status"] == "cancelled"
    assert client.post(f"/v1/responses/{queued['id']}/cancel").status_code == 200
