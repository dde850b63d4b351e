"""httpcore2 internals (read from httpcore2 2.16.2; tests/unit/test_compat_httpcore.py)."""

from __future__ import annotations

from httpcore2._utils import is_socket_readable

__all__ = ["is_socket_readable"]
