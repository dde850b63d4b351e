"""Fast tier of streamer.store.durable.notify: a waiter wakes on its path's message, not on
another's, and returns after its timeout when nothing comes."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from streamer.store.durable.notify import ChangeListener


class FakePubSub:
    """The two calls of redis-py's PubSub the listener makes, fed from a queue."""

    def __init__(self, messages: queue.Queue[str]) -> None:
        self.messages = messages
        self.channels: list[str] = []

    def subscribe(self, channel: str) -> None:
        self.channels.append(channel)

    def get_message(self, ignore_subscribe_messages: bool, timeout: float) -> dict[str, Any] | None:
        try:
            return {"type": "message", "data": self.messages.get(timeout=timeout).encode()}
        except queue.Empty:
            return None

    def close(self) -> None:
        pass


def test_a_message_for_the_path_wakes_its_waiter() -> None:
    messages: queue.Queue[str] = queue.Queue()
    pubsub = FakePubSub(messages)
    listener = ChangeListener(lambda: pubsub, "chan")
    flag = threading.Event()
    try:
        threading.Timer(0.1, lambda: messages.put("other")).start()

        def change() -> None:
            flag.set()
            messages.put("mine")

        threading.Timer(0.3, change).start()
        started = time.monotonic()
        listener.wait("mine", flag.is_set, 5)
        took = time.monotonic() - started
        assert flag.is_set() and 0.25 < took < 0.9  # woken by the message, not the re-check
        assert pubsub.channels == ["chan"]
        started = time.monotonic()
        listener.wait("mine", lambda: False, 0.2)
        assert 0.15 < time.monotonic() - started < 1
    finally:
        listener.close()
