"""Gateway peer: FastAPI on uvicorn (uvloop, httptools), relaying with ``AsyncOpenAI``.

How a FastAPI user writes an OpenAI-compatible gateway: ``await
client.chat.completions.create(stream=True)``, each chunk re-serialized with
``model_dump_json()``. Two ways to send it, one per run:

- ``streaming``: ``StreamingResponse`` of ``data: ...`` lines (data-only SSE, as OpenAI sends);
- ``sse``: sse-starlette's ``EventSourceResponse`` (its own framing: CRLF line ends, a ping
  every 15 s, which a one-second answer never reaches).

``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` name the upstream (bench/bench_gateway.py: the fake).
Usage: ``python gateway_fastapi.py PORT streaming|sse``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from openai import AsyncOpenAI
from pydantic import BaseModel
from sse_starlette import EventSourceResponse

client = AsyncOpenAI(max_retries=0)  # the base URL and the key from the environment


class ChatRequest(BaseModel):
    model: str
    messages: list[dict[str, Any]]
    stream: bool = False


def create_app(kind: str) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(body: ChatRequest) -> Any:
        stream = await client.chat.completions.create(
            model=body.model,
            messages=body.messages,  # type: ignore[arg-type]
            stream=True,
        )
        if kind == "sse":

            async def events() -> AsyncIterator[dict[str, str]]:
                async for chunk in stream:
                    yield {"data": chunk.model_dump_json()}
                yield {"data": "[DONE]"}

            return EventSourceResponse(events())

        async def lines() -> AsyncIterator[str]:
            async for chunk in stream:
                yield f"data: {chunk.model_dump_json()}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(
            lines(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return app


if __name__ == "__main__":
    uvicorn.run(
        create_app(sys.argv[2]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=4096,
        lifespan="off",
    )
