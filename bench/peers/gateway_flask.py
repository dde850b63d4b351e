"""Gateway peer: plain Flask on gunicorn's gevent worker, relaying with the sync ``OpenAI`` SDK.

How a Flask user writes an OpenAI-compatible gateway without streamer: ``stream=True``, and each
chunk re-serialized with ``model_dump_json()`` as a data-only SSE event. gunicorn's gevent
worker monkey-patches the SDK's sockets. ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` name the
upstream (bench/bench_gateway.py: the fake). Run: ``gunicorn -k gevent gateway_flask:app``.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, Response, request
from openai import OpenAI

app = Flask(__name__)
client = OpenAI(max_retries=0)  # the base URL and the key from the environment


@app.post("/v1/chat/completions")
def completions() -> Response:
    body = request.get_json()
    stream = client.chat.completions.create(
        model=body["model"], messages=body["messages"], stream=True
    )

    def events() -> Iterator[str]:
        for chunk in stream:
            yield f"data: {chunk.model_dump_json()}\n\n"
        yield "data: [DONE]\n\n"

    return Response(events(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})
