"""useChat's backend: an AsyncOpenAI answer with a tool, as the AI SDK's UI message stream."""

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from flask import Flask, Response, request
from openai import AsyncOpenAI

from streamer import Streamer, stream
from streamer.adapter import loop_local
from streamer.llm.events import AnswerEvent, ToolCallEnd, ToolResult
from streamer.llm.openai_events import achat_events

app = Flask(__name__)
Streamer(app)
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": CITY}}]


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "forecast": "sunny", "temp_c": 21}


async def answer(messages: list[Any]) -> AsyncIterator[AnswerEvent]:
    create = loop_local("openai", AsyncOpenAI).chat.completions.create  # reads OPENAI_* env
    model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
    chunks = await create(model=model, messages=messages, tools=TOOLS, stream=True)
    calls, results = [], []
    async for e in achat_events(chunks):
        yield e
        if isinstance(e, ToolCallEnd):
            yield ToolResult(e.id, output := get_weather(**json.loads(e.arguments)))
            function = {"name": e.name, "arguments": e.arguments}
            calls.append({"id": e.id, "type": "function", "function": function})
            results.append({"role": "tool", "tool_call_id": e.id, "content": json.dumps(output)})
    if calls:  # the tool's results back to the model, for its next answer
        async for e in answer([*messages, {"role": "assistant", "tool_calls": calls}, *results]):
            yield e


@app.post("/api/chat")
def chat() -> Response:
    ui = request.get_json()["messages"]  # UIMessages: their text parts are enough here
    said = [
        {"role": m["role"], "content": "".join(p.get("text", "") for p in m["parts"])} for m in ui
    ]
    return stream(answer(said), format="ui-message")
