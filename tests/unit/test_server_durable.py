"""Fast tier of streamer.server.durable: any Flask app gets the stream URLs from the setting,
and not without it."""

from __future__ import annotations

from flask import Flask

from streamer import Streamer


def app_with(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    Streamer(app)
    return app


def test_the_setting_mounts_the_stream_urls_at_the_prefix() -> None:
    client = app_with(STREAMER_DURABLE=True, STREAMER_DURABLE_PREFIX="/ds").test_client()
    created = client.put("/ds/a/b", data=b"hi", headers={"Content-Type": "text/plain"})
    assert created.status_code == 201 and created.headers["Location"].endswith("/ds/a/b")
    assert client.get("/ds/a/b").data == b"hi"


def test_off_by_default() -> None:
    client = app_with().test_client()
    assert client.put("/v1/stream/a", data=b"hi").status_code == 404
