"""Fast tier: the echo provider as an in-process upstream
(streamer.service.openai_api.echo_relay): choices, logprobs, JSON output, usage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamer.service.echo_provider import EchoProvider, echo_reply
from streamer.service.openai_api.echo_relay import EchoRelay
from streamer.service.openai_api.errors import InvalidParameter

USER = [{"role": "user", "content": "hello there"}]


def relay(**body: Any) -> list[dict[str, Any]]:
    batches = EchoRelay(EchoProvider(delay_s=0))({"model": "echo", "messages": USER, **body})
    return [json.loads(data) for batch in batches for data in batch]


def test_n_choices_stream_in_turn_with_their_index_then_one_usage() -> None:
    chunks = relay(stream=True, n=2)
    texts = ["", ""]
    for c in chunks[:-1]:
        (choice,) = c["choices"]
        texts[choice["index"]] += choice["delta"].get("content") or ""
    assert texts == [echo_reply("hello there")] * 2
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 2 * len(
        echo_reply("hello there").split()
    )


def test_logprobs_spell_the_text_and_list_top_logprobs() -> None:
    chunks = relay(stream=True, logprobs=True, top_logprobs=3)
    entries = [
        e
        for c in chunks
        if c["choices"]
        for e in (c["choices"][0]["logprobs"] or {}).get("content", [])
    ]
    assert "".join(e["token"] for e in entries) == echo_reply("hello there")
    assert all(
        [t["logprob"] for t in e["top_logprobs"]] == [0.0, -9999.0, -9999.0] for e in entries
    )


@pytest.mark.parametrize("kind", ["json_object", "json_schema"])
def test_json_output_is_one_json_object(kind: str) -> None:
    fmt: dict[str, Any] = {"type": kind}
    if kind == "json_schema":
        fmt["json_schema"] = {"name": "a", "schema": {"type": "object"}}
    (whole,) = relay(response_format=fmt)
    assert json.loads(whole["choices"][0]["message"]["content"]) == {
        "answer": echo_reply("hello there")
    }
    streamed = "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in relay(stream=True, response_format=fmt)
        if c["choices"]
    )
    assert streamed == whole["choices"][0]["message"]["content"]


def test_what_the_echo_cannot_serve_is_refused_at_once_naming_it() -> None:
    with pytest.raises(InvalidParameter) as refused:
        EchoRelay(EchoProvider())({"model": "echo", "messages": USER, "audio": {}})
    assert refused.value.param == "audio"
