"""Every touch of another library's internals, in one place.

streamer uses public APIs wherever one exists. Where none does, the private name is reached
from one of the modules of this package and nowhere else, and tests/unit/test_compat_*.py
check each one against the installed version, so an upgrade that changes it fails there,
loudly, instead of somewhere deep in a stream. Each was read from the version pinned in
requirements.txt:

=====================  =================================================  ==================
module                 touch                                              read from
=====================  =================================================  ==================
``gevent``             ``gevent._hub_local.get_hub_if_exists``            gevent 26.9.0
                       ``GeventSelector._ready`` (an Event)               gevent 26.9.0
                       the real socket in a gevent socket's ``_sock``     gevent 26.9.0
``stdlib``             ``threading._register_atexit``                     CPython 3.11
                       ``logging._srcfile = None`` (the logging HOWTO's   CPython 3.11
                       "Optimization" section documents it)
``flask``              ``flask.globals._cv_request`` / ``_cv_app``,       Flask 3.1.3
                       ``RequestContext._cv_tokens``, ``AppContext._cv_tokens``
``httpcore``           ``httpcore2._utils.is_socket_readable``            httpcore2 2.16.2
``gunicorn``           ``Worker.handle_error`` writes its HTML refusal    gunicorn 27.0.1
                       with ``client.sendall`` (a behaviour, no name)
                       ``AsyncWorker.handle_request``, followed step for  gunicorn 27.0.1
                       step by ``streamer.worker.fastpath`` with its own
                       ``Response`` subclass (a behaviour, no name)
=====================  =================================================  ==================

Not here because a public route replaced them: prometheus_client's ``Histogram._sum``,
``_buckets`` and ``_upper_bounds`` (streamer.server.histograms buckets
observations itself, in public counters), and the
OpenAI client's ``_client._transport._pool._network_backend`` (streamer.llm._transport: an
``httpx2`` transport on a public ``httpcore2.AsyncConnectionPool(network_backend=...)``,
handed to the SDK as ``http_client=``).
"""
