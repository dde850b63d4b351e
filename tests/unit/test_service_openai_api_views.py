"""A resumable /v1 answer belongs to the key that started it, like any resumable stream."""

from __future__ import annotations

import pytest

from app import create_app

KEYS = {"STREAMER_API_KEYS": "k-one-1234567890,k-two-1234567890", "STREAMER_ECHO_DELAY_S": "0"}
BODY = {
    "model": "gpt-4o-mini",
    "stream": True,
    "messages": [{"role": "user", "content": "hello there"}],
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.timeout(20)
def test_another_key_cannot_follow_a_resumable_answer() -> None:
    client = create_app(KEYS).test_client()
    started = client.post(
        "/v1/chat/completions",
        json=BODY,
        headers={**bearer("k-one-1234567890"), "X-Streamer-Resumable": "1"},
    )
    assert started.status_code == 200, started.data
    assert started.get_data().rstrip().endswith(b"data: [DONE]")
    sid = started.headers["X-Stream-Id"]

    other = client.get(f"/v1/streams/{sid}", headers=bearer("k-two-1234567890"))
    unknown = client.get(f"/v1/streams/{'x' * 43}", headers=bearer("k-two-1234567890"))
    assert other.status_code == 404 == unknown.status_code
    assert other.get_json() == unknown.get_json()  # indistinguishable from an unknown id

    own = client.get(
        f"/v1/streams/{sid}", headers={**bearer("k-one-1234567890"), "Last-Event-ID": "1"}
    )
    assert own.status_code == 200
    assert own.get_data().rstrip().endswith(b"data: [DONE]")


@pytest.mark.timeout(20)
def test_an_unknown_model_id_is_quoted_back_cut_at_40_characters() -> None:
    client = create_app({"STREAMER_ECHO_DELAY_S": "0"}).test_client()
    response = client.get("/v1/models/" + "q" * 200)
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert (error["code"], error["param"]) == ("model_not_found", "model")
    assert "q" * 40 in error["message"] and "q" * 41 not in error["message"], error["message"]
