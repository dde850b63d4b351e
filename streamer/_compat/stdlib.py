"""CPython internals (read from CPython 3.11; tests/unit/test_compat_stdlib.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


def register_before_thread_join(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit *before* non-daemon threads are joined
    (``threading._register_atexit``, what ``concurrent.futures`` uses; ``atexit`` runs after
    the join, too late to stop a thread the join would wait for). Hooks run in reverse order
    of registration."""
    threading._register_atexit(hook)  # type: ignore[attr-defined]


def skip_caller_lookup() -> None:
    """Log records without the calling file and line (``logging._srcfile = None``, as the
    logging HOWTO's "Optimization" section says): saves a stack walk per record."""
    logging._srcfile = None
