"""The gunicorn worker class: gevent's, with gunicorn's own refusals answered as JSON.

``gunicorn.conf.py`` sets ``worker_class = "streamer.worker.Worker"``. Only
``handle_error`` differs from gunicorn's gevent worker; see :mod:`streamer.refusals`.
"""

from __future__ import annotations

from typing import Any

from gunicorn.workers.ggevent import GeventWorker

from . import refusals


class Worker(GeventWorker):  # type: ignore[misc]  # gunicorn is untyped
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        capture = refusals.Capture(client)
        super().handle_error(req, capture, addr, exc)
        refusals.send_json(client, capture, exc)
