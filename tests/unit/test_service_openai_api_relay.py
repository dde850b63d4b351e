"""Fast tier: the pass-through gateway's request check and chunk relay
(streamer.service.openai_api.relay) and the provider's scrubbing of upstream messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamer.llm.openai_provider import OpenAIProvider
from streamer.service.openai_api.errors import InvalidParameter
from streamer.service.openai_api.relay import parse_relay_body, relayed
from streamer.service.openai_api.usage import UsageMeter

USER = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]


def parse(body: Any, header: bool = False) -> Any:
    return parse_relay_body("application/json", json.dumps(body).encode(), resumable_header=header)


def test_every_field_but_streamers_own_is_forwarded_as_sent() -> None:
    body = {
        "model": "m",
        "messages": USER,
        "n": 3,
        "logprobs": True,
        "x_next_year": {"a": [1, 2]},
        "streamer": {"resumable": True},
        "stream": True,
    }
    got = parse(body)
    assert got.resumable and got.stream and not got.include_usage
    assert got.body == {
        **{k: v for k, v in body.items() if k != "streamer"},
        "stream_options": {"include_usage": True},  # asked for the meter
    }
    kept = parse({"model": "m", "messages": USER, "stream": True, "stream_options": {"x": 1}})
    assert kept.body["stream_options"] == {"x": 1, "include_usage": True}
    assert parse({"model": "m", "messages": USER}).body == {"model": "m", "messages": USER}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"content": "no role"}]}, "messages[0]"),
        ({"model": "m", "messages": USER, "stream": "yes"}, "stream"),
        ({"model": "m", "messages": USER, "stream": True, "stream_options": 1}, "stream_options"),
        ({"model": "m", "messages": USER, "streamer": {"resumable": True}}, "streamer.resumable"),
    ],
)
def test_what_the_gateway_itself_needs_is_checked(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        parse(body)
    assert refused.value.param == param


def chunk(choices: list[Any], usage: object = None) -> str:
    return json.dumps({"id": "c", "choices": choices, "usage": usage}, separators=(",", ":"))


TOKEN = chunk([{"index": 0, "delta": {"content": "hi"}}])
USAGE = chunk([], {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4})


@pytest.mark.parametrize("include_usage", [True, False])
def test_chunks_go_as_sent_and_only_the_usage_is_read(include_usage: bool) -> None:
    meter = UsageMeter(None, "/v1/chat/completions", "m", None)
    got = list(relayed(iter([[TOKEN, TOKEN], [USAGE]]), meter, include_usage))
    if include_usage:
        assert got == [TOKEN, TOKEN, USAGE]
    else:
        assert got == [TOKEN.replace(',"usage":null', "")] * 2
    assert meter.usage() == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def test_without_the_upstreams_usage_the_content_chunks_are_counted() -> None:
    meter = UsageMeter(None, "/v1/chat/completions", "m", None)
    role = chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
    assert list(relayed(iter([[role, TOKEN, TOKEN]]), meter, True)) == [role, TOKEN, TOKEN]
    assert meter.usage()["completion_tokens"] == 2


def test_closing_the_relay_closes_the_upstream() -> None:
    closed = []

    def upstream() -> Any:
        try:
            yield [TOKEN]
            yield [TOKEN]
        finally:
            closed.append(True)

    meter = UsageMeter(None, "/v1/chat/completions", "m", None)
    chunks = relayed(upstream(), meter, True)
    next(chunks)
    chunks.close()
    assert closed == [True]


def test_an_upstream_message_never_carries_a_key() -> None:
    provider = OpenAIProvider("sk-proj-secret-0123456789", None, 5.0, 0)
    scrubbed = provider._scrub(
        "Incorrect API key provided: sk-proj-secret-0123456789 (or sk-abc*****wxyz); "
        "header Bearer abcdefgh, param messages"
    )
    assert "secret" not in scrubbed and "abc*" not in scrubbed and "abcdefgh" not in scrubbed
    assert scrubbed.endswith("param messages")
