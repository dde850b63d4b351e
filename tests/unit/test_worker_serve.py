"""streamer.worker.serve is a copy of gunicorn's GeventWorker.run with short waits: these
fail when gunicorn's own loop changes, so that the copy is compared with it again."""

from __future__ import annotations

import hashlib
import inspect

# GeventWorker.run of gunicorn 27.0.1, the version serve.py was copied from.
GUNICORN_RUN_SHA256 = "50119854ef8be38caa6e96a5978978de9c42bc0b24ac22228101399e7ef3005d"


def test_gunicorns_run_is_the_one_serve_copies() -> None:
    from gunicorn.workers.ggevent import GeventWorker

    source = inspect.getsource(GeventWorker.run)
    assert hashlib.sha256(source.encode()).hexdigest() == GUNICORN_RUN_SHA256, (
        "gunicorn's GeventWorker.run changed: compare it with streamer/worker/serve.py, "
        "carry the change over, then update the hash here"
    )


def test_the_worker_runs_the_copy_not_gunicorns_loop() -> None:
    from gunicorn.workers.ggevent import GeventWorker

    from streamer.worker import Worker

    assert Worker.run is not GeventWorker.run
    assert "serve.run(" in inspect.getsource(Worker.run)


def test_stopping_wakes_the_loop_at_once() -> None:
    import time

    import gevent

    from streamer.worker.serve import Stopping

    stopping = Stopping()
    gevent.spawn_later(0.05, stopping.wake)
    started = time.monotonic()
    stopping.wait(5.0)
    assert time.monotonic() - started < 1.0


def test_stopping_waits_its_timeout_when_not_woken_and_returns_at_once_after() -> None:
    import time

    from streamer.worker.serve import Stopping

    stopping = Stopping()
    started = time.monotonic()
    stopping.wait(0.2)
    waited = time.monotonic() - started
    assert 0.15 < waited < 1.0
    stopping.wake()  # nobody waiting: the next wait does not start
    started = time.monotonic()
    stopping.wait(5.0)
    assert time.monotonic() - started < 0.1
