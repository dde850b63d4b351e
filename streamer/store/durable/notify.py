"""Wake the readers of this process waiting on a durable stream when any process changes it:
one subscription per process to the channel every write script publishes the path on (as
:mod:`streamer.store.redis_stops` does for stopped producers), and a condition per path
with waiters.

A message lost while the subscription is being re-made costs only time: a waiter re-checks
its stream at least every :data:`RECHECK_S`. Threads, not greenlets: under gevent's patching
(the service) ``threading`` is cooperative."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

log = logging.getLogger("streamer")

RECHECK_S = 1.0


class ChangeListener:
    def __init__(self, subscribe: Callable[[], Any], channel: str) -> None:
        self._subscribe = subscribe  # () -> a redis-py PubSub
        self._channel = channel
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Condition, int]] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def wait(self, path: str, changed: Callable[[], bool], timeout_s: float) -> None:
        """Return once ``changed()`` is true (checked now, on each message for ``path`` and at
        least every second), or after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            cond, count = self._waiting.get(path, (threading.Condition(self._lock), 0))
            self._waiting[path] = (cond, count + 1)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="streamer-ds", daemon=True)
                self._thread.start()
        try:
            while True:
                if changed():
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                with self._lock:
                    cond.wait(min(left, RECHECK_S))
        finally:
            with self._lock:
                cond, count = self._waiting[path]
                if count <= 1:
                    del self._waiting[path]
                else:
                    self._waiting[path] = (cond, count - 1)

    def changed(self, path: str) -> None:
        with self._lock:
            entry = self._waiting.get(path)
            if entry is not None:
                entry[0].notify_all()

    def close(self) -> None:
        self._closed = True

    def _run(self) -> None:
        while not self._closed:
            pubsub: Any = None
            try:
                pubsub = self._subscribe()
                pubsub.subscribe(self._channel)
                while not self._closed:
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message["data"]
                        self.changed(data.decode() if isinstance(data, bytes) else str(data))
            except (redis.RedisError, OSError):
                time.sleep(0.5)  # Redis restarting: waiters re-check every second anyway
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except (redis.RedisError, OSError):
                        pass
