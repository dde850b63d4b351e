"""streamer.engine.core: timer seconds that both of gevent's loops take alike."""

from __future__ import annotations

import pytest

from streamer.engine.core import loop_s


@pytest.mark.parametrize(("seconds", "expected"), [
    (-1.0, 0.0), (0.0, 0.0), (0.00012, 0.001), (0.0009999, 0.001), (0.001, 0.001),
    (0.25, 0.25),
])
def test_no_timer_is_below_libuvs_millisecond(seconds: float, expected: float) -> None:
    assert loop_s(seconds) == expected
