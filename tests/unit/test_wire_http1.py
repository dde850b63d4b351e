"""Fast tier of streamer.wire.http1: the HTTP/1.1 chunk framing streamer writes itself (the
writers that use it: tests/unit/test_worker_fastpath.py, test_engine_inline.py)."""

from __future__ import annotations

from streamer.wire.http1 import NODELAY_ENVIRON, http_chunk


def test_http_chunk_frames_as_gunicorn_does() -> None:
    assert http_chunk(b"hello") == b"5\r\nhello\r\n"
    assert http_chunk(b"x" * 255) == b"FF\r\n" + b"x" * 255 + b"\r\n"


def test_the_nodelay_key_is_streamers_own_in_the_environ() -> None:
    # PEP 3333: keys a server or middleware adds are named after it, lower case, dotted.
    assert NODELAY_ENVIRON.startswith("streamer.") and NODELAY_ENVIRON.islower()
