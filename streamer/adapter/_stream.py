"""The consumer's side of a stream: :class:`SyncStream` and :func:`iterate_async`."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from time import monotonic
from types import TracebackType
from typing import TypeVar, cast

from ._bridge import CLOSE_WAIT_S, _get_bridge, _get_ident
from ._channel import _END, _Channel, _resolve
from ._wake import _in_hub, _wait_for

T = TypeVar("T")


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
