"""Redis Cluster for the stream store: the ``REDIS_URL`` form, and a client made on first use.

``REDIS_URL=redis+cluster://host:port[,host:port...][?options]`` (``rediss+cluster://`` for
TLS; user and password as in ``redis://``) names some nodes of a cluster; redis-py's
:class:`~redis.cluster.RedisCluster` discovers the rest and routes each command to the node
that holds its slot. Nothing else in the store changes for a cluster, because every key of a
stream carries the hash tag ``{<stream id>}``: its keys share one slot, so each Lua script, the
``create`` transaction and every blocking read (``XREAD BLOCK``, ``BLPOP``) touch one node.

``RedisCluster`` connects in its constructor (it asks a node for the slot map). The store
promises that nothing connects before the first command, so :class:`LazyCluster` builds it
then, and turns "no node reachable" into redis-py's ``ConnectionError`` (a 503), as for a
single server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisClusterException

SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme in SCHEMES


def split_cluster_url(url: str) -> tuple[str, list[tuple[str, int]]]:
    """``(url of the first node, [(host, port) of the others])`` for a cluster URL.

    >>> split_cluster_url("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001")
    ('redis://:pw@10.0.0.1:7000', [('10.0.0.2', 7001)])
    """
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    nodes = []
    for hostport in hosts.split(","):
        host, _, port = hostport.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("REDIS_URL: a cluster URL lists nodes as host:port[,host:port]")
        nodes.append((host, int(port)))
    first_host, first_port = nodes[0]
    netloc = (userinfo + "@" if userinfo else "") + f"{first_host}:{first_port}"
    first = urlunsplit((SCHEMES[parts.scheme], netloc, parts.path, parts.query, ""))
    return first, nodes[1:]


def node_urls(url: str) -> list[str]:
    """A ``redis://`` (or ``rediss://``) URL per node of a cluster URL, each with its auth.

    >>> node_urls("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001")
    ['redis://:pw@10.0.0.1:7000', 'redis://:pw@10.0.0.2:7001']
    """
    first, others = split_cluster_url(url)
    parts = urlsplit(first)
    userinfo, _, _ = parts.netloc.rpartition("@")
    prefix = userinfo + "@" if userinfo else ""
    return [first] + [
        urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}")) for host, port in others
    ]


class LazyCluster:
    """A :class:`RedisCluster` built on first use; otherwise used exactly like one."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self._first, others = split_cluster_url(url)
        self._others = [
            ClusterNode(host, port)  # type: ignore[no-untyped-call]
            for host, port in others
        ]
        self._kwargs = kwargs
        self._client: RedisCluster | None = None

    def _get(self) -> RedisCluster:
        if self._client is None:
            try:
                self._client = RedisCluster(
                    url=self._first, startup_nodes=list(self._others), **self._kwargs
                )
            except RedisClusterException as exc:
                raise redis.ConnectionError("no Redis Cluster node is reachable") from exc
        return self._client

    def register_script(self, script: str) -> Script:
        # Script() asks its client for an encoder unless given bytes: that would connect.
        return Script(self, script.encode("utf-8"))  # type: ignore[arg-type]  # duck-typed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
