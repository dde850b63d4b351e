"""Fast tier of the streamer.llm package: the provider protocol, and that the layer loads
neither Flask nor the OpenAI SDK until a provider is built."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

from flask import Flask

from streamer import Streamer, stream
from streamer.llm import ChatProvider, ChatRequest


class Upper:
    """A provider written against the protocol alone."""

    name = "upper"

    def stream(self, request: ChatRequest) -> Iterator[str]:
        for word in request.last_user_message.split():
            yield word.upper() + " "
        return {"usage": {"completion_tokens": len(request.last_user_message.split())}}


def test_a_provider_of_the_protocol_streams_with_usage_in_end() -> None:
    provider: ChatProvider = Upper()
    app = Flask(__name__)
    Streamer(app)

    @app.get("/chat")
    def chat() -> object:
        request = ChatRequest(messages=({"role": "user", "content": "hi there"},), model="m")
        return stream(provider.stream(request), format="ndjson")

    body = app.test_client().get("/chat").data.decode()
    assert '"data":"HI "' in body and '"data":"THERE "' in body
    assert '"usage":{"completion_tokens":2}' in body


def test_the_layer_loads_no_sdk_until_a_provider_is_built() -> None:
    code = (
        "import sys, streamer.llm; "
        "bad = {'flask', 'openai', 'httpx2', 'orjson'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
