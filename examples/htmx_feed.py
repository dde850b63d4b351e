"""An htmx page whose table grows a row at a time while chat_ui's answer streams as SSE
events named "row". HTMX_DIR: a folder with the npm packages htmx.org and htmx-ext-sse
(else they come from a CDN)."""

import html
import os
from collections.abc import AsyncIterator
from functools import partial
from urllib.parse import urlencode

from chat_ui import answer
from flask import Flask, Response, request, send_from_directory

from streamer import Event, Streamer, stream
from streamer.llm.events import TextDelta, ToolCallStart, ToolResult

app = Flask(__name__)
Streamer(app)
HTMX_DIR = os.environ.get("HTMX_DIR")
SRC = ("/htmx", "") if HTMX_DIR else ("https://cdn.jsdelivr.net/npm", "@2")  # base, version
PAGE = """<!doctype html><script src="{0}/htmx.org{1}/dist/htmx.min.js"></script>
<script src="{0}/htmx-ext-sse{1}/dist/sse.js"></script><form><input name="q" value="{2}">
<button>Ask</button></form><table><tbody hx-ext="sse" sse-connect="/feed?{3}" sse-swap="row"
hx-swap="beforeend" sse-close="end"></tbody></table>"""


def row(kind: str, text: str) -> Event:
    return Event(f'<tr class="{kind}"><td>{kind}</td><td>{html.escape(text)}</td></tr>', "row")


async def rows(question: str) -> AsyncIterator[Event]:
    async for e in answer([{"role": "user", "content": question}]):
        if isinstance(e, ToolCallStart):
            yield row("tool", f"calling {e.name}")
        elif isinstance(e, ToolResult):
            yield row("result", str(e.output))
        elif isinstance(e, TextDelta):
            yield row("text", e.text)


@app.get("/")
def page() -> str:
    q = request.args.get("q", "What is the weather in Oslo?")
    return PAGE.format(*SRC, html.escape(q), urlencode({"q": q}))


@app.get("/feed")
def feed() -> Response:
    return stream(rows(request.args.get("q", "")), format="sse")


if HTMX_DIR:  # the npm packages' files, e.g. /htmx/htmx.org/dist/htmx.min.js
    app.add_url_rule("/htmx/<path:path>", "htmx", partial(send_from_directory, HTMX_DIR))
