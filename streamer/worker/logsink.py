"""The log formatter and handler that ``gunicorn.conf.py`` configures: the standard ones,
with less work per line.

One access line per stream (:mod:`streamer.access`) makes logging part of every request:
it was ~86k of a short stream's ~1,400k worker instructions (``bench/per_stream.py``). Two
parts of that need not happen per line:

- :class:`Formatter`: ``%(asctime)s`` runs ``time.strftime`` for every record; this one
  formats the date and time once per second (the milliseconds still per record).
- :class:`StderrHandler`: ``logging.StreamHandler`` takes its lock twice per record (in
  ``handle`` and in ``flush``), and under gevent's monkey-patching that lock is gevent's
  RLock, written in Python. This one's lock is the interpreter's own C ``RLock``. It still
  keeps real threads apart (the adapter's bridge thread logs too). Greenlets of one thread all
  count as its owner, so they are not kept apart by it, and need not be: a line goes out in
  a blocking write that never switches greenlets. gevent's ``monkey.patch_all()`` (in each
  gunicorn worker) gives every existing handler a new lock of its own, in Python
  (``patch_thread(logging=True)``); this handler keeps a C one: -20k of 1,228k worker
  instructions per request (``bench/per_stream.py``). It flushes only a stream that may buffer
  (``sys.stderr`` does not).
"""

from __future__ import annotations

import _thread
import io
import logging
import os
import time
from typing import Any


class Formatter(logging.Formatter):
    """``logging.Formatter`` with ``asctime``'s date and time formatted once per second."""

    _second = -1
    _date = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._date = time.strftime(self.default_time_format, self.converter(second))
        msec_format = self.default_msec_format
        return msec_format % (self._date, record.msecs) if msec_format else self._date


_RLock = _thread.RLock  # the C one: read at import, as gevent leaves ``_thread.RLock`` alone


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """``logging.StreamHandler`` whose lock is a C ``RLock`` even under gevent."""

    _lock: Any = None

    @property
    def lock(self) -> Any:
        return self._lock

    @lock.setter
    def lock(self, value: Any) -> None:
        # A lock of another kind (gevent's monkey-patching hands each handler its own) is
        # replaced with a new C one, before anything could hold it.
        self._lock = value if isinstance(value, _RLock) else _RLock()

    def flush(self) -> None:
        # ``emit`` flushes after each line: taking the lock again and calling down two layers
        # for nothing when nothing is buffered, as in ``sys.stderr`` (a text layer that writes
        # through to an unbuffered file).
        stream = self.stream
        if not (
            getattr(stream, "write_through", False)
            and isinstance(getattr(stream, "buffer", None), io.RawIOBase)
        ):
            super().flush()

    def createLock(self) -> None:
        self.lock = _RLock()
        # After a fork the child's lock must be free, whoever held it in the parent.
        os.register_at_fork(after_in_child=self._new_lock)

    def _new_lock(self) -> None:
        self.lock = _RLock()
