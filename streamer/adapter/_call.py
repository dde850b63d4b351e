"""One coroutine on the bridge loop, waited for cooperatively: :func:`run_sync`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Any, Generic, TypeVar, cast

from ._bridge import CLOSE_WAIT_S, _get_bridge
from ._wake import _wait_for

T = TypeVar("T")


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
