"""streamer._compat.stdlib: the CPython internals it reads are still there (read from 3.11)."""

from __future__ import annotations

import inspect
import logging
import threading

from streamer._compat import stdlib as compat_stdlib


def test_threading_register_atexit_exists_and_runs_before_the_thread_join() -> None:
    assert callable(getattr(threading, "_register_atexit", None)), (
        "threading._register_atexit is gone"
    )
    source = inspect.getsource(threading._shutdown)  # type: ignore[attr-defined]
    assert "_threading_atexits" in source, "threading._shutdown no longer runs the hooks"


def test_logging_srcfile_is_what_the_logger_consults() -> None:
    assert hasattr(logging, "_srcfile"), "logging._srcfile is gone"
    assert "_srcfile" in inspect.getsource(logging.Logger._log), (
        "Logger._log no longer consults logging._srcfile"
    )
    saved = logging._srcfile
    try:
        compat_stdlib.skip_caller_lookup()
        assert logging._srcfile is None
    finally:
        logging._srcfile = saved
