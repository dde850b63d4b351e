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

Design (see docs/design.md, "The async-to-sync adapter"):

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
  The wake-ups of one loop tick share one ``send()`` per hub, at the next tick: one hand-over
  to the hub's thread for all the streams that got items (``_Bridge.wake_soon``).
- **Close** (``close()``, ``with``, garbage collection, ``GeneratorExit`` around the loop) asks
  the loop to stop the producer: cancel the pump while it awaits the producer, or let it
  ``aclose()`` the producer when it is parked on backpressure. It never cancels once
  ``aclose()`` has begun: cancelling a producer inside its own cleanup raised ``CancelledError``
  there in ~3% of streams. ``close()`` then waits cooperatively up to ``CLOSE_WAIT_S`` (1 s)
  for the producer's ``finally`` to finish, so normally "after close() the producer's cleanup has
  run"; a producer whose cleanup takes longer finishes in the background. Garbage collection
  only requests the close (it may run in the hub, where waiting is not allowed).
- **Why not asyncio-gevent** (asyncio on the gevent hub, no second thread): in a prototype it
  made its loop visible in every greenlet (``asyncio.run()`` in a view raised) and its helpers
  hung when called from a request greenlet. An emulation of its design (a
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

from ._bridge import CLOSE_WAIT_S
from ._call import run_sync
from ._locals import loop_local
from ._stream import SyncStream, iterate_async

__all__ = ["CLOSE_WAIT_S", "SyncStream", "iterate_async", "loop_local", "run_sync"]
