"""One subscription per process that tells running producers their stream was stopped.

A cancel (``DELETE /streams/<id>``) or a reap may happen in any worker of any instance, and the
producer must stop at once. Waiting for it with a blocking command per producer (``BLPOP``)
held one pooled connection per running stream, so about a thousand producers exhausted a
worker's pool and new streams failed. Instead, the store's append script
``PUBLISH``es the stream id on one channel when it stops a stream, and this listener, on one
connection of its own, sets the local event that the stream's producer waits on between lease
renewals. A message lost while the connection is being re-made costs nothing but time: the
next renewal (every ``lease/3``) finds the stream finished anyway.

Threads, not greenlets: under gevent's monkey-patching (the service) ``threading`` is
cooperative; unpatched (the fast tests) the listener is a real thread and the events are real.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

CHANNEL = "streamer:stopped"
"""The channel the append script publishes a stopped stream's id on."""

log = logging.getLogger("streamer")


class StopListener:
    """Events per running stream of this process, set when its stream is stopped elsewhere."""

    def __init__(self, subscribe: Callable[[], Any]) -> None:
        self._subscribe = subscribe  # () -> a redis-py PubSub
        self._events: dict[str, threading.Event] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def event(self, stream_id: str) -> threading.Event:
        """The event for ``stream_id`` (made on first use); starts the listener if needed."""
        ev = self._events.get(stream_id)
        if ev is None:
            ev = self._events[stream_id] = threading.Event()
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="streamer-stops", daemon=True)
            self._thread.start()
        return ev

    def stopped(self, stream_id: str) -> None:
        """Wake the local producer of ``stream_id`` (its own terminal write, or a message)."""
        ev = self._events.get(stream_id)
        if ev is not None:
            ev.set()

    def forget(self, stream_id: str) -> None:
        self._events.pop(stream_id, None)

    def close(self) -> None:
        self._closed = True

    def _run(self) -> None:
        while not self._closed:
            pubsub: Any = None
            try:
                pubsub = self._subscribe()
                pubsub.subscribe(CHANNEL)
                while not self._closed:
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message["data"]
                        self.stopped(data.decode() if isinstance(data, bytes) else str(data))
            except Exception:
                # Redis restarting, stalled or failed over: renewals still find stopped
                # streams; re-subscribe. Any exception, not only redis-py's own: a thread that
                # died here would leave the process without a listener for good, and redis-py
                # 8.1 raised AttributeError ("'NoneType' object has no attribute 'readline'")
                # from a connection torn down under a read (seen in the store tests).
                time.sleep(0.5)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # as above: best effort, on a connection that failed
                        pass
