"""Real tier of streamer.llm.formats' ``openai``: the official ``openai`` Python SDK
(``chat.completions.create(stream=True)``, ``base_url`` = the app) reading a view of
``stream(events(), format=openai(model=...))`` under gunicorn (the app of
test_ui_message_node.py)."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from ..conftest import Server
from .test_ui_message_node import app_server

pytestmark = pytest.mark.real

__all__ = ["app_server"]  # the fixture, shared


@pytest.mark.timeout(60)
def test_the_sdk_reads_a_tool_call_its_text_and_the_finish(app_server: tuple[Server, Path]) -> None:
    srv, _ = app_server
    client = openai.OpenAI(base_url=srv.url("/v1"), api_key="unused", max_retries=0)
    with client.chat.completions.create(
        model="streamer-test", messages=[{"role": "user", "content": "Oslo?"}], stream=True
    ) as chunks:
        got = list(chunks)
    assert {(c.model, c.object, c.id) for c in got} == {
        ("streamer-test", "chat.completion.chunk", got[0].id)
    }
    deltas = [c.choices[0].delta for c in got]
    assert deltas[0].role == "assistant"
    calls = [call for d in deltas for call in d.tool_calls or []]
    assert (calls[0].id, calls[0].type, calls[0].function.name) == ("call_1", "function", "weather")
    assert "".join(c.function.arguments or "" for c in calls) == '{"city":"Oslo"}'
    assert "".join(d.content or "" for d in deltas) == "It is 3 °C in Oslo."
    assert [c.choices[0].finish_reason for c in got][-1] == "stop"


@pytest.mark.timeout(60)
def test_the_sdk_raises_the_in_band_error(app_server: tuple[Server, Path]) -> None:
    srv, _ = app_server
    client = openai.OpenAI(base_url=srv.url("/failing/v1"), api_key="unused", max_retries=0)
    texts = []
    with pytest.raises(openai.APIError, match="the upstream went away"):
        for chunk in client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            texts.append(chunk.choices[0].delta.content or "")
    assert "".join(texts) == "Hel"
