"""The stream engine: a producer in, the bytes of a stream out, under a WSGI server.

=====================  ======================================================================
module                 what it is
=====================  ======================================================================
:mod:`.producer`       what a producer may yield (payloads, ``Data``, ``Ping``, ``End``,
                       ``Error``, a return value): shared with resumable streams
:mod:`.lifecycle`      the body's states: NEW -> OPEN -> ENDING -> DONE / ABORTED; ``Stop``
:mod:`.core`           the fields every part shares; producer item -> buffer; the
                       ``Strategy`` interface and the hand-over between two strategies
:mod:`.pump`           strategy 1: the producer in a greenlet of its own (framed formats)
:mod:`.inline`         strategy 2: the handler greenlet resumes the producer (text, chunked)
:mod:`.watchers`       disconnect, send timeout, deadline, shutdown: stop requests from outside
:mod:`.disconnect`     the socket watcher that sees a client leave, and the graceful close
:mod:`.sendguard`      the send timeout: a write that makes no progress drops the stream
:mod:`.registry`       a worker's open streams (the limit, the sweep, graceful shutdown)
:mod:`.request_context`  the Flask request context held for a producer, torn down once
:mod:`.ending`         the answer to a stop, the last record, the cut connection, close()
:mod:`.body`           :class:`StreamBody`, the WSGI iterable that joins them
:mod:`.stats`          :class:`StreamStats`, what a stream did (logs, metrics)
=====================  ======================================================================

Views use :mod:`streamer.server.response` (``stream_for_request``, ``stream_response``), which
builds the body, waits for the first item and answers.
"""

from __future__ import annotations

from .body import StreamBody
from .ending import StreamAborted
from .stats import StreamStats

__all__ = ["StreamAborted", "StreamBody", "StreamStats"]
