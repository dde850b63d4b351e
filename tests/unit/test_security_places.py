"""Places counted by name (streamer.security.places), in process: the local counts, and the
shared places over counters that answer like the store's or fail like a store away. On a
real redis-server: tests/real/test_store_redis_counters.py, tests/real/test_fairness_live.py
and tests/real/test_tokens_live.py."""

from __future__ import annotations

import logging

import pytest

from streamer.errors import StoreUnavailable
from streamer.security.places import (
    ADMITTED,
    TOO_MANY_NEW,
    TOO_MANY_OPEN,
    KeySlots,
    LocalCounts,
    SharedPlaces,
)

A, B = "203.0.113.1", "203.0.113.2"


def test_key_slots_count_per_name_with_a_limit_of_their_own_or_the_callers() -> None:
    slots = KeySlots(2)
    assert [slots.acquire("key1") for _ in range(3)] == [True, True, False]
    assert slots.acquire("key1", limit=3) and slots.count("key1") == 3
    for _ in range(4):  # one more release than held: never below zero
        slots.release("key1")
    assert slots.count("key1") == 0


def test_local_counts_open_streams_per_address() -> None:
    counts = LocalCounts()
    assert [counts.admit(A, 2, 0)[0] for _ in range(3)] == [ADMITTED, ADMITTED, TOO_MANY_OPEN]
    assert counts.admit(B, 2, 0)[0] == ADMITTED  # another address has its own
    counts.release(A)
    assert counts.admit(A, 2, 0)[0] == ADMITTED
    for _ in range(2):
        counts.release(A)
    assert counts.open_count(A) == 0


def test_local_counts_new_streams_in_a_one_second_window() -> None:
    counts = LocalCounts()
    got = [counts.admit(A, 0, 3, now=100.25) for _ in range(4)]
    assert [code for code, _ in got] == [ADMITTED] * 3 + [TOO_MANY_NEW]
    assert got[-1][1] == pytest.approx(0.75)  # until the window ends
    assert counts.admit(B, 0, 3, now=100.5)[0] == ADMITTED
    assert counts.admit(A, 0, 3, now=101.0)[0] == ADMITTED  # a new window
    assert counts.open_count(A) == 0  # no open limit: nothing held


class Counters:
    """Answers as streamer.store.redis_counters.RedisClientCounters does (open places only),
    in memory; ``away``: every call fails as a store that does not answer."""

    def __init__(self) -> None:
        self.members: dict[str, set[str]] = {}
        self.away = False

    def _check(self) -> None:
        if self.away:
            raise StoreUnavailable("the stream store (Redis) is unavailable")

    def admit(self, name: str, member: str, open_limit: int, rate_limit: int) -> tuple[int, float]:
        self._check()
        held = self.members.setdefault(name, set())
        if open_limit and len(held) >= open_limit:
            return TOO_MANY_OPEN, 0.0
        held.add(member)
        return ADMITTED, 0.0

    def release(self, name: str, member: str) -> None:
        self._check()
        self.members.get(name, set()).discard(member)

    def renew(self, held: dict[str, list[str]]) -> None:
        self._check()


def test_shared_places_are_held_on_the_counters_as_members_of_their_name() -> None:
    counters = Counters()
    places = SharedPlaces(2, 0, counters, lease_s=3, what="the test's limit")
    first, second, third = (places.admit("stream-1", rate=False) for _ in range(3))
    assert [first[0], second[0], third[0]] == [ADMITTED, ADMITTED, TOO_MANY_OPEN]
    assert first[2] and second[2] and first[2] != second[2] and third[2] is None
    assert counters.members["stream-1"] == {first[2], second[2]}
    places.release("stream-1", first[2])
    assert counters.members["stream-1"] == {second[2]}
    assert places.admit("stream-1", rate=False)[0] == ADMITTED


def test_while_the_store_is_away_places_count_in_this_process_and_it_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = Counters()
    counters.away = True
    places = SharedPlaces(1, 0, counters, lease_s=3, what="the test's limit")
    with caplog.at_level(logging.WARNING, logger="streamer"):
        code, _, member = places.admit(A, rate=False)
        assert (code, member) == (ADMITTED, None)  # counted here
        assert places.admit(A, rate=False)[0] == TOO_MANY_OPEN  # the limit still holds
        places.release(A, None)
        assert places.local.open_count(A) == 0
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "streamer: the test's limit: the store is unavailable; counting per worker until it answers"
    ]


def test_the_answers_are_the_redis_counters_own() -> None:
    pytest.importorskip("redis")
    from streamer.store import redis_counters

    assert (ADMITTED, TOO_MANY_OPEN, TOO_MANY_NEW) == (
        redis_counters.ADMITTED,
        redis_counters.TOO_MANY_OPEN,
        redis_counters.TOO_MANY_NEW,
    )
