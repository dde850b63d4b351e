"""Counters of places on the store's Redis: open streams and new streams per second, shared
by every worker and instance (streamer.security.places uses them, for the per-client limits
and a stream's token readers). Each set of counters has a namespace: ``client`` (per client
address) or ``token-readers`` (per stream).

Keys, per name in a namespace (the ``{<name>}`` hash tag keeps both on one cluster slot),
for ``client`` and an address:

- ``streamer:client:{<address>}:open`` — a sorted set of the client's open streams: one
  member per stream (``<pid>-<process token>:<n>``, so two workers never name one stream
  alike), scored by when it lapses on Redis's clock. Its holder renews it every
  ``ttl / 3`` and removes it when the stream ends; a member whose worker died lapses
  within ``ttl``, and every admission drops the lapsed ones first. This is the store's own
  pattern for a key's running streams (``streamer:owner:{<key id>}:running``).
- ``streamer:client:{<address>}:rate`` — ``INCR`` with a 1 s expiry set by the first: a
  fixed one-second window. A burst that straddles two windows can get up to twice the rate
  through; nginx's ``limit_req`` (a leaky bucket) does not allow that, and this does not try.

One admission is one script (one round trip): the rate first (a refused attempt counts, as in
``limit_req``), then the open streams. Failures become :class:`StoreUnavailable`: the caller
decides what a limit does without its store.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis
from redis.cluster import RedisCluster

from ..errors import StoreUnavailable
from .redis_cluster import LazyCluster

# KEYS: open, rate. ARGV: member, open limit (0: none), rate limit (0: none), ttl ms.
# Returns {0, 0} admitted, {1, 0} too many open, {2, ms until the window ends} too many new.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_limit, rate_limit, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if rate_limit > 0 then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('PEXPIRE', KEYS[2], 1000) end
  if n > rate_limit then
    local left = redis.call('PTTL', KEYS[2])
    if left < 0 then redis.call('PEXPIRE', KEYS[2], 1000); left = 1000 end
    return {2, left}
  end
end
if open_limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= open_limit then return {1, 0} end
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {0, 0}
"""

# KEYS: the open sets of some addresses. ARGV: ttl ms, then per key its members joined by
# spaces. XX: a member released meanwhile stays released.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS do
  for member in string.gmatch(ARGV[i + 1], '%S+') do
    redis.call('ZADD', KEYS[i], 'XX', now + ttl, member)
  end
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 1
"""

# Addresses per renewal script on one server. One call per address cost 0.56 s of the
# worker's CPU per renewal at 10,000 addresses, in batches 0.04-0.06 s
# (bench/fairness_renew.py); a bounded batch keeps each script's run on Redis short.
RENEW_BATCH = 500

ADMITTED, TOO_MANY_OPEN, TOO_MANY_NEW = 0, 1, 2


@contextmanager
def _guard() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailable("the stream store (Redis) is unavailable") from exc


class RedisClientCounters:
    """The counters above on ``client`` (a redis-py client, plain or cluster), whose members
    lapse ``ttl_s`` after their last renewal, under the keys of ``namespace``."""

    def __init__(self, client: Any, ttl_s: float, namespace: str = "client") -> None:
        self._client = client
        self._prefix = f"streamer:{namespace}:"
        # A cluster's keys of two addresses are on two slots: one script each there.
        self._batch = 1 if isinstance(client, LazyCluster | RedisCluster) else RENEW_BATCH
        self.ttl_ms = max(1000, round(ttl_s * 1000))
        self._admit = client.register_script(_ADMIT)
        self._renew = client.register_script(_RENEW)

    def admit(
        self, address: str, member: str, open_limit: int, rate_limit: int
    ) -> tuple[int, float]:
        """(:data:`ADMITTED`, 0), (:data:`TOO_MANY_OPEN`, 0) or (:data:`TOO_MANY_NEW`, seconds
        until the window ends). Admitted with an open limit, ``member`` holds a place until
        :meth:`release` (or until it lapses)."""
        with _guard():
            code, left_ms = self._admit(
                keys=self._keys(address), args=[member, open_limit, rate_limit, self.ttl_ms]
            )
        return int(code), int(left_ms) / 1000

    def release(self, address: str, member: str) -> None:
        with _guard():
            self._client.zrem(self._keys(address)[0], member)

    def renew(self, held: Mapping[str, list[str]]) -> None:
        """Renew every member of ``held`` (address -> members): one script per
        :data:`RENEW_BATCH` addresses (per address on a cluster)."""
        items = [(address, members) for address, members in held.items() if members]
        with _guard():
            for start in range(0, len(items), self._batch):
                batch = items[start : start + self._batch]
                self._renew(
                    keys=[self._keys(address)[0] for address, _ in batch],
                    args=[self.ttl_ms, *(" ".join(members) for _, members in batch)],
                )

    def _keys(self, address: str) -> list[str]:
        base = f"{self._prefix}{{{address}}}:"
        return [base + "open", base + "rate"]

    def open_count(self, address: str) -> int:
        """The address's members that have not lapsed (tests, operators)."""
        with _guard():
            key = self._keys(address)[0]
            now_s, now_us = self._client.time()
            now_ms = int(now_s) * 1000 + int(now_us) // 1000
            return int(self._client.zcount(key, now_ms, "+inf"))
