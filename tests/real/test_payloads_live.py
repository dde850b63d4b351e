"""Real tier of what a producer yields (tests/unit/test_server_streaming.py,
test_wire_framing.py): a bare ``Flask()`` + ``Streamer(app)`` yielding the OpenAI SDK's own
``ChatCompletionChunk`` objects, under gunicorn with ``-k streamer.worker.Worker``; the first
chunk reaches the client while the producer still runs."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from streamer.wire.decoders import NDJSONDecoder
from streamer.wire.records import Data, End, Error

from ..conftest import ROOT, Server
from ..unit.test_server_streaming import CHUNK_JSON, USAGE_JSON

APP = """
import asyncio
import json
import os
from pathlib import Path

from flask import Flask
from openai.types.chat import ChatCompletionChunk
from streamer import Streamer, stream

app = Flask(__name__)
Streamer(app)
GATE = Path(os.environ["PAYLOAD_GATE"])
CHUNK, USAGE = json.loads(os.environ["PAYLOAD_CHUNK"]), json.loads(os.environ["PAYLOAD_USAGE"])


class Opaque:
    pass


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/chunks")
def chunks():
    async def producer():
        yield ChatCompletionChunk.model_validate(CHUNK)
        for _ in range(400):  # until the test opens the gate: at most 20 s
            if GATE.exists():
                break
            await asyncio.sleep(0.05)
        yield ChatCompletionChunk.model_validate(USAGE)
        yield Opaque()

    return stream(producer(), format="ndjson")
"""


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    gate = tmp_path / "gate"

    def argv(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "-k",
            "streamer.worker.Worker",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--no-control-socket",
            "app:app",
        ]

    env = {
        "PYTHONPATH": str(ROOT),
        "PAYLOAD_GATE": str(gate),
        "PAYLOAD_CHUNK": json.dumps(CHUNK_JSON),
        "PAYLOAD_USAGE": json.dumps(USAGE_JSON),
    }
    srv = Server(env, tmp_path / "gunicorn.log", argv=argv, cwd=tmp_path)
    yield srv, gate
    srv.stop()


@pytest.mark.timeout(60)
def test_sdk_chunks_stream_live_and_an_unserialisable_one_ends_in_band(
    app_server: tuple[Server, Path],
) -> None:
    srv, gate = app_server
    decoder = NDJSONDecoder()
    records: list[object] = []
    deadline = time.monotonic() + 30
    with requests.get(srv.url("/chunks"), stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["Transfer-Encoding"] == "chunked"
        chunks = response.iter_content(chunk_size=None)
        while not records:  # the first chunk, while the producer waits at the gate
            assert time.monotonic() < deadline, "no first record"
            records += decoder.feed(next(chunks))
        assert records == [Data(1, CHUNK_JSON)]
        assert not gate.exists()  # the producer cannot have finished: it waits for this
        gate.touch()
        try:
            for chunk in chunks:
                records += decoder.feed(chunk)
                assert time.monotonic() < deadline, "the stream did not end"
        except requests.exceptions.ChunkedEncodingError:
            pass  # cut after the error record, no chunked terminator: expected
    assert records[:2] == [Data(1, CHUNK_JSON), Data(2, USAGE_JSON)]
    assert len(records) == 3 and isinstance(records[2], Error)
    assert records[2].type == "unserializable_payload"
    assert "Object of type Opaque is not JSON serializable" in records[2].message
    assert not any(isinstance(r, End) for r in records)
    assert "Traceback" not in srv.log()
