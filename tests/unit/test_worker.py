"""Fast tier of streamer.worker: what can be checked without a gunicorn arbiter. The worker's
life (signals, ending open streams on a graceful stop) runs in tests/real/test_operations.py."""

from __future__ import annotations

import subprocess
import sys


def test_the_worker_class_is_gunicorns_gevent_worker() -> None:
    from gunicorn.workers.ggevent import GeventWorker

    from streamer.worker import Worker

    assert issubclass(Worker, GeventWorker)


def test_settle_heap_frees_startups_cycles_and_freezes_the_rest() -> None:
    import gc
    import weakref

    from streamer.worker import settle_heap

    class Node:
        pass

    cycle, kept = Node(), [["long-lived"]]
    thresholds = gc.get_threshold()
    cycle.self = cycle  # type: ignore[attr-defined]  # freed only by the collector
    gone = weakref.ref(cycle)
    del cycle
    try:
        settle_heap()
        assert gone() is None
        # Frozen: in the permanent generation, which no collection walks.
        assert not any(o is kept for o in gc.get_objects())
        # Full collections (which walk every open stream) ten times rarer; young ones as before.
        assert gc.get_threshold() == (*thresholds[:2], 100)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_importing_the_worker_loads_neither_flask_nor_the_engine() -> None:
    # gunicorn's master imports the worker class before any worker patches with gevent; a
    # Flask (or streamer.engine, which imports it) loaded there made every worker's exit
    # print "Exception ignored in _removeHandlerRef". A fresh interpreter, as the master is.
    code = (
        "import sys, streamer.worker; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'flask' "
        "or m.startswith('streamer.engine')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
