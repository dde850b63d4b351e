"""The bridge loop: the process's asyncio loop in its own real thread (see the package
docstring), and the wake-ups it sends to waiting greenlets: one per hub per loop tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any, Final, cast

import gevent
import gevent.monkey

from .._compat.gevent import loop_s, selector_has_ready
from .._compat.stdlib import register_before_thread_join

log = logging.getLogger("streamer.adapter")

#: How long ``close()`` (and ``run_sync`` after a timeout) waits for the producer's cleanup.
CLOSE_WAIT_S: Final = 1.0
#: How long interpreter exit waits for the bridge loop to join its executor threads.
EXIT_WAIT_S: Final = 2.0

# The real OS-level primitives, also after gevent.monkey.patch_all(): the bridge loop must be a
# real thread, its locks real locks, its thread-local storage per thread (not per greenlet).
_start_thread, _allocate_lock, _get_ident, _ThreadLocal = gevent.monkey.get_original(
    "_thread", ["start_new_thread", "allocate_lock", "get_ident", "_local"]
)


class _Bridge:
    """The process's asyncio loop, running forever in its own real thread."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ident: int | None = None
        # Work for the loop thread. Callers append, then schedule one drain if none is pending:
        # many submissions (streams starting, consumers freeing space) share one self-pipe
        # write, and submissions made before the loop exists wait here instead of blocking.
        self._pending: deque[Callable[[], object]] = deque()
        self._drain_scheduled = False
        # asyncio keeps only weak references to tasks: keep running pumps alive here.
        self.tasks: set[asyncio.Task[Any]] = set()
        # Hubs to wake before the loop next polls (loop thread only); see wake_soon().
        self._to_wake: list[Any] = []
        self._batched = False  # set by _run: the loop's selector calls _send_wakes
        _start_thread(self._run, ())
        # Imported first so that its exit hook is registered before ours: threading runs
        # these hooks in reverse order, and ours must run before it joins executor threads.
        import concurrent.futures.thread  # noqa: F401

        register_before_thread_join(self._shutdown_executor)

    def _shutdown_executor(self) -> None:  # the main thread, at interpreter exit
        """Join the loop's default executor on the loop's own thread, before the interpreter
        does it from the main thread and hangs.

        In a patched process that executor's "threads" (name lookup, ``to_thread``) are
        greenlets of the loop thread's hub, waiting on a gevent queue; concurrent.futures'
        exit hook wakes them from the main thread, which a gevent queue does not notice, and
        then joins them forever: a gunicorn worker sat until its graceful timeout killed it.
        """
        loop = self.loop
        if loop is None or self.pid != os.getpid() or loop.is_closed():
            return
        done = _allocate_lock()
        done.acquire()

        def start() -> None:
            task = loop.create_task(loop.shutdown_default_executor())
            task.add_done_callback(lambda _: done.release())

        try:
            loop.call_soon_threadsafe(start)
        except RuntimeError:  # closed meanwhile
            return
        done.acquire(True, EXIT_WAIT_S)

    def _run(self) -> None:  # the loop thread
        # Created here, after any patching, so that in a patched process the loop gets gevent's
        # selector bound to this thread's own hub.
        loop, self._batched = _new_loop(self._send_wakes)
        asyncio.set_event_loop(loop)
        self.ident = _get_ident()
        self.loop = loop  # published last: from now on, submit() schedules drains itself
        loop.call_soon(self._drain)
        loop.run_forever()

    def submit(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` on the loop thread soon (any thread, never blocks)."""
        self._pending.append(fn)
        # Order matters: append, then read the flag; _drain clears the flag, then pops. If we
        # read "scheduled" before the drain cleared it, the drain's pops come after our append.
        if not self._drain_scheduled:
            loop = self.loop
            if loop is not None:
                self._drain_scheduled = True
                with contextlib.suppress(RuntimeError):  # loop closed: interpreter shutdown
                    loop.call_soon_threadsafe(self._drain)

    def wake_soon(self, waker: Any) -> None:
        """Call ``waker.send()`` before the loop next polls, once for everything asked of it
        until then (loop thread only; ``waker``: a :class:`~._wake._HubWaker`).

        At chat rates every token is its own read, so a wake-up per item was a wake-up of the
        hub's thread per token: a write to its event fd and, with that thread waiting for the
        GIL, a hand-over at the bridge's next system call. Sent when the loop is about to poll
        (the end of its tick), the items of all the streams that the tick produced go over in
        one hand-over. Without gevent's selector (an unpatched process) it sends at once."""
        if not self._batched:
            waker.send()
        elif not waker.queued:
            waker.queued = True
            self._to_wake.append(waker)

    def _send_wakes(self) -> None:  # the loop thread, from _BridgeSelector.select()
        wakers, self._to_wake = self._to_wake, []
        for waker in wakers:
            waker.queued = False
            waker.send()  # never raises: a hub that went away is skipped

    def _drain(self) -> None:
        self._drain_scheduled = False
        pending = self._pending
        while pending:
            fn = pending.popleft()
            try:
                fn()
            except Exception:  # pragma: no cover - our callbacks do not raise
                log.exception("streamer.adapter: callback failed on the bridge loop")


# A busy loop (ready callbacks pending) calls select(0) once per iteration. GeventSelector
# answers every select(0) by yielding to the thread's hub: ~14 µs per iteration instead of ~2 µs
# on epoll, and a task woken by a future takes two iterations. So zero-timeout polls are skipped
# when the last real poll is younger than this: while busy, the loop still polls its sockets
# (and lets its hub run greenlets, such as to_thread workers) every 0.5 ms; when idle it blocks
# in a real select as before. Measured: 14.3 -> 2.6 µs per iteration.
_BUSY_POLL_S: Final = 0.0005


def _new_loop(before_poll: Callable[[], None]) -> tuple[asyncio.AbstractEventLoop, bool]:
    """A new event loop for the calling (bridge) thread (see the module docstring), and
    whether it calls ``before_poll()`` at the end of each tick (with gevent's selector)."""
    if not gevent.monkey.is_module_patched("selectors"):
        return asyncio.new_event_loop(), False
    from gevent.selectors import GeventSelector

    class _BridgeSelector(GeventSelector):  # type: ignore[misc]  # gevent has no stubs
        _last_poll = 0.0

        def select(self, timeout: float | None = None) -> list[Any]:
            before_poll()  # the tick's callbacks have run: its wake-ups go out now
            if (
                timeout is not None
                and timeout <= 0
                and not selector_has_ready(self)
                and monotonic() - self._last_poll < _BUSY_POLL_S
            ):
                return []
            self._last_poll = monotonic()
            # asyncio's timeout to its next timer is often under 1 ms: no gevent timer is
            # shorter than 1 ms (libuv warns, and under -W error the loop thread died).
            return cast(list[Any], super().select(None if timeout is None else loop_s(timeout)))

    # Built here, on the bridge thread: the selector binds to this thread's hub.
    return asyncio.SelectorEventLoop(_BridgeSelector()), True


_bridge: _Bridge | None = None
_bridge_lock = _allocate_lock()
_orphans: list[_Bridge] = []


def _get_bridge() -> _Bridge:
    bridge = _bridge
    if bridge is not None and bridge.pid == os.getpid():
        return bridge
    return _start_bridge()


def _start_bridge() -> _Bridge:
    global _bridge
    with _bridge_lock:  # held for microseconds: starting a thread does not wait for it
        bridge = _bridge
        if bridge is None or bridge.pid != os.getpid():
            if bridge is not None:
                # A parent's loop, inherited by fork; its thread does not exist here. Keep a
                # reference so its __del__ never warns about an unclosed loop.
                _orphans.append(bridge)
            if gevent.monkey.is_module_patched("threading"):
                # Create this thread's hub first. Hub.__init__ lazily imports modules named by
                # gevent's config; with patched import locks, two threads creating their first
                # hubs at once (this one about to wait, the new loop thread) deadlocked in
                # ~1 of 3 runs of a script. Afterwards the config is cached: no imports.
                gevent.get_hub()
            bridge = _bridge = _Bridge()
        return bridge


def _after_fork_in_child() -> None:
    global _bridge_lock
    # The lock may have been held by another thread at fork time; the pid check in
    # _get_bridge() then replaces the parent's bridge.
    _bridge_lock = _allocate_lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
