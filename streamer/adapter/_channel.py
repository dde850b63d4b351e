"""A stream's pump on the loop thread and the state it shares with its consumer."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

if TYPE_CHECKING:
    from ._bridge import _Bridge

T = TypeVar("T")

# End of stream marker, appended by the pump after the last item (and after the producer's
# error, if any, has been stored). A private object: a producer cannot yield it.
_END: Final = object()

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
