"""Fast tier of streamer.service.producers: the demo's data producers."""

from __future__ import annotations

import time

from streamer.service.producers import data_chunks, series


def test_data_chunks_are_numbered_lines() -> None:
    assert list(data_chunks(3, 0)) == ["data chunk 1\n", "data chunk 2\n", "data chunk 3\n"]
    assert list(data_chunks(0, 0)) == []


def test_the_first_chunk_comes_at_once_then_one_per_interval() -> None:
    chunks = data_chunks(2, 0.1)
    start = time.monotonic()
    next(chunks)
    assert time.monotonic() - start < 0.09
    next(chunks)
    assert time.monotonic() - start >= 0.09


def test_a_series_is_reproducible_from_its_seed() -> None:
    one = list(series(20, 0, seed=7))
    assert one == list(series(20, 0, seed=7)) != list(series(20, 0, seed=8))
    assert [p["i"] for p in one] == list(range(1, 21))
    assert all(isinstance(p["y"], float) for p in one)
