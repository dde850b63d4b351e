"""Redis Sentinel for the stream store: clients that follow the primary through a failover.

``REDIS_URL=redis+sentinel://...`` (:mod:`streamer.store.sentinel_url`) names the Sentinels
and the master they monitor. redis-py's public :class:`~redis.sentinel.Sentinel` asks them for
the primary's address whenever a pooled connection is (re)made; its
:class:`~redis.sentinel.SentinelConnectionPool` drops idle connections when the address changes,
and a connection that meets a demoted primary (``READONLY``) is dropped and raised as a
``ConnectionError``. So nothing else in the store changes for Sentinel: a failover is, to the
store, a Redis that is unreachable for a few seconds (503, retried producer writes), then back
with everything the replica had received.

The store's pools block for a free connection (``BlockingConnectionPool``, bounded
``redis_max_connections``) where Sentinel's pool raises "Too many connections" at once;
:class:`SentinelBlockingPool` is both, through the two public classes' cooperative
``__init__`` (Sentinel's pops its own arguments and passes the rest on). Nothing connects
until the first command, as for a single server.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.connection import SSLConnection
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.utils import SENTINEL

from .sentinel_url import SentinelURL, parse_sentinel_url


class SentinelConnection(SentinelManagedConnection):
    """Sentinel's connection, closed when a read fails as any other redis-py connection is.

    redis-py 8.1's ``SentinelManagedConnection.read_response`` defaults
    ``disconnect_on_error`` to False where ``Connection.read_response`` defaults it to True,
    and redis-py's clients call it without the argument. So a read cut by a timeout or by a
    killed greenlet (a producer stopped by its watcher, a reader whose client left) put the
    connection back in the pool with its reply still to come, and the next command on it
    read that reply as its own: seen in tests/real/test_redis_failover.py as a 500
    (``TypeError: 'int' object is not iterable``: an XREAD given a WAIT's reply).
    tests/real/test_redis_sentinel.py fails when redis-py's default changes."""

    def read_response(
        self,
        disable_decoding: bool = False,
        *,
        timeout: Any = SENTINEL,
        disconnect_on_error: bool | None = True,
        push_request: bool | None = False,
    ) -> Any:
        return super().read_response(
            disable_decoding,
            timeout=timeout,
            disconnect_on_error=disconnect_on_error,
            push_request=push_request,
        )


class SentinelSSLConnection(SentinelConnection, SSLConnection):
    """The same, over TLS (``rediss+sentinel://``)."""


class SentinelBlockingPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """A Sentinel-managed pool that waits ``timeout`` for a free connection, like the store's
    other pools, instead of failing when ``max_connections`` are in use."""


class SentinelClients:
    """The Sentinels of one URL, and clients of the primary they name."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url: SentinelURL = parse_sentinel_url(url)
        u = self.url
        # The Sentinels are asked on every new connection: bounded like any Redis command,
        # and not retried (redis-py's default retries each 3 times with backoff of up to
        # 10 s: unreachable Sentinels took minutes to become a 503); the next one is asked.
        sentinel_kwargs: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "protocol": 2,
            "retry": Retry(NoBackoff(), 0),
        }
        if u.sentinel_password is not None:
            sentinel_kwargs["password"] = u.sentinel_password
        if u.ssl:
            sentinel_kwargs["ssl"] = True
        self._connection_class = SentinelSSLConnection if u.ssl else SentinelConnection
        self.sentinel = Sentinel(u.sentinels, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]

    def primary(self, **kwargs: Any) -> Any:
        """A ``redis.Redis`` on the current primary, on a :class:`SentinelBlockingPool`;
        ``kwargs`` as for a connection pool (``max_connections``, ``timeout``,
        ``socket_timeout``, ``retry``...)."""
        u = self.url
        return self.sentinel.master_for(  # type: ignore[no-untyped-call]
            u.service,
            connection_pool_class=SentinelBlockingPool,
            connection_class=self._connection_class,
            db=u.db,
            username=u.username,
            password=u.password,
            ssl=u.ssl,
            **kwargs,
        )

    def primary_pool(self, **kwargs: Any) -> SentinelConnectionPool:
        """A plain pool of connections to the current primary (for a client of one's own)."""
        u = self.url
        return SentinelConnectionPool(  # type: ignore[no-untyped-call]
            u.service,
            self.sentinel,
            is_master=True,
            connection_class=self._connection_class,
            db=u.db,
            username=u.username,
            password=u.password,
            ssl=u.ssl,
            **kwargs,
        )

    def close(self) -> None:
        self.sentinel.close()
