"""The Redis stream store (``REDIS_URL``): shared by every worker and instance, on one server,
a Cluster (:mod:`streamer.store.redis_cluster`) or the primary Sentinels name
(:mod:`streamer.store.redis_sentinel`).

Key layout, per stream (the ``{id}`` hash tag keeps a stream's keys on one cluster slot):

- ``streamer:{id}:log`` — a Redis Stream; entry ``0-<n>`` holds record number ``n`` (field
  ``r``, the record as one NDJSON line, the wire format). Explicit entry ids make a resume
  ``XREAD ... 0-<Last-Event-ID>`` and let Redis itself refuse a duplicate. Trimmed with an
  exact ``MAXLEN`` of ``resumable_max_records``.
- ``streamer:{id}:meta`` — a hash: ``last`` (number of the last record), ``done`` (present
  once a terminal record is in), ``created``, ``owner`` (the key id that started it, if any).
  Its existence is the stream's existence. ``lost`` marks a *tombstone*: the owner found its
  running stream's keys gone (Redis restarted empty, or was flushed) and left this meta, with
  no log, for ``stream_ttl``; a read of it is ``[STORE_LOST]`` (numbered one past the data
  records the owner had written).
- ``streamer:{id}:lease`` — set by the owner with ``PX lease``, renewed every ``lease/3``;
  deleted when the stream finishes. A running stream without it has lost its producer.
- ``streamer:owner:{<key id>}:running`` — a sorted set of the owner's running streams, scored
  by when their lease runs out (Redis's clock): the per-key limit across every worker and
  instance. Renewed with the lease; a dead worker's members lapse by themselves.

A cancel or a reap ``PUBLISH``es the stream id on ``streamer:stopped``; each process listens
on one connection (:mod:`streamer.store.redis_stops`) and wakes its producer at once, so a
running producer holds no connection while it waits.

Every write is a Lua script, so "append unless finished" is atomic: exactly one terminal
record wins a race between the producer's ``end``, a ``DELETE`` and a reaper. The scripts are
idempotent (a data id already in is a no-op; a finished stream takes nothing), so redis-py's
retry after a lost reply cannot duplicate a record. Running streams expire
``stream_ttl_s + lease_s`` after their last sign of life, finished ones ``stream_ttl_s`` after
the end.

Timeouts bound everything: connect and plain commands ``redis_timeout_s``; blocking reads
(``XREAD BLOCK``) at most :data:`MAX_BLOCK_S` plus that, on their own pool; waiting for a
free pooled connection ``redis_timeout_s``. Failures become ``StoreUnavailable`` (503).

Redis hiccups: a producer's appends and renewals retry for up to ``lease_s`` (idempotent, so
a retry after a lost reply duplicates nothing), so a stall shorter than the lease costs the
stream only time. A reader's read does not retry: it fails in-band with ``store_unavailable``
and resumes later. The readers of one stream waiting at the same record share one read
(:mod:`streamer.store.shared_reads`), so blocking connections follow the streams followed, not
the readers. When every blocking connection is in use, a reader polls on the quick pool
instead of failing, and ``ping`` (``/readyz``) says the pool is exhausted.

Failover (a replica promoted; Redis replicates asynchronously, docs/reliability.md): to the
store, an unreachable Redis that comes back with what the replica had. The owner counts the
data records the store acknowledged; a write or renewal that finds fewer leaves the same
tombstone as for a lost stream (``store_lost``), since readers may have seen the missing ones.
A waiting read from past the end of a *running* stream (a reader that saw such a record)
waits rather than failing, until the owner writes it again or leaves the tombstone. With
``redis_wait_replicas``, an owner's write counts only once that many replicas have it
(``WAIT``), so what a failover loses was never acknowledged and is written again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from ..config import Config
from ..errors import ConfigError, NotFound, RecordsExpired, StoreUnavailable
from ..wire.decoders import ndjson_record
from ..wire.framing import NDJSON
from ..wire.records import Data, End, Error
from ._base import (
    CANCELLED,
    MAX_BLOCK_S,
    PRODUCER_LOST,
    STORE_LOST,
    Entry,
    StreamStore,
    name_ttl_s,
    owner_limit_reached,
    past_end,
)
from .redis_cluster import LazyCluster, is_cluster_url, node_urls
from .redis_sentinel import SentinelClients
from .redis_stops import CHANNEL, StopListener
from .sentinel_url import is_sentinel_url
from .shared_reads import SharedReads

log = logging.getLogger("streamer")

READ_COUNT = 1000  # records per XREAD: bounds one reply's memory
POLL_S = 0.2  # a reader's poll interval while every blocking connection is in use
REAP_EVERY_S = 0.5  # how often one process checks a followed stream's lease, at most
WARN_EVERY_S = 10.0  # at most one "retrying" warning per process in this long

# The owner of a running stream found its meta gone: Redis lost the stream (restarted
# without persistence, flushed, evicted). What was written before is gone, so the stream
# cannot continue truthfully; a meta that says so (``lost``, finished, no log) is left for
# ``stream_ttl`` instead, so readers end in-band with store_lost rather than 404 or a partial
# stream. ``written``: the data records the owner had appended; store_lost takes the next
# number, so a resume from past it is refused as for any finished stream, and an SSE reader
# that saw it gets 204. KEYS: meta, log, lease (one slot: the {id} tag).
_TOMBSTONE = """
local function tombstone(owner, ttl, written)
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'last', tonumber(written) + 1, 'done', '1', 'lost', '1')
  if owner ~= '' then redis.call('HSET', KEYS[1], 'owner', owner) end
  redis.call('PEXPIRE', KEYS[1], ttl)
end
"""

# KEYS: meta, log, lease, cancel.
# ARGV: mode (data | end | cancel | reap), record, data id, maxlen, ttl ms, running ttl ms,
# stream id, channel, from the owner ('1' or ''), owner's key id (or ''), data records written.
# Returns -2 lost (the owner's stream, or records it was told were in, were gone: a tombstone
# is left), -1 unknown stream,
# 0 not appended (finished; or reap with a live lease), else 1.
_APPEND = (
    _TOMBSTONE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[9] ~= '1' then return -1 end
  tombstone(ARGV[10], ARGV[5], ARGV[11])
  return -2
end
if redis.call('HEXISTS', KEYS[1], 'done') == 1 then return 0 end
local mode = ARGV[1]
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
if ARGV[9] == '1' and last < tonumber(ARGV[11]) then
  -- Fewer records than the owner was told are in: the store lost acknowledged ones (a
  -- failover to a replica that had not received them). Readers may have seen them, so the
  -- stream cannot go on: a tombstone, as for a lost stream.
  tombstone(ARGV[10], ARGV[5], ARGV[11])
  return -2
end
if mode == 'data' then
  local id = tonumber(ARGV[3])
  if id <= last then return 1 end
  if id ~= last + 1 then return redis.error_reply('data id out of sequence') end
elseif mode == 'reap' and redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
local n = last + 1
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], '0-' .. n, 'r', ARGV[2])
redis.call('HSET', KEYS[1], 'last', n)
local ttl = ARGV[6]
if mode ~= 'data' then
  ttl = ARGV[5]
  redis.call('HSET', KEYS[1], 'done', '1')
  redis.call('DEL', KEYS[3])
  -- Wake the owner wherever it runs (its own end needs no message).
  if mode ~= 'end' then redis.call('PUBLISH', ARGV[8], ARGV[7]) end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
"""
)

# The owner's renewal. KEYS: meta, log, lease. ARGV: lease ms, running ttl ms, ttl ms, owner's
# key id (or ''), data records written. Returns 1 renewed, 0 must stop (finished), -2 lost (the
# stream, or records it was told were in: a tombstone is left).
_RENEW = (
    _TOMBSTONE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  tombstone(ARGV[4], ARGV[3], ARGV[5])
  return -2
end
if redis.call('HEXISTS', KEYS[1], 'done') == 1 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'last')) < tonumber(ARGV[5]) then
  tombstone(ARGV[4], ARGV[3], ARGV[5])  -- acknowledged records lost (see _APPEND)
  return -2
end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""
)


# KEYS: an owner's running set. ARGV: stream id, lease ms, limit (0: renew only, if present).
# Returns 1 taken or renewed, 0 refused (at the limit) or not a member.
_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if tonumber(ARGV[3]) == 0 then
  if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
elseif redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], until_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
"""


def _name_key(name: str) -> str:
    # Hashed: a name is the app's (a chat id from a URL), and must not shape a Redis key.
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return f"streamer:name:{{{digest}}}"


def _owner_key(owner: str) -> str:
    return f"streamer:owner:{{{owner}}}:running"


class _Keys:
    __slots__ = ("cancel", "lease", "log", "meta")

    def __init__(self, stream_id: str) -> None:
        base = f"streamer:{{{stream_id}}}:"
        self.meta, self.log = base + "meta", base + "log"
        self.lease, self.cancel = base + "lease", base + "cancel"


class _Throttle:
    """True at most once per :data:`WARN_EVERY_S`: for a warning many producers would log."""

    def __init__(self) -> None:
        self._at = -WARN_EVERY_S

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._at < WARN_EVERY_S:
            return False
        self._at = now
        return True


class RedisStore(StreamStore):
    """Streams in Redis Streams, through redis-py (cooperative under gevent's patching)."""

    can_lose_streams = True  # a restart without persistence, a FLUSHALL

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        url = config.redis_url
        if not url:
            raise ValueError("RedisStore needs config.redis_url")
        timeout = config.redis_timeout_s
        common: dict[str, Any] = {
            "socket_connect_timeout": timeout,
            # RESP2: reply shapes do not change with the server version.
            "protocol": 2,
            # One quick retry on a fresh connection rides over a restarted server's dead
            # pooled sockets (a ConnectionError); more would only stretch the time to a clear
            # 503. Not on a timeout: a stalled server would double every reader's wait, and a
            # producer's writes retry for a lease of their own (_retrying).
            "retry": Retry(
                ExponentialBackoff(cap=0.2, base=0.05), 1, supported_errors=(redis.ConnectionError,)
            ),
            "timeout": timeout,  # waiting for a free connection in the pool
        }
        quick_max = max(2, config.redis_max_connections // 4)
        self._quick: Any
        self._blocking: Any
        self._sentinel: SentinelClients | None = None
        if is_cluster_url(url) and config.redis_wait_replicas:
            # WAIT counts the replicas of the connection's own node; a cluster pipeline would
            # send it to any node.
            raise ConfigError(
                "STREAMER_REDIS_WAIT_REPLICAS works with redis:// and redis+sentinel://, "
                "not with a Redis Cluster"
            )
        if is_cluster_url(url):
            # redis+cluster://: the same two pools, one of each per node (redis_cluster.py).
            self._quick = LazyCluster(
                url,
                max_connections=quick_max,
                socket_timeout=timeout,
                connection_pool_class=redis.BlockingConnectionPool,
                **common,
            )
            self._blocking = LazyCluster(
                url,
                max_connections=config.redis_max_connections,
                socket_timeout=timeout + MAX_BLOCK_S,
                connection_pool_class=redis.BlockingConnectionPool,
                **common,
            )
        elif is_sentinel_url(url):
            # redis+sentinel://: the same two pools, on whichever server is the primary now.
            self._sentinel = SentinelClients(url, timeout)
            self._quick = self._sentinel.primary(
                max_connections=quick_max, socket_timeout=timeout, **common
            )
            self._blocking = self._sentinel.primary(
                max_connections=config.redis_max_connections,
                socket_timeout=timeout + MAX_BLOCK_S,
                **common,
            )
        else:
            quick_pool = redis.BlockingConnectionPool.from_url(
                url, max_connections=quick_max, socket_timeout=timeout, **common
            )
            blocking_pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=config.redis_max_connections,
                socket_timeout=timeout + MAX_BLOCK_S,
                **common,
            )
            self._quick = redis.Redis(connection_pool=quick_pool)
            self._blocking = redis.Redis(connection_pool=blocking_pool)
        self._append = self._quick.register_script(_APPEND)
        self._renew = self._quick.register_script(_RENEW)
        self._slot = self._quick.register_script(_SLOT)
        self._lease_ms = max(1, round(config.lease_s * 1000))
        self._wait_replicas = config.redis_wait_replicas
        # Half the command timeout: WAIT must answer before the socket gives up on it.
        self._wait_ms = max(1, round(timeout * 500))
        self._ttl_ms = max(1, round(config.stream_ttl_s * 1000))
        self._running_ttl_ms = self._ttl_ms + self._lease_ms
        self._name_ttl_ms = max(1, round(name_ttl_s(config) * 1000))
        # The producers of this process: stream id -> owner (None: no key), for slot renewals.
        self._producers: dict[str, str | None] = {}
        self._written: dict[str, int] = {}  # and how many data records each has appended
        self._subscriptions = 0  # made by _subscriber: on a cluster, which node is next
        self._stops = StopListener(self._subscriber)
        # A stream's caught-up readers share one blocking read (shared_reads).
        self._shared: SharedReads[Entry] = SharedReads(self._read, slack_s=config.redis_timeout_s)
        self._reaped: dict[str, float] = {}  # stream id -> when this process last asked
        self._reap_every_s = min(REAP_EVERY_S, config.lease_s / 4)
        self._blocked = 0  # blocking reads in flight (the blocking pool's connections in use)
        self._blocking_max = config.redis_max_connections
        # Once per process per interval, not once per producer: a stall or a restart under a
        # thousand producers is one event.
        self._retry_warning = _Throttle()
        self._lost_warning = _Throttle()

    def _subscriber(self) -> Any:
        """A pub/sub on a connection of its own (not pooled: it is held for good). On a cluster,
        one node's: PUBLISH reaches the subscribers of every node; each new subscription (the
        last one failed) takes the next node of the URL, so a dead node is left behind."""
        url = self.config.redis_url or ""
        timeouts: dict[str, Any] = {
            "socket_connect_timeout": self.config.redis_timeout_s,
            "socket_timeout": self.config.redis_timeout_s + MAX_BLOCK_S,
            # No retry of its own: redis-py's default re-tries a dead server for seconds,
            # while the listener re-subscribes (elsewhere, on a cluster) every 0.5 s.
            "retry": Retry(NoBackoff(), 0),
        }
        pool: Any
        if self._sentinel is not None:
            # The primary's: a replica would hear PUBLISH too, but may be the next to go.
            pool = self._sentinel.primary_pool(protocol=2, **timeouts)
        else:
            if is_cluster_url(url):
                nodes = node_urls(url)
                url = nodes[self._subscriptions % len(nodes)]
                self._subscriptions += 1
            pool = redis.ConnectionPool.from_url(url, protocol=2, **timeouts)
        # A client given its pool leaves the pool alone when it is collected (a client made
        # from a URL closes it in Redis.__del__, in-use connections included): the PubSub
        # alone holds the pool, and closing the PubSub closes its connection.
        return redis.Redis(connection_pool=pool).pubsub()  # type: ignore[no-untyped-call]

    @property
    def name(self) -> str:
        return "redis"

    def close(self) -> None:
        self._stops.close()
        self._quick.close()
        self._blocking.close()
        if not isinstance(self._quick, LazyCluster):
            self._quick.connection_pool.disconnect()
            self._blocking.connection_pool.disconnect()
        if self._sentinel is not None:
            self._sentinel.close()

    def ping(self) -> None:
        if self._blocked >= self._blocking_max:
            raise StoreUnavailable(
                "every Redis connection for blocking reads is in use "
                "(STREAMER_REDIS_MAX_CONNECTIONS)",
                retry_after=5,
            )
        with _guard():
            self._quick.ping()

    def create(
        self, stream_id: str, owner: str | None = None, owner_limit: int | None = None
    ) -> None:
        k = _Keys(stream_id)
        if owner is not None:
            with _guard():
                # Its own command: the owner's set is on another cluster slot than the stream.
                taken = self._slot(
                    keys=[_owner_key(owner)],
                    args=[stream_id, self._lease_ms, owner_limit or 1 << 30],
                )
            if not taken:
                raise owner_limit_reached(owner_limit or 0)
        try:
            with _guard():
                pipe = self._quick.pipeline(transaction=True)
                pipe.hset(k.meta, mapping={"last": 0, "created": f"{time.time():.3f}"})
                if owner is not None:
                    pipe.hset(k.meta, "owner", owner)
                pipe.pexpire(k.meta, self._running_ttl_ms)
                pipe.set(k.lease, "1", px=self._lease_ms)
                pipe.execute()
        except BaseException:
            self._release(stream_id, owner)
            raise
        self._producers[stream_id] = owner
        self._stops.event(stream_id)

    def owner(self, stream_id: str) -> str | None:
        with _guard():
            last, owner = self._quick.hmget(_Keys(stream_id).meta, ["last", "owner"])
        if last is None:
            raise NotFound("no such stream (unknown or expired)")
        return None if owner is None else owner.decode() if isinstance(owner, bytes) else owner

    def _release(self, stream_id: str, owner: str | None) -> None:
        """This process's producer of ``stream_id`` has stopped: free its slot (best effort:
        if Redis is away, the slot lapses with the lease)."""
        self._producers.pop(stream_id, None)
        self._written.pop(stream_id, None)
        self._stops.forget(stream_id)
        if owner is not None:
            try:
                with _guard():
                    self._quick.zrem(_owner_key(owner), stream_id)
            except StoreUnavailable:
                pass

    def _stopped(self, stream_id: str) -> None:
        """The owner learnt its stream is finished: wake its watcher, free its slot."""
        self._stops.stopped(stream_id)
        if stream_id in self._producers:
            self._release(stream_id, self._producers.get(stream_id))

    def _retrying(self, what: str, stream_id: str, call: Any) -> Any:
        """``call()``, retried for up to a lease while Redis cannot be reached, so a stall
        shorter than the lease costs a producer only time. The scripts are idempotent."""
        deadline = time.monotonic() + self.config.lease_s
        delay = 0.05
        while True:
            try:
                with _guard():
                    return call()
            except StoreUnavailable:
                now = time.monotonic()
                if now + delay >= deadline:
                    raise
                if self._retry_warning.due():
                    log.warning(
                        "resumable streams: the store did not answer a %s; retrying "
                        "for up to the lease",
                        what,
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _lost(self, stream_id: str) -> None:
        """The owner's script found its stream gone and left a tombstone: say so."""
        if self._lost_warning.due():
            log.warning(
                "resumable streams: the store lost a running stream or records of it (Redis "
                "restarted empty, was flushed, or failed over to a replica that had not "
                "received them); its readers get store_lost and its producer stops"
            )

    def _write(
        self, stream_id: str, mode: str, record: Entry, data_id: int = 0, retry: bool = False
    ) -> int:
        k = _Keys(stream_id)
        # Only this process's producer of the stream may find it lost (and leave a tombstone);
        # for anyone else a missing meta is an unknown stream.
        producing = mode in ("data", "end") and stream_id in self._producers
        args: list[str | bytes | int] = [
            mode,
            NDJSON.encode(record),
            data_id,
            self.config.resumable_max_records,
            self._ttl_ms,
            self._running_ttl_ms,
            stream_id,
            CHANNEL,
            "1" if producing else "",
            (self._producers.get(stream_id) or "") if producing else "",
            self._written.get(stream_id, 0),
        ]

        keys = [k.meta, k.log, k.lease, k.cancel]

        def call() -> int:
            if not self._wait_replicas:
                return int(self._append(keys=keys, args=args))
            # WAIT on the script's own connection: it returns once that many replicas have
            # every write up to the script's (the replication stream is one, in order).
            pipe = self._quick.pipeline(transaction=False)
            self._append(keys=keys, args=args, client=pipe)
            pipe.wait(self._wait_replicas, self._wait_ms)
            done, replicas = pipe.execute()
            if int(replicas) < self._wait_replicas:
                # Not an outcome: the record may be on the primary only. The retry is
                # idempotent (the record is in: a no-op) and waits again.
                raise StoreUnavailable(
                    "the stream store's replicas did not confirm a write in time",
                    retry_after=5,
                )
            return int(done)

        if retry:
            done = int(self._retrying("write", stream_id, call))
        else:
            with _guard():
                done = call()
        if done == -2:
            self._lost(stream_id)
        return done

    def append(self, stream_id: str, record: Entry) -> bool:
        if isinstance(record, Data):
            done = self._write(stream_id, "data", record, record.id, retry=True)
            if done == 1 and stream_id in self._producers:
                self._written[stream_id] = record.id
        else:
            done = self._write(stream_id, "end", record, retry=True)
        if done != 1 or not isinstance(record, Data):
            self._stopped(stream_id)  # finished: by this record, or before it
        return done == 1

    def abandon(self, stream_id: str) -> None:
        self._release(stream_id, self._producers.get(stream_id))

    def keep_alive(self, stream_id: str, wait_s: float) -> bool:
        k = _Keys(stream_id)
        owner = self._producers.get(stream_id)
        renewed = self._retrying(
            "lease renewal",
            stream_id,
            lambda: self._renew(
                keys=[k.meta, k.log, k.lease],
                args=[
                    self._lease_ms,
                    self._running_ttl_ms,
                    self._ttl_ms,
                    owner or "",
                    self._written.get(stream_id, 0),
                ],
            ),
        )
        if renewed != 1:
            if renewed == -2:
                self._lost(stream_id)
            self._stopped(stream_id)
            return False
        if owner is not None:
            self._retrying(
                "lease renewal",
                stream_id,
                lambda: self._slot(keys=[_owner_key(owner)], args=[stream_id, self._lease_ms, 0]),
            )
        stopped = self._stops.event(stream_id).wait(max(wait_s, 0.01))
        if stopped:
            self._stopped(stream_id)
        return not stopped

    def read(self, stream_id: str, after_id: int, block_s: float) -> list[Entry]:
        if block_s > 0:
            # Made once for every reader of this process waiting at the same record
            # (shared_reads): a stream's followers cost one read per record, not one each.
            return self._shared.read(stream_id, after_id, min(block_s, MAX_BLOCK_S))
        return self._read(stream_id, after_id, 0)

    def _read(self, stream_id: str, after_id: int, wait_s: float) -> list[Entry]:
        k = _Keys(stream_id)
        with _guard():
            entries = self._xread(k.log, after_id, None)
            if not entries:
                last, done, lost = self._quick.hmget(k.meta, ["last", "done", "lost"])
                if last is None:
                    raise NotFound("no such stream (unknown or expired)")
                last_data = int(last) - (1 if done is not None else 0)
                if after_id > last_data and done is None and wait_s > 0:
                    # A running stream without the record this reader saw: a failover to a
                    # replica that had not received it. Its producer's next write (within
                    # a record or a renewal) either writes it again (not yet acknowledged)
                    # or ends the stream with store_lost (acknowledged, so lost): wait for
                    # that rather than answer 400, which EventSource would not retry.
                    time.sleep(wait_s)
                    return []
                if after_id > last_data:
                    raise past_end(after_id)
                if lost is not None:
                    return [STORE_LOST]  # a tombstone: the records it stands for are gone
                if wait_s > 0:
                    entries = self._xread(k.log, after_id, max(1, round(wait_s * 1000)))
        if not entries:
            return []
        if _seq(entries[0][0]) != after_id + 1:
            raise RecordsExpired(f"records after {after_id} are no longer kept")
        return [_decode(fields[b"r"]) for _, fields in entries]

    def _xread(
        self, key: str, after_id: int, block_ms: int | None
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        client = self._quick if block_ms is None else self._blocking
        if block_ms is not None and self._blocked >= self._blocking_max:
            # Every blocking connection is taken: poll instead of failing the reader.
            time.sleep(min(block_ms / 1000, POLL_S))
            client, block_ms = self._quick, None
        if block_ms is None:
            reply: Any = client.xread({key: f"0-{after_id}"}, count=READ_COUNT)
        else:
            self._blocked += 1
            try:
                reply = client.xread({key: f"0-{after_id}"}, count=READ_COUNT, block=block_ms)
            finally:
                self._blocked -= 1
        if not reply:
            return []
        entries: list[tuple[bytes, dict[bytes, bytes]]] = reply[0][1]
        return entries

    def cancel(self, stream_id: str) -> bool:
        done = self._write(stream_id, "cancel", CANCELLED)
        if done < 0:
            raise NotFound("no such stream (unknown or expired)")
        return done == 1

    def name_stream(self, name: str, stream_id: str) -> None:
        with _guard():
            self._quick.set(_name_key(name), stream_id, px=self._name_ttl_ms)

    def named(self, name: str) -> str | None:
        with _guard():
            found = self._quick.get(_name_key(name))
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)

    def reap(self, stream_id: str) -> bool:
        # Every idle reader asks after each empty wait; one check per stream per process
        # in a fraction of a lease is enough (a reaped stream's end reaches the others in their next
        # read), where ten thousand followers made ten thousand calls each time.
        now = time.monotonic()
        if now - self._reaped.get(stream_id, -self._reap_every_s) < self._reap_every_s:
            return False
        if len(self._reaped) >= 10_000:
            self._reaped.clear()  # a bound, not a cache worth keeping
        self._reaped[stream_id] = now
        return self._write(stream_id, "reap", PRODUCER_LOST) == 1

    def client_counters(self, namespace: str = "client") -> Any:
        # On the quick pool; members lapse a lease after their last renewal, as producers do.
        from .redis_counters import RedisClientCounters

        return RedisClientCounters(self._quick, self.config.lease_s, namespace)


def _seq(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[1])


def _decode(raw: bytes) -> Entry:
    record = ndjson_record(json.loads(raw))
    if not isinstance(record, Data | End | Error):
        raise StoreUnavailable("the store holds a record this version cannot read")
    return record


@contextmanager
def _guard() -> Iterator[None]:
    """redis-py's connection and timeout errors, as the 503 the service answers with."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable("the stream store is unreachable", retry_after=5) from exc
    except redis.ResponseError as exc:
        if "out of sequence" in str(exc):
            raise ValueError(str(exc)) from exc
        raise StoreUnavailable("the stream store refused the request", retry_after=5) from exc
