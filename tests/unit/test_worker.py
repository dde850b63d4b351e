"""Fast tier of streamer.worker: what can be checked without a gunicorn arbiter. The worker's
life (signals, ending open streams on a graceful stop) runs in tests/real/test_operations.py."""

from __future__ import annotations


def test_the_worker_class_is_gunicorns_gevent_worker() -> None:
    from gunicorn.workers.ggevent import GeventWorker

    from streamer.worker import Worker

    assert issubclass(Worker, GeventWorker)
