"""Fast tier of streamer.engine.registry: the open streams of one app in one worker."""

from __future__ import annotations

import weakref

import gevent
import pytest

from streamer.engine import registry as registry_module
from streamer.engine.registry import StreamRegistry, shutdown_all_registries


class Body:
    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.shut = 0

    def tick(self, now: float) -> None:
        self.ticks.append(now)

    def shutdown(self) -> None:
        self.shut += 1


def test_open_bodies_and_detached_producers_count_toward_the_limit() -> None:
    registry, body = StreamRegistry(), Body()
    registry.add(body)
    registry.detached += 1
    assert len(registry) == 2
    registry.discard(body)
    registry.discard(body)  # twice: harmless
    assert len(registry) == 1


@pytest.mark.timeout(10)
def test_open_bodies_are_swept_and_a_closed_one_no_more() -> None:
    registry, body = StreamRegistry(tick_s=0.02), Body()
    registry.add(body)
    gevent.sleep(0.1)
    registry.discard(body)
    seen = len(body.ticks)
    gevent.sleep(0.06)
    assert seen >= 2 and len(body.ticks) == seen


def test_shutdown_ends_every_open_body_of_every_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_live", weakref.WeakSet())  # only this test's
    one, two = StreamRegistry(), StreamRegistry()
    bodies = [Body(), Body(), Body()]
    one.add(bodies[0])
    one.add(bodies[1])
    two.add(bodies[2])
    assert shutdown_all_registries() == 3
    assert [b.shut for b in bodies] == [1, 1, 1] and one.shutting_down and two.shutting_down
    for b in bodies[:2]:
        one.discard(b)
    two.discard(bodies[2])


@pytest.mark.timeout(10)
def test_the_sweep_timer_outlives_a_discard_until_a_sweep_finds_none_open() -> None:
    registry, one, two = StreamRegistry(tick_s=0.02), Body(), Body()
    registry.add(one)
    timer = registry._timer
    registry.discard(one)
    registry.add(two)  # the next stream reuses the timer
    assert registry._timer is timer
    gevent.sleep(0.06)
    assert len(two.ticks) >= 2
    registry.discard(two)
    gevent.sleep(0.06)
    assert registry._timer is None  # stopped by the sweep that found none open
    registry.add(one)
    gevent.sleep(0.06)
    assert one.ticks
