"""Fast tier of the streamer.server package: its face, and that the server library imports no
add-on and nothing of the demo service (the direction itself: tests/unit/test_layout.py)."""

from __future__ import annotations

import subprocess
import sys

import streamer
import streamer.server
from streamer.server.extension import Streamer
from streamer.server.streaming import stream


def test_the_face_is_the_modules_own_objects() -> None:
    assert streamer.server.Streamer is Streamer is streamer.Streamer
    assert streamer.server.stream is stream is streamer.stream


def test_an_app_with_streams_loads_neither_add_ons_nor_the_service() -> None:
    code = """
import sys
from flask import Flask
from streamer import Streamer, stream

app = Flask(__name__)
Streamer(app)

@app.get("/r")
def r():
    return stream(iter(["a", "b"]), resumable=True)

client = app.test_client()
response = client.get("/r?format=ndjson")
assert response.status_code == 200 and b'"event":"end"' in response.data, response.data
sid = response.headers["X-Stream-Id"]
assert b'"event":"end"' in client.get(f"/streams/{sid}?format=ndjson").data
loaded = sorted(m for m in sys.modules if m.startswith(("streamer.security", "streamer.service",
                                                       "streamer.worker", "streamer.llm")))
assert not loaded, loaded
"""
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True, timeout=60)
