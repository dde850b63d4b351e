"""httpcore2 / httpx2 internals (read from httpcore2 and httpx2 2.16.2;
tests/unit/test_compat.py)."""

from __future__ import annotations

from typing import Any

import httpcore2
from httpcore2._utils import is_socket_readable

__all__ = ["is_socket_readable", "set_network_backend"]


def set_network_backend(http_client: Any, backend: Any) -> bool:
    """Make an ``httpx2.AsyncClient``'s default transport use ``backend``
    (``_transport._pool._network_backend``). When that shape changes, or the client goes
    through a proxy, it does nothing and returns False."""
    pool = getattr(getattr(http_client, "_transport", None), "_pool", None)
    if type(pool) is not httpcore2.AsyncConnectionPool or not hasattr(pool, "_network_backend"):
        return False
    pool._network_backend = backend
    return True
