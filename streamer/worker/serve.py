"""gunicorn's ``GeventWorker.run`` (27.0), with its two one-second waits made short.

gunicorn's loop sleeps a second between checks of ``alive``, then a second between checks of
its connections once it stopped accepting: a worker whose streams had all ended at SIGTERM
still took 1-2 s to exit, a rolling restart that much per worker. Here the first wait ends
when the worker's shutdown watcher says so (:meth:`Stopping.wake`), the second polls every
50 ms. Everything else is gunicorn's, line for line, for the worker's case (a
``StreamServer``, no ``server_class``); ``tests/unit/test_worker_serve.py`` fails when
gunicorn's own changes, so this copy is looked at again then. It also hands the worker its
servers' connection pools (:attr:`Stopping.pools`), so shutdown finds the idle connections,
and its pools have a few slots past ``worker_connections``, whose connections are answered
at once (:mod:`streamer.worker.overflow`) instead of waiting unanswered.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import gevent
from gevent.hub import Waiter
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn.sock import ssl_context

from . import overflow

__all__ = ["Stopping", "run"]

# How often the stopping worker looks at its connections (gunicorn: 1 s).
_DRAIN_POLL_S = 0.05


class Stopping:
    """What the loop and the worker's shutdown watcher share.

    The loop's wait is a timer and a :class:`gevent.hub.Waiter`, as ``gevent.sleep`` is, and
    :meth:`wake` switches to it: an ``Event.wait(timeout)`` ends each quiet second by raising
    its ``Timeout`` into the loop (a C++ unwind inside greenlet, ~40k instructions a second).
    """

    def __init__(self) -> None:
        self.pools: list[Pool] = []
        self._woken = False
        self._waiter: Waiter | None = None

    def wake(self) -> None:
        """The worker stops: the loop looks at ``alive`` now, not a second later."""
        self._woken = True
        waiter = self._waiter
        if waiter is not None:
            gevent.get_hub().loop.run_callback(waiter.switch, None)

    def wait(self, timeout: float) -> None:
        if self._woken:
            return
        hub = gevent.get_hub()
        waiter = Waiter(hub)
        timer = hub.loop.timer(timeout)
        timer.start(waiter.switch, None)
        self._waiter = waiter
        try:
            waiter.get()
        finally:
            self._waiter = None
            timer.close()


def run(worker: Any, stopping: Stopping) -> None:
    """Serve ``worker.sockets`` until the worker stops, then wait for its connections up to
    ``graceful_timeout`` (what is still open then is killed), as gunicorn does."""
    servers = []
    ssl_args = {"ssl_context": ssl_context(worker.cfg)} if worker.cfg.is_ssl else {}
    for s in worker.sockets:
        s.setblocking(1)
        limit = worker.worker_connections
        pool = Pool(limit + overflow.slots(limit))
        stopping.pools.append(pool)
        handle = partial(_connection, worker, pool, limit, s)
        server = StreamServer(s, handle=handle, spawn=pool, **ssl_args)
        if worker.cfg.workers > 1:
            server.max_accept = 1
        server.start()
        servers.append(server)

    while worker.alive:
        worker.notify()
        stopping.wait(1.0)

    try:
        for server in servers:  # stop accepting
            server.close()
        # Handle the current requests until graceful_timeout.
        ts = time.time()
        while time.time() - ts <= worker.cfg.graceful_timeout:
            if all(server.pool.free_count() == server.pool.size for server in servers):
                return
            worker.notify()
            gevent.sleep(_DRAIN_POLL_S)
        worker.log.warning("Worker graceful timeout (pid:%s)", worker.pid)
        for server in servers:  # kill what is still open
            server.stop(timeout=1)
    except Exception:  # as gunicorn: the worker is going anyway
        pass


def _connection(worker: Any, pool: Pool, limit: int, listener: Any, client: Any, addr: Any) -> None:
    # The pool counts this connection already: past the limit, it is one of the spare slots.
    # (Its greenlets' set, not len(pool): a C call rather than a Python method per connection.)
    if len(pool.greenlets) > limit:
        overflow.serve(worker, listener, client, addr)
    else:
        worker.handle(listener, client, addr)
