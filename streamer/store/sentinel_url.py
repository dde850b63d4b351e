"""The ``REDIS_URL`` form for Redis Sentinel, parsed (stdlib only, no I/O).

redis-py has no URL for Sentinel, so streamer defines one, in the shape of its cluster URL::

    redis+sentinel://[[username]:password@]host[:port][,host[:port]...]/<service>[/<db>]
                     [?sentinel_password=...]

- the hosts are the **Sentinels** (default port 26379), not the Redis servers: the Sentinels
  name the current primary, and a client asks them again after a failover;
- ``<service>`` is the master name the Sentinels monitor (``sentinel monitor <service> ...``);
- ``<db>`` the database number on the primary (default 0);
- the user and password are the **primary's** (``requirepass`` / ACL), as in ``redis://``;
  ``sentinel_password`` authenticates to the Sentinels themselves when they have a
  ``requirepass`` of their own (Sentinels usually have none);
- ``rediss+sentinel://`` uses TLS to the primary and to the Sentinels.

An error never quotes the URL: it may hold a password.

>>> u = parse_sentinel_url("redis+sentinel://:pw@10.0.0.1,10.0.0.2:26380/mymaster/2")
>>> u.sentinels, u.service, u.db, u.password, u.ssl
([('10.0.0.1', 26379), ('10.0.0.2', 26380)], 'mymaster', 2, 'pw', False)
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import ConfigError

SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}  # scheme -> TLS
DEFAULT_PORT = 26379
_FORM = "redis+sentinel://[:password@]host:port[,host:port...]/<service>[/<db>]"


@dataclass(frozen=True, slots=True)
class SentinelURL:
    """What a ``redis+sentinel://`` URL says (``repr`` hides the passwords)."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False

    def __repr__(self) -> str:
        return f"SentinelURL(sentinels={self.sentinels!r}, service={self.service!r}, db={self.db})"


def is_sentinel_url(url: str) -> bool:
    return urlsplit(url).scheme in SCHEMES


def _bad(problem: str) -> ConfigError:
    return ConfigError(f"STREAMER_REDIS_URL (or REDIS_URL): {problem}; the form is {_FORM}")


def parse_sentinel_url(url: str) -> SentinelURL:
    """The parts of a ``redis+sentinel://`` URL; :class:`ConfigError` (naming the variable,
    never quoting the URL) if it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise _bad("not a redis+sentinel:// or rediss+sentinel:// URL")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels = []
    for hostport in hosts.split(","):
        host, colon, port = hostport.strip().rpartition(":")
        if not colon:
            host, port = port, str(DEFAULT_PORT)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise _bad("list the Sentinels as host:port[,host:port]")
        sentinels.append((host.removeprefix("[").removesuffix("]"), int(port)))  # IPv6
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise _bad("name the master the Sentinels monitor in the path")
    service = unquote(path[0])
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise _bad("the database after the master name is a number")
        db = int(path[1])
    username = password = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"sentinel_password"}
    if unknown:
        raise _bad("the only option a Sentinel URL takes is sentinel_password")
    sentinel_password = query.get("sentinel_password", [None])[-1]
    return SentinelURL(
        sentinels=sentinels,
        service=service,
        db=db,
        username=username,
        password=password,
        sentinel_password=sentinel_password,
        ssl=SCHEMES[parts.scheme],
    )
