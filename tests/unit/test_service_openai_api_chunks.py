"""Fast tier: the /v1 chunk encoders, the chunk producer and its usage meter, and the
blueprint through Flask's test client (streamer.service.openai_api)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import gevent
import pytest

from app import create_app
from streamer.errors import UpstreamError
from streamer.llm.events import AnswerEvent, Finish, TextDelta, Usage
from streamer.service.openai_api.chunks import Answer, ChunkSSE, ResumableChunkSSE, chunks
from streamer.service.openai_api.usage import UsageMeter

USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def provider(fail: bool = False, reason: str = "stop") -> Iterator[AnswerEvent]:
    """What a provider yields (streamer.llm.ChatProvider): deltas, its usage, one finish."""
    yield TextDelta("Hello")
    yield TextDelta(" world")
    if fail:
        raise UpstreamError("broke", type="upstream_disconnected")
    yield Usage(3, 2)
    yield Finish(reason)


def test_encoders_are_data_only_with_comment_line_pings() -> None:
    assert ChunkSSE.lead(3000) == b""
    assert ChunkSSE.data(7, {"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
    assert ResumableChunkSSE.data(7, {"a": 1}) == b'id: 7\ndata: {"a":1}\n\n'
    assert ChunkSSE.data(1, {"a": "\ud800"}) == b'data: {"a":"\\ud800"}\n\n'  # lone surrogate
    assert ChunkSSE.end(3, {"usage": USAGE}) == b"data: [DONE]\n\n"
    assert ChunkSSE.ping() == b": ping\n"  # no blank line: see the chunks module's docstring
    error = ChunkSSE.error("upstream_timeout", "too slow")
    assert json.loads(error[6:]) == {
        "error": {
            "message": "too slow",
            "type": "server_error",
            "param": None,
            "code": "upstream_timeout",
        }
    }
    # That openai-python survives pings between events with ids: the real tier
    # (test_resumable_through_extra_body_keeps_the_sdk_working_across_heartbeats).


@pytest.mark.parametrize("include_usage", [False, True])
def test_chunks_of_a_complete_answer(include_usage: bool) -> None:
    meter = UsageMeter(None, "/v1/chat/completions", "m", None)
    answer = Answer("m", include_usage=include_usage)
    got = list(chunks(provider(), answer, meter))
    deltas = [c["choices"][0]["delta"] for c in got if c["choices"]]
    assert deltas == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Hello"},
        {"content": " world"},
        {},
    ]
    assert got[3]["choices"][0]["finish_reason"] == "stop"
    if include_usage:
        assert len(got) == 5 and got[4]["choices"] == [] and got[4]["usage"] == USAGE
        assert all(c["usage"] is None for c in got[:4])
    else:
        assert len(got) == 4 and all("usage" not in c for c in got)
    assert {c["id"] for c in got} == {answer.id}


def test_the_providers_finish_reason_is_the_chunks() -> None:
    meter = UsageMeter(None, "/v1/chat/completions", "m", None)
    got = list(chunks(provider(reason="length"), Answer("m"), meter))
    assert got[-1]["choices"][0]["finish_reason"] == "length"


def log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("usage ")]


def test_a_detached_answer_reports_its_usage_once_on_each_way_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "streamer.access")
    for fail in (False, True):
        it = chunks(provider(fail), Answer("m"), UsageMeter(None, "/r", "m", "key1"), detached=True)
        try:
            list(it)
        except UpstreamError:
            pass
    closed = chunks(provider(), Answer("m"), UsageMeter(None, "/r", "m", "key1"), detached=True)
    next(closed), next(closed)
    closed.close()
    assert log_lines(caplog) == [
        "usage route=/r model=m key=key1 outcome=complete prompt_tokens=3 "
        "completion_tokens=2 partial=0",
        "usage route=/r model=m key=key1 outcome=error prompt_tokens=- "
        "completion_tokens=2 partial=1",
        "usage route=/r model=m key=key1 outcome=cancel prompt_tokens=- "
        "completion_tokens=1 partial=1",
    ]


def test_closing_the_chunks_closes_the_provider_at_once() -> None:
    closed: list[bool] = []

    def slow() -> Iterator[AnswerEvent]:
        try:
            while True:
                yield TextDelta("x")
                gevent.sleep(0.01)
        finally:
            closed.append(True)

    it = chunks(slow(), Answer("m"), UsageMeter(None, "/r", "m", None))
    next(it), next(it)
    it.close()
    assert closed == [True]


def test_blueprint_answers_and_errors_in_openai_shape() -> None:
    client = create_app({"STREAMER_ECHO_DELAY_S": "0", "STREAMER_API_KEYS": "k1"}).test_client()
    auth = {"Authorization": "Bearer k1"}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    whole = client.post("/v1/chat/completions", json=body, headers=auth).get_json()
    assert whole["object"] == "chat.completion"
    assert whole["choices"][0]["message"]["content"].startswith("You said: hi.")
    missing = client.post("/v1/chat/completions", json=body)
    assert missing.status_code == 401
    assert missing.get_json() == {
        "error": {
            "message": "this endpoint needs Authorization: Bearer <key>",
            "type": "invalid_request_error",
            "param": None,
            "code": "unauthorized",
        }
    }
    bad = client.post("/v1/chat/completions", json={**body, "temperature": 9}, headers=auth)
    assert bad.status_code == 400 and bad.get_json()["error"]["param"] == "temperature"
    wrong_type = client.post("/v1/chat/completions", data="{}", headers=auth)
    assert wrong_type.status_code == 415
    assert wrong_type.get_json()["error"]["code"] == "unsupported_media_type"
    stream = client.post("/v1/chat/completions", json={**body, "stream": True}, headers=auth)
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    text = stream.get_data(as_text=True)
    assert text.startswith("data: {") and text.endswith("data: [DONE]\n\n")
    assert not any(line.startswith(("event:", "retry:", "id:")) for line in text.split("\n"))
    unknown = client.get("/v1/nope", headers=auth)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "not_found"
    assert client.get("/api").get_json().get("error") is None  # other routes keep their shape
    not_allowed = client.get("/v1/chat/completions", headers=auth)
    assert not_allowed.status_code == 405
    assert not_allowed.get_json()["error"]["type"] == "invalid_request_error"
    models = client.get("/v1/models", headers=auth).get_json()
    assert models == {
        "object": "list",
        "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "streamer"}],
    }
