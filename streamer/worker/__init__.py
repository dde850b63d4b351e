"""gunicorn's gevent worker, plus what streams need: ``-k streamer.worker.Worker``.

A streamer app runs under plain ``gunicorn -k gevent myapp:app``. This worker class (one line:
``worker_class = "streamer.worker.Worker"`` in a gunicorn config, or ``-k`` on the command
line) adds:

- **graceful shutdown**: on SIGTERM gunicorn stops accepting and waits up to
  ``graceful_timeout`` for open connections, but streams never end by themselves. This worker
  ends every open stream of every streamer app in the process at once, each with a
  ``shutdown`` error record that tells its client to reconnect (never with ``end``).
- **metrics across workers**: prometheus-client's multiprocess mode needs
  ``PROMETHEUS_MULTIPROC_DIR`` set in the master before any worker imports it. Unless the
  operator set it, the master makes a fresh folder (removed when it exits); each worker marks
  its live gauges dead when it exits.
- **idle connections close at once**: a client's idle keep-alive connection (the openai SDK,
  requests and browsers pool theirs) held the worker up to ``keepalive`` after SIGTERM, as
  gunicorn waits for every connection; the wait for a connection's next request ends when the
  worker stops (a request being answered is left alone).
- **resumable producers outlive a graceful stop**: once its connections are closed, the worker
  lets its running resumable producers finish within what is left of ``graceful_timeout``, so
  readers that reconnect elsewhere keep getting records.
- **a leaner response path**: every HTTP/1 request is answered as gunicorn's gevent worker
  would, but the head goes out with the first body bytes and each chunk in one ``send``
  (:mod:`streamer.worker.fastpath`).
- **a settled heap**: once the app is loaded, what start-up left is collected and the rest
  frozen (``gc.freeze()``), so the collector's passes over the heap, which the objects of
  every request trigger, skip the app's and the libraries' long-lived objects; full
  collections, which walk every open stream, come ten times less often.
- **JSON refusals**: gunicorn's own answers to malformed request heads (400, 414, 431, 501)
  keep their status but carry ``{"error": {"type", "message"}}`` instead of HTML
  (:mod:`streamer.worker.refusals`).
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import tempfile
import time
from typing import Any

import gevent
from gunicorn.workers.ggevent import GeventWorker

from . import fastpath, refusals, serve

# Checked every 0.1 s rather than from the signal handler: a handler may run at any point of
# a greenlet, and ending streams switches greenlets.
_POLL_S = 0.1


class Worker(GeventWorker):  # type: ignore[misc]  # gunicorn is untyped
    """``gunicorn.workers.ggevent.GeventWorker`` that ends open streams on shutdown and sets
    up multi-worker metrics."""

    #: Paths answered even on a connection past ``worker_connections``
    #: (:mod:`streamer.worker.overflow`); a subclass may name its own.
    health_paths: frozenset[str] = frozenset({"/healthz", "/readyz", "/livez", "/health"})

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:  # in the master, before forking
        parent = getattr(super(), "check_config", None)
        if parent is not None:
            parent(cfg, log)
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            path = tempfile.mkdtemp(prefix="streamer-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
            master = os.getpid()

            def remove() -> None:
                if os.getpid() == master:  # not in a forked worker that inherited the hook
                    shutil.rmtree(path, ignore_errors=True)

            atexit.register(remove)

    def init_process(self) -> None:
        # Registered before any stream's metrics hook, so it runs after their last flush.
        atexit.register(_mark_dead, os.getpid())
        # Read on every connection and request: each setting once, then a plain attribute.
        self.cfg: Any = fastpath.SettledConfig(self.cfg)
        super().init_process()

    def run(self) -> None:
        self.nodelay_listeners = fastpath.nodelay_listeners(self.sockets)
        self._stopping = serve.Stopping()
        gevent.spawn(self._end_streams_on_shutdown)
        settle_heap()
        serve.run(self, self._stopping)  # GeventWorker.run, with short waits
        self._drain_producers()

    def timeout_ctx(self) -> gevent.Timeout:
        # gunicorn's wait for a connection's next request (keep-alive), cut short at shutdown
        # (_end_idle_waits finds it on the connection's greenlet, in the server's pool). One
        # attribute store: this runs before every request.
        wait = gevent.Timeout(self.cfg.keepalive if self.alive else 0, False)
        gevent.getcurrent().streamer_idle_wait = wait
        return wait

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
        return fastpath.handle_request(self, listener_name, req, sock, addr)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # gunicorn picks the status and logs; its HTML body is captured and replaced.
        capture = refusals.Capture(client)
        super().handle_error(req, capture, addr, exc)
        refusals.send_json(client, capture, exc)

    def _end_streams_on_shutdown(self) -> None:
        from ..engine.registry import shutdown_all_registries

        while self.alive:
            gevent.sleep(_POLL_S)
        self._stopping_since = time.monotonic()
        self._stopping.wake()
        self._end_idle_waits()
        ended = shutdown_all_registries()
        self.log.info("shutdown: ended %d open streams", ended)

    def _end_idle_waits(self) -> None:
        """End every keep-alive wait still armed, on the hub's next turn, as its timer would
        have (the connection then closes); a request being answered is left alone."""
        hub = gevent.get_hub()
        for pool in self._stopping.pools:
            for connection in list(pool):
                wait = getattr(connection, "streamer_idle_wait", None)
                if wait is not None and wait.pending:
                    hub.loop.run_callback(_expire, connection, wait)

    def _drain_producers(self) -> None:
        """The connections are closed; before the process goes, let its resumable producers
        finish (their readers reconnect to another instance and keep getting records), within
        what is left of the graceful timeout. A stream still running then ends as
        ``producer_lost`` a lease later, as after a crash."""
        since = getattr(self, "_stopping_since", None)
        if since is None:
            return  # not a graceful stop
        from ..server.resumable import wait_for_producers

        deadline = since + self.cfg.graceful_timeout - 1.0
        left = wait_for_producers(0)
        if left:
            # (gunicorn has closed the worker's heartbeat file by now: no notify() here. The
            # master SIGKILLs at the graceful timeout; this ends a second before.)
            left = wait_for_producers(deadline - time.monotonic())
        self.log.info("shutdown: %d resumable producers still running", left)


def _expire(greenlet: Any, wait: gevent.Timeout) -> None:  # the hub
    # Still armed: the connection still waits for a request (a wait ends by closing its
    # timer, which a request that arrived meanwhile has done).
    if wait.pending:
        wait.cancel()
        greenlet.throw(wait)


#: Middle-generation collections between two full ones (CPython: 10). See settle_heap().
FULL_COLLECTION_EVERY = 100


def settle_heap() -> None:
    """Collect start-up's garbage, then move every object left to the collector's permanent
    generation: the modules, the app and its config live as long as the worker, and each
    full collection would walk them again. -17k of 1,175k worker instructions per request
    (``bench/per_stream.py``).

    Then space full collections ten times wider than CPython's default. Open streams are
    long-lived objects by the thousand, and every full collection walks all of them while
    the hub waits: at 10,000 held streams each took up to 270 ms and they added up to 1.1 s
    of a 12 s run, late records for every stream (M3 at C = 10,000, one run each: jitter p99
    840 -> 155 ms, with streams that leave no cycles, streamer.engine.ending). The young
    generations keep their thresholds, so short-lived cycles are freed as soon as before;
    only garbage that had already lived long waits longer.
    """
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def _mark_dead(pid: int) -> None:
    if os.getpid() != pid or not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:
        return
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
