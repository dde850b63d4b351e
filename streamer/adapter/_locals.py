"""Per-loop singletons: :func:`loop_local`."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

from ._bridge import _allocate_lock

T = TypeVar("T")

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
