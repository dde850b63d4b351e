"""The async-to-sync adapter: the one place where asyncio becomes a plain iterator.

A WSGI app on gevent consumes; an asyncio producer (the OpenAI SDK's streamed chat, say) produces.
:func:`iterate_async` runs the producer on a per-process *bridge loop* and hands its items to the
consuming greenlet, which waits cooperatively: other greenlets (other streams) keep running.

Example::

    async def tokens(prompt: str) -> AsyncIterator[str]:
        client = loop_local("openai", AsyncOpenAI)      # one client per loop, built on the loop
        stream = await client.chat.completions.create(..., stream=True)
        async for chunk in stream:
            yield chunk.choices[0].delta.content or ""

    with iterate_async(lambda: tokens("hi"), buffer=64) as stream:
        for token in stream:                             # a plain iterator
            send(token)

    n = run_sync(lambda: count_rows(), timeout=5.0)      # one coroutine, waited for cooperatively

Design (see docs/design.md, "The async-to-sync adapter", and issue 4):

- **One bridge loop per process,** started lazily in a real OS thread (the *original*
  ``_thread.start_new_thread`` when gevent has patched threading: a patched ``threading.Thread``
  would start a greenlet). The loop is created inside that thread, after patching, so in a
  patched process it runs on gevent's ``GeventSelector`` bound to the thread's own hub: name
  lookup, ``asyncio.to_thread`` and ``anyio.to_thread`` (used by the openai SDK) work.
  On the original epoll selector name lookup and ``anyio.to_thread`` hang (tested). A forked
  child (a gunicorn worker) starts its own loop. Zero-timeout polls are rate-limited (see
  ``_BUSY_POLL_S``): GeventSelector otherwise costs ~14 µs per loop iteration.
- **Per stream,** a pump task on the loop fills a bounded deque; the consumer pops from it
  without locks (deque appends/pops are atomic). Backpressure: the pump waits once the deque
  holds ``buffer`` items and is woken when the consumer has drained it to half, so crossings of
  the thread boundary are amortized over ``buffer / 2`` items.
- **Waking the consumer:** a greenlet waits on its hub's one referenced ``async_`` watcher
  (thread-safe ``send()``); without a referenced watcher a greenlet waiting only on another
  thread dies with ``LoopExit`` in an unpatched process. A thread without a gevent hub in an
  unpatched process (a script, a test) blocks on a real lock instead. The pump wakes a waiting
  consumer once per batch, not per item: only when the consumer has registered as waiting.
- **Close** (``close()``, ``with``, garbage collection, ``GeneratorExit`` around the loop) asks
  the loop to stop the producer: cancel the pump while it awaits the producer, or let it
  ``aclose()`` the producer when it is parked on backpressure. It never cancels once
  ``aclose()`` has begun: cancelling a producer inside its own cleanup raised ``CancelledError``
  there in ~3% of streams. ``close()`` then waits cooperatively up to ``CLOSE_WAIT_S`` (1 s)
  for the producer's ``finally`` to finish, so normally "after close() the producer's cleanup has
  run"; a producer whose cleanup takes longer finishes in the background. Garbage collection
  only requests the close (it may run in the hub, where waiting is not allowed).
- **Why not asyncio-gevent** (asyncio on the gevent hub, no second thread): per the prototype
  (issue 4) it makes its loop visible in every greenlet (``asyncio.run()`` in a view raises)
  and its helpers hang when called from a request greenlet. An emulation of its design (a
  GeventSelector loop in a greenlet of the consumer's hub; the package itself not installed)
  measured a ~23 µs hand-off against ~50 µs here, and about the same per-item cost. The
  thread costs a GIL hand-over per wake-up; it buys isolation from request greenlets.

Measured (``bench/bench_adapter.py``, patched process, shared 2-core machine): ~1.0-1.3 µs per
item with buffer 64, ~0.5-1.1 with 256, ~3-5 with 16; a hand-off to a waiting consumer
~45-55 µs p50.

Caveats: iterate a :class:`SyncStream` from one greenlet at a time, never on the bridge loop's
thread (it would deadlock; use ``async for`` there). Producer code runs on the bridge loop
thread: blocking calls there stall every stream of the process (use ``asyncio.to_thread``).
Import order: in a server, gevent's ``patch_all()`` must run before this module is imported
(``wsgi.py`` does), like any module that imports ``asyncio`` (it imports ``ssl``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from time import monotonic
from types import TracebackType
from typing import Any, Final, Generic, Protocol, TypeVar, cast

import gevent
import gevent.monkey
from gevent.hub import Waiter

from ._compat.gevent import get_hub_if_exists, selector_has_ready
from ._compat.stdlib import register_before_thread_join

__all__ = ["CLOSE_WAIT_S", "SyncStream", "iterate_async", "loop_local", "run_sync"]

T = TypeVar("T")

log = logging.getLogger(__name__)

#: How long ``close()`` (and ``run_sync`` after a timeout) waits for the producer's cleanup.
CLOSE_WAIT_S: Final = 1.0
#: How long interpreter exit waits for the bridge loop to join its executor threads.
EXIT_WAIT_S: Final = 2.0

# The real OS-level primitives, also after gevent.monkey.patch_all(): the bridge loop must be a
# real thread, its locks real locks, its thread-local storage per thread (not per greenlet).
_start_thread, _allocate_lock, _get_ident, _ThreadLocal = gevent.monkey.get_original(
    "_thread", ["start_new_thread", "allocate_lock", "get_ident", "_local"]
)

# End of stream marker, appended by the pump after the last item (and after the producer's
# error, if any, has been stored). A private object: a producer cannot yield it.
_END: Final = object()


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
    def notify(self) -> None: ...  # any thread
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
    thread-safe watcher call; the hub then switches to each waiter. The watcher is started only
    while some greenlet waits: started and referenced, it keeps the hub from declaring
    ``LoopExit`` while the only thing a greenlet waits for is another thread; stopped, it does
    not keep an idle hub alive. Created, started and stopped only in its own thread, as gevent
    requires of ``async_`` watchers; never closed (it lives as long as the thread's hub).
    """

    __slots__ = ("hub", "ready", "waiting", "watcher")

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.watcher = hub.loop.async_()
        self.ready: deque[Any] = deque()
        self.waiting = 0

    def enter(self) -> None:
        # Start before the waiter is published: ev_async_start() forgets earlier send()s.
        if self.waiting == 0:
            self.watcher.start(self._on_async)
        self.waiting += 1

    def leave(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.watcher.stop()

    def _on_async(self) -> None:  # in the hub greenlet
        ready = self.ready
        while ready:
            # Waiter.switch() resumes the greenlet if it is still in get(); a waiter whose
            # greenlet already left (timeout, spurious wake) just stores the value.
            ready.popleft().switch(None)


class _HubWake:
    """For a greenlet: wait in the hub, woken through the hub's :class:`_HubWaker`."""

    __slots__ = ("_waiter", "_waker")

    def __init__(self, waker: _HubWaker) -> None:
        waker.enter()
        self._waker: _HubWaker | None = waker
        self._waiter = Waiter(waker.hub)

    def notify(self) -> None:
        waker = self._waker
        if waker is not None:
            waker.ready.append(self._waiter)
            waker.watcher.send()

    def block(self, timeout: float | None) -> None:
        waker = self._waker
        assert waker is not None
        if timeout is None:
            self._waiter.get()
            return
        timer = waker.hub.loop.timer(max(timeout, 0.0))
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


def _new_wake() -> _Wake:
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
    return _HubWake(waker)


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
        wake = _new_wake()
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


# --------------------------------------------------------------------------------------------
# The bridge loop.
# --------------------------------------------------------------------------------------------


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
        loop = _new_loop()
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


def _new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop for the calling (bridge) thread; see the module docstring."""
    if not gevent.monkey.is_module_patched("selectors"):
        return asyncio.new_event_loop()
    from gevent.selectors import GeventSelector

    class _BridgeSelector(GeventSelector):  # type: ignore[misc]  # gevent has no stubs
        _last_poll = 0.0

        def select(self, timeout: float | None = None) -> list[Any]:
            if (
                timeout is not None
                and timeout <= 0
                and not selector_has_ready(self)
                and monotonic() - self._last_poll < _BUSY_POLL_S
            ):
                return []
            self._last_poll = monotonic()
            return cast(list[Any], super().select(timeout))

    # Built here, on the bridge thread: the selector binds to this thread's hub.
    return asyncio.SelectorEventLoop(_BridgeSelector())


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


# --------------------------------------------------------------------------------------------
# Streams.
# --------------------------------------------------------------------------------------------

# Pump states (read and written on the loop thread only).
_STARTING, _RUNNING, _SPACE, _CLOSING, _DONE = range(5)


class _Channel(Generic[T]):
    """State shared by a :class:`SyncStream` (consumer) and its pump task (loop thread).

    The pump references only this object, never the SyncStream, so a consumer that drops its
    stream lets it be garbage collected, which closes the channel.
    """

    def __init__(self, bridge: _Bridge, factory: Callable[[], AsyncIterator[T]], buffer: int):
        self.bridge = bridge
        self.factory: Callable[[], AsyncIterator[T]] | None = factory
        self.items: deque[object] = deque()
        self.buffer = buffer
        self.low = buffer // 2  # the consumer wakes a parked pump at or below this
        # "waiter": the consumer's wait handle; "space": the future a parked pump awaits.
        self.slots: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.finished = False  # the pump is done, the producer's cleanup has run
        self.state = _STARTING
        self.closing = False
        self.task: asyncio.Task[None] | None = None
        self.space: asyncio.Future[None] | None = None

    # -- loop thread ----------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        task = self.task = loop.create_task(self._pump())
        self.bridge.tasks.add(task)
        task.add_done_callback(self._on_done)

    async def _pump(self) -> None:
        items, slots, buffer, low = self.items, self.slots, self.buffer, self.low
        iterator: AsyncIterator[T] | None = None
        try:
            assert self.factory is not None
            iterator = aiter(self.factory())  # on the loop thread, as documented
            anext_ = iterator.__anext__
            while True:
                self.state = _RUNNING
                item = await anext_()
                if self.closing:  # the producer swallowed our cancellation and went on
                    break
                items.append(item)
                if slots:  # someone is registered: the consumer waiting for this item
                    waiter = slots.pop("waiter", None)
                    if waiter is not None:
                        waiter.notify()
                if len(items) >= buffer:
                    # Backpressure: park until the consumer has drained to `low`. Publish the
                    # future, then re-check: the consumer may have drained in between, and it
                    # wakes only a published pump (whoever pops "space" resolves it).
                    space = self.space = asyncio.get_running_loop().create_future()
                    self.state = _SPACE
                    slots["space"] = space
                    if len(items) <= low and slots.pop("space", None) is not None:
                        space.set_result(None)
                    await space
                    self.space = None
                    if self.closing:
                        break
        except StopAsyncIteration:
            pass
        except asyncio.CancelledError as exc:
            if self.closing:
                # Our own cancellation (close): swallow it, and uncancel so that the producer's
                # aclose() below and asyncio.timeout() inside it behave normally.
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
            else:
                self.error = exc  # the producer raised CancelledError itself: pass it on
        except BaseException as exc:  # everything reaches the consumer as is
            # Including KeyboardInterrupt/SystemExit: raised by a producer they belong to the
            # consumer; escaping the task they would stop the loop shared by every stream.
            self.error = exc
        finally:
            # From here on a close request must not cancel us: we may be inside the producer's
            # cleanup (aclose), and a CancelledError there breaks it.
            self.state = _CLOSING
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except BaseException as exc:
                    if self.error is None and not self.closing:
                        self.error = exc

    def _on_done(self, task: asyncio.Task[None]) -> None:
        self.bridge.tasks.discard(task)
        if not task.cancelled():  # cancelled = closed before the pump ever ran
            exc = task.exception()
            if exc is not None and self.error is None:  # pragma: no cover - a bug in _pump
                self.error = exc
        self.task = None
        self.factory = None
        self.state = _DONE
        # The error is stored before _END is appended: the consumer reads it after _END.
        self.items.append(_END)
        self.finished = True
        waiter = self.slots.pop("waiter", None)
        if waiter is not None:
            waiter.notify()

    def close_on_loop(self) -> None:
        if self.closing or self.state >= _CLOSING:
            return  # already closing, in aclose(), or done: never cancel inside cleanup
        self.closing = True
        if self.state == _SPACE:
            # Parked on backpressure, outside the producer: wake it; it sees `closing` and
            # calls aclose(), which runs the producer's finally via GeneratorExit.
            space = self.space
            if space is not None and not space.done():
                space.set_result(None)
        elif self.task is not None:
            # Awaiting the producer (or not started yet): cancel, so a producer waiting on a
            # silent upstream stops now, not at its next item.
            self.task.cancel()

    # -- any thread -----------------------------------------------------------------------

    def request_close(self) -> None:
        if not self.finished:
            self.bridge.submit(self.close_on_loop)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class SyncStream(Iterator[T]):
    """A plain iterator over an async producer; see :func:`iterate_async`.

    ``next()`` returns items in order, raises the producer's exception as it was raised (same
    object, original traceback kept) and ``StopIteration`` at the end. ``close()`` (or leaving a
    ``with`` block, or dropping the last reference) cancels the producer. Afterwards ``next()``
    raises ``StopIteration``.
    """

    def __init__(self, factory: Callable[[], AsyncIterator[T]], buffer: int) -> None:
        self._closed = False
        bridge = _get_bridge()
        self._ch: _Channel[T] = _Channel(bridge, factory, buffer)
        self._items = self._ch.items  # replaced by deque([_END]) on close
        bridge.submit(self._ch.start)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        items = self._items
        # Fast path: no lock, no thread crossing; only this consumer pops.
        item = items.popleft() if items else self._wait_item()
        if item is _END:
            items.append(_END)  # stay finished: every later next() ends too
            return self._end()
        ch = self._ch
        # Space for a parked pump (once per buffer/2 items, not per item: see _Channel.low).
        if ch.slots and len(items) <= ch.low:
            space = ch.slots.pop("space", None)
            if space is not None:
                ch.bridge.submit(lambda: _resolve(space))
        return cast(T, item)

    def _wait_item(self) -> object:
        ch = self._ch
        items = self._items
        _wait_for(ch.bridge, ch.slots, lambda: bool(items), None)
        return items.popleft()

    def _end(self) -> T:
        # Raised here, outside any except block, so the producer's exception gets no
        # __context__ from us; its traceback keeps the producer's frames.
        ch = self._ch
        error, ch.error = ch.error, None
        if error is not None and not self._closed:
            raise error
        raise StopIteration

    def close(self) -> None:
        """Stop the producer and wait up to :data:`CLOSE_WAIT_S` for its cleanup.

        Idempotent. Never blocks the hub: it waits cooperatively, and not at all when called
        from the hub greenlet or the loop thread.
        """
        if self._closed:
            return
        self._closed = True
        ch = self._ch
        self._items = deque([_END])
        ch.items.clear()  # free buffered items now; the pump may append a few more, unread
        if ch.finished:
            return
        ch.request_close()
        if _get_ident() == ch.bridge.ident or _in_hub():
            return
        _wait_for(ch.bridge, ch.slots, lambda: ch.finished, monotonic() + CLOSE_WAIT_S)

    def __enter__(self) -> SyncStream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # May run anywhere, including the hub or the loop thread: only request the close.
        if not getattr(self, "_closed", True):
            self._closed = True
            self._ch.request_close()


def _in_hub() -> bool:
    hub = get_hub_if_exists()
    return hub is not None and gevent.getcurrent() is hub


def iterate_async(factory: Callable[[], AsyncIterator[T]], *, buffer: int = 64) -> SyncStream[T]:
    """Iterate the async iterator made by ``factory()`` as a plain, closeable iterator.

    ``factory`` is called on the bridge loop's thread (so clients it builds bind to that loop);
    the producer starts at once and runs at most ``buffer`` items ahead of the consumer.
    Exceptions reach the consumer from ``next()`` as raised; closing the stream cancels the
    producer (see the module docstring). Example::

        with iterate_async(lambda: model_tokens(prompt)) as tokens:
            for token in tokens:
                ...
    """
    if buffer < 1:
        raise ValueError(f"buffer must be at least 1, got {buffer}")
    return SyncStream(factory, buffer)


# --------------------------------------------------------------------------------------------
# One coroutine.
# --------------------------------------------------------------------------------------------


class _Call(Generic[T]):
    def __init__(self, coro_factory: Callable[[], Awaitable[T]]) -> None:
        self.coro_factory: Callable[[], Awaitable[T]] | None = coro_factory
        self.slots: dict[str, Any] = {}
        self.result: T | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.task: asyncio.Task[T] | None = None
        self.cancel_requested = False

    async def _run(self) -> T:
        assert self.coro_factory is not None
        factory, self.coro_factory = self.coro_factory, None
        return await factory()

    def start(self) -> None:  # loop thread
        if self.cancel_requested:
            self._finish()
            return
        self.task = asyncio.get_running_loop().create_task(self._run())
        self.task.add_done_callback(self._on_done)

    def _on_done(self, task: asyncio.Task[T]) -> None:
        self.task = None
        if task.cancelled():
            self.error = asyncio.CancelledError()
        elif (exc := task.exception()) is not None:
            self.error = exc
        else:
            self.result = task.result()
        self._finish()

    def _finish(self) -> None:
        self.finished = True
        waiter = self.slots.pop("waiter", None)
        if waiter is not None:
            waiter.notify()

    def cancel(self) -> None:  # loop thread
        self.cancel_requested = True
        if self.task is not None:
            self.task.cancel()


def run_sync(coro_factory: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
    """Run ``coro_factory()`` on the bridge loop and wait for its result cooperatively.

    Returns its value or raises its exception (the same object). After ``timeout`` seconds the
    coroutine is cancelled, given up to :data:`CLOSE_WAIT_S` to clean up, and ``TimeoutError``
    is raised. If the waiting greenlet is killed, the coroutine is cancelled too. Example::

        models = run_sync(lambda: client.models.list(), timeout=10)
    """
    bridge = _get_bridge()
    call: _Call[T] = _Call(coro_factory)
    bridge.submit(call.start)
    deadline = None if timeout is None else monotonic() + timeout
    try:
        done = _wait_for(bridge, call.slots, lambda: call.finished, deadline)
    except BaseException:
        bridge.submit(call.cancel)  # GreenletExit, gevent.Timeout, KeyboardInterrupt
        raise
    if not done:
        bridge.submit(call.cancel)
        _wait_for(bridge, call.slots, lambda: call.finished, monotonic() + CLOSE_WAIT_S)
        raise TimeoutError(f"coroutine did not finish within {timeout} s")
    error, call.error = call.error, None
    if error is not None:
        raise error
    return cast(T, call.result)


# --------------------------------------------------------------------------------------------
# Per-loop singletons.
# --------------------------------------------------------------------------------------------

_locals: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)
_locals_lock = _allocate_lock()  # a real lock: loops in several threads may call loop_local


def loop_local(key: str, factory: Callable[[], T]) -> T:
    """Return the running loop's object for ``key``, made by ``factory()`` on first use.

    For objects bound to one event loop, such as an ``AsyncOpenAI`` client (a client shared
    across loops fails with "Event loop is closed"; building one costs ~33 ms of CPU). Call it
    on the loop's thread, from async code (a producer); raises ``RuntimeError`` otherwise.
    The caller keeps ``key`` and ``factory`` consistent: the first factory wins.
    """
    loop = asyncio.get_running_loop()
    store = _locals.get(loop)
    if store is None:
        with _locals_lock:
            store = _locals.setdefault(loop, {})
    try:
        return cast(T, store[key])
    except KeyError:
        pass
    # No lock around factory(): everything touching this loop's store runs on its one thread,
    # and factory() is synchronous, so nothing else on this loop runs in between.
    value = store[key] = factory()
    return value
