"""Fast tier of the streamer.service.openai_api package: ``register(app, provider, model=...)``
mounts the /v1 API."""

from __future__ import annotations

from flask import Flask

from streamer import Streamer
from streamer.service import openai_api
from streamer.service.echo_provider import EchoProvider
from streamer.service.openai_api.chunks import ChunkSSE, ResumableChunkSSE


def test_register_mounts_the_v1_routes_and_names_its_stream_endpoints() -> None:
    app = Flask(__name__)
    Streamer(app)
    openai_api.register(app, EchoProvider(0.0), model="m")
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/v1/chat/completions", "/v1/models"} <= rules
    assert set(app.view_functions) >= openai_api.STREAM_ENDPOINTS


def test_the_package_exports_its_encoders() -> None:
    assert (openai_api.ChunkSSE, openai_api.ResumableChunkSSE) == (ChunkSSE, ResumableChunkSSE)
