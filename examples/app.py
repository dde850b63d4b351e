"""A Flask app that streams with streamer. Copy it, then change the producers.

pip install "/path/to/streamer[flask]"          # a checkout of this repository
gunicorn -k streamer.worker.Worker app:app      # or -k gevent; see examples/README.md

curl -N localhost:8000/ticks                    # text
curl -N 'localhost:8000/words?format=ndjson'    # or -H 'Accept: text/event-stream'
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from flask import Flask, Response, request

from streamer import Streamer, UpstreamError, stream

app = Flask(__name__)
app.config["STREAMER_HEARTBEAT_S"] = 5  # any STREAMER_* setting, as in the environment
Streamer(app)  # or: ext = Streamer(); ext.init_app(app)


def ticks(count: int, interval: float) -> Iterator[str]:
    """A plain generator. Under gunicorn's gevent worker, time.sleep only pauses this stream."""
    for i in range(1, count + 1):
        if i > 1:
            time.sleep(interval)
        yield f"tick {i}\n"


async def words(text: str, interval: float) -> AsyncIterator[str]:
    """An async generator, like an LLM SDK's stream: bridged to the view by streamer. When the
    client leaves, it is cancelled where it awaits and its ``finally`` runs."""
    sent = 0
    try:
        for word in text.split():
            if sent:
                await asyncio.sleep(interval)
            yield word + " "
            sent += 1
    finally:
        app.logger.warning("words: producer closed after %d words", sent)


def forecast(city: str) -> Iterator[str]:
    """Fails before its first item: the client gets a JSON error with a real status (502)."""
    if city == "atlantis":
        raise UpstreamError("the weather service does not know this city")
    yield f"{city}: sunny\n"


@app.teardown_request
def release_resources(exc: BaseException | None) -> None:
    """Per-request clean-up (a database session, say). For a stream it runs once, when the
    stream ends: completed, failed, or left by its client."""
    app.logger.warning("teardown %s %s", request.path, type(exc).__name__ if exc else "ok")


@app.get("/ticks")
def ticks_view() -> Response:
    return stream(
        ticks(int(request.args.get("count", "5")), float(request.args.get("interval", "0.5")))
    )


@app.get("/words")
def words_view() -> Response:
    text = request.args.get("text", "streams are just iterators that take their time")
    return stream(words(text, float(request.args.get("interval", "0.2"))))


@app.get("/weather")
def weather_view() -> Response:
    return stream(forecast(request.args.get("city", "paris")))


@app.get("/report")
def report_view() -> Response:
    # Runs to the end even if the client leaves; X-Stream-Id names it, and
    # GET /streams/<id> with Last-Event-ID resumes it.
    return stream(
        ticks(int(request.args.get("count", "10")), float(request.args.get("interval", "0.2"))),
        resumable=True,
    )
