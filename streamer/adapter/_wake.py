"""Waiting: how a consumer (greenlet or plain thread) sleeps until the loop thread wakes it."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any, Protocol

import gevent
import gevent.monkey
from gevent.hub import Waiter

from .._compat.gevent import get_hub_if_exists, loop_s
from ._bridge import _allocate_lock, _get_ident, _ThreadLocal, log

if TYPE_CHECKING:
    from ._bridge import _Bridge

# --------------------------------------------------------------------------------------------
# Waiting: how a consumer (greenlet or plain thread) sleeps until the loop thread wakes it.
#
# Protocol, the same everywhere (it avoids lost wake-ups without a lock):
#   consumer: create a wait handle (for a greenlet: start the hub's watcher first), publish it
#             in ``slots["waiter"]``, re-check the condition, then block.
#   loop:     change the state (append an item, mark finished), then ``slots.pop("waiter")``
#             and notify it.
# ``dict.pop`` is atomic under the GIL, so a handle is notified at most once. If the loop's
# change came before the consumer's re-check, the re-check sees it; if after, the loop's pop
# comes after the publish and finds the handle. Spurious wake-ups are harmless: callers loop.
# --------------------------------------------------------------------------------------------


class _Wake(Protocol):
    def notify(self) -> None: ...  # the loop thread
    def block(self, timeout: float | None) -> None: ...  # the consumer
    def release(self) -> None: ...  # the consumer, idempotent


class _ThreadWake:
    """For a thread without a gevent hub in an unpatched process: block on a real lock."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = _allocate_lock()
        self._lock.acquire()

    def notify(self) -> None:
        with contextlib.suppress(RuntimeError):  # already released: a second notify is a no-op
            self._lock.release()

    def block(self, timeout: float | None) -> None:
        self._lock.acquire(True, -1 if timeout is None else max(timeout, 0.0))

    def release(self) -> None:
        pass


class _HubWaker:
    """One per hub (so per thread): a referenced ``async_`` watcher and a queue of waiters.

    The loop thread appends a gevent ``Waiter`` to ``ready`` and calls ``watcher.send()``, the one
    thread-safe watcher call; the hub then switches to each waiter. The watcher is started and
    referenced only while some greenlet waits: then it keeps the hub from declaring ``LoopExit``
    while the only thing a greenlet waits for is another thread; idle, it does not keep the hub
    alive (on libuv a stopped async watcher still does unless it is unreferenced too). Created,
    started and stopped only in its own thread, as gevent requires of ``async_`` watchers; never
    closed (it lives as long as the thread's hub).
    """

    __slots__ = ("hub", "queued", "ready", "waiting", "watcher")

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.watcher = hub.loop.async_()
        self.watcher.ref = False  # idle
        self.ready: deque[Any] = deque()
        self.waiting = 0
        self.queued = False  # in the bridge's wake_soon() list (loop thread only)

    def send(self) -> None:  # the loop thread, by _Bridge.wake_soon; never raises
        # Nobody waits any more (the consumer saw its item in its re-check, or timed out, before
        # a batched send went out; or the hub's thread is done): nothing to wake. A greenlet
        # that starts waiting later publishes itself after enter(), so it is notified (and
        # sent to) after this read.
        if self.waiting:
            try:
                self.watcher.send()
            except Exception:  # the hub was destroyed under its waiters: nobody left to wake
                log.debug("streamer.adapter: a wake-up for a destroyed hub", exc_info=True)

    def enter(self) -> None:
        # Start before the waiter is published: ev_async_start() forgets earlier send()s.
        if self.waiting == 0:
            self.watcher.ref = True
            self.watcher.start(self._on_async)
        self.waiting += 1

    def leave(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.watcher.stop()
            self.watcher.ref = False

    def _on_async(self) -> None:  # in the hub greenlet
        ready = self.ready
        while ready:
            # Waiter.switch() resumes the greenlet if it is still in get(); a waiter whose
            # greenlet already left (timeout, spurious wake) just stores the value.
            ready.popleft().switch(None)


class _HubWake:
    """For a greenlet: wait in the hub, woken through the hub's :class:`_HubWaker`."""

    __slots__ = ("_bridge", "_waiter", "_waker")

    def __init__(self, waker: _HubWaker, bridge: _Bridge) -> None:
        waker.enter()
        self._waker: _HubWaker | None = waker
        self._waiter = Waiter(waker.hub)
        self._bridge = bridge

    def notify(self) -> None:  # the loop thread
        waker = self._waker
        if waker is not None:
            waker.ready.append(self._waiter)
            self._bridge.wake_soon(waker)  # one send() per hub per loop tick

    def block(self, timeout: float | None) -> None:
        waker = self._waker
        assert waker is not None
        if timeout is None:
            self._waiter.get()
            return
        # The last round of a deadline often has under 1 ms left (libuv's timers fire up to a
        # millisecond early): libuv takes no shorter timer (it warns; an error under -W error).
        timer = waker.hub.loop.timer(loop_s(timeout))
        timer.start(self._waiter.switch, None)
        try:
            self._waiter.get()
        finally:
            timer.close()

    def release(self) -> None:
        waker, self._waker = self._waker, None
        if waker is not None:
            waker.leave()


_wakers = _ThreadLocal()


def _new_wake(bridge: _Bridge) -> _Wake:
    """A wait handle for the calling greenlet or thread (see the protocol above)."""
    if gevent.monkey.is_module_patched("threading"):
        hub = gevent.get_hub()
    else:
        # Unpatched: use the hub only if this thread already runs one (greenlets around);
        # a plain thread just blocks, which is what it expects.
        hub = gevent.get_hub() if get_hub_if_exists() is not None else None
    if hub is None:
        return _ThreadWake()
    waker: _HubWaker | None = getattr(_wakers, "waker", None)
    if waker is None or waker.hub is not hub:  # first use, or the hub was destroyed
        waker = _wakers.waker = _HubWaker(hub)
    return _HubWake(waker, bridge)


def _wait_for(
    bridge: _Bridge, slots: dict[str, Any], ready: Callable[[], bool], deadline: float | None
) -> bool:
    """Wait cooperatively until ``ready()`` or ``deadline`` (monotonic); return ``ready()``."""
    if _get_ident() == bridge.ident:
        raise RuntimeError(
            "streamer.adapter: waiting on the bridge loop's own thread would deadlock; "
            "use `async for` / `await` in async code"
        )
    while not ready():
        wake = _new_wake(bridge)
        slots["waiter"] = wake
        try:
            if ready():  # the re-check of the protocol
                return True
            timeout = None if deadline is None else deadline - monotonic()
            if timeout is not None and timeout <= 0:
                return False
            wake.block(timeout)
        finally:
            slots.pop("waiter", None)
            wake.release()
    return True


def _in_hub() -> bool:
    hub = get_hub_if_exists()
    return hub is not None and gevent.getcurrent() is hub
