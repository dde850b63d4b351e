"""Fast tier of the streamer.engine package: the names it exports are the ones the rest of the
library uses."""

from __future__ import annotations

from streamer import engine
from streamer.engine.body import StreamBody
from streamer.engine.ending import StreamAborted
from streamer.engine.stats import StreamStats
from streamer.errors import StreamerError
from streamer.server import response


def test_the_package_exports_the_body_its_abort_and_its_stats() -> None:
    assert engine.__all__ == ["StreamAborted", "StreamBody", "StreamStats"]
    assert (engine.StreamBody, engine.StreamAborted, engine.StreamStats) == (
        StreamBody,
        StreamAborted,
        StreamStats,
    )
    assert response.StreamAborted is StreamAborted


def test_an_aborted_stream_is_a_streamer_error_and_a_connection_abort() -> None:
    assert issubclass(StreamAborted, StreamerError)
    assert issubclass(StreamAborted, ConnectionAbortedError)
