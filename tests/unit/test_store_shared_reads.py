"""streamer.store.shared_reads: the readers waiting at one place share one read."""

from __future__ import annotations

import threading
import time

import pytest

from streamer.store.shared_reads import SharedReads

pytestmark = pytest.mark.timeout(20)


class Gate:
    """A read that waits for the test to let it answer, counting the calls."""

    def __init__(self, answer: list[int] | Exception) -> None:
        self.answer = answer
        self.calls: list[tuple[str, int]] = []
        self.open = threading.Event()

    def __call__(self, key: str, after: int, wait_s: float) -> list[int]:
        self.calls.append((key, after))
        self.open.wait(5)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def readers(shared: SharedReads[int], at: list[tuple[str, int]]) -> tuple[list, list]:
    got: list = [None] * len(at)
    threads = []
    for i, (key, after) in enumerate(at):

        def run(i: int = i, key: str = key, after: int = after) -> None:
            try:
                got[i] = shared.read(key, after, 2.0)
            except Exception as exc:
                got[i] = exc

        threads.append(threading.Thread(target=run))
        threads[-1].start()
        time.sleep(0.01)  # the first is the leader
    return got, threads


def test_readers_at_one_place_share_one_read_and_its_records() -> None:
    gate = Gate([5, 6])
    shared: SharedReads[int] = SharedReads(gate, slack_s=1.0)
    got, threads = readers(shared, [("a", 4)] * 50)
    assert len(shared) == 1
    gate.open.set()
    for t in threads:
        t.join(5)
    assert gate.calls == [("a", 4)]
    assert got == [[5, 6]] * 50
    assert len(shared) == 0  # the next wait makes a new read


def test_each_place_has_its_own_read() -> None:
    gate = Gate([1])
    shared: SharedReads[int] = SharedReads(gate, slack_s=1.0)
    _, threads = readers(shared, [("a", 4), ("a", 4), ("a", 7), ("b", 4)])
    gate.open.set()
    for t in threads:
        t.join(5)
    assert sorted(gate.calls) == [("a", 4), ("a", 7), ("b", 4)]


def test_a_failed_read_fails_its_leader_and_sends_each_joiner_to_read_again() -> None:
    failure = ConnectionError("the store went away")
    gate = Gate(failure)
    shared: SharedReads[int] = SharedReads(gate, slack_s=1.0)
    got, threads = readers(shared, [("a", 0)] * 5)
    gate.open.set()
    for t in threads:
        t.join(5)
    assert got == [failure, [], [], [], []]
    assert len(gate.calls) == 1
    gate.answer = [1]
    assert shared.read("a", 0, 1.0) == [1]  # asked again, the read is made again


def test_a_joiner_gives_up_after_the_wait_and_its_slack() -> None:
    gate = Gate([1])  # never opened in time
    shared: SharedReads[int] = SharedReads(gate, slack_s=0.1)
    leader = threading.Thread(target=shared.read, args=("a", 0, 5.0))
    leader.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert shared.read("a", 0, 0.2) == []
    assert 0.25 < time.monotonic() - started < 2.0
    gate.open.set()
    leader.join(5)
