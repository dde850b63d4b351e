"""Durable Streams in Redis: shared by every worker and instance on one Redis (a Redis
Cluster too: every key shares one hash tag). The scripts and the key layout:
:mod:`streamer.store.durable.redis_lua`.

Appends, closes, creates and deletes are each one Lua script, so an idempotent producer's
check and its append are atomic, and a retry after a lost reply is answered as a duplicate.
A fork's inherited messages are read from its source chain in separate calls: they are
immutable below the fork offset, so no atomicity is needed there.

Readers that wait (long-poll, SSE) are woken through one pub/sub subscription per process
(:mod:`streamer.store.durable.notify`). Failures reaching Redis are ``StoreUnavailable``
(503), never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from ...config import Config
from ...errors import StoreUnavailable
from ..redis_cluster import LazyCluster, is_cluster_url, split_cluster_url
from ..redis_sentinel import SentinelClients
from ..sentinel_url import is_sentinel_url
from . import redis_lua
from ._base import (
    Appended,
    AppendSpec,
    Created,
    CreateError,
    CreateSpec,
    DurableStore,
    Info,
    Message,
    is_json,
    normalize,
    same_config,
)
from .forks import sub_offset_prefix
from .notify import ChangeListener

READ_BYTES = 4 << 20  # one script's reply holds about this much at most


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _info(fields: list[Any]) -> Info:
    ct, tail, closed, ttl, exp_at, exp_ts, soft, source, fork_at, fork_sub, owner = map(
        _text, fields
    )
    return Info(
        ct,
        tail,
        closed == "1",
        int(ttl) if ttl else None,
        exp_at or None,
        float(exp_ts) if exp_ts else None,
        soft == "1",
        source or None,
        fork_at or None,
        int(fork_sub) if fork_sub else 0,
        owner or None,
    )


@contextmanager
def _reaching() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise StoreUnavailable("the stream store (Redis) is not answering") from exc


class RedisDurableStore(DurableStore):
    def __init__(self, config: Config) -> None:
        url = config.redis_url
        if not url:
            raise ValueError("RedisDurableStore needs config.redis_url")
        self._config = config
        common: dict[str, Any] = {
            "socket_connect_timeout": config.redis_timeout_s,
            "socket_timeout": config.redis_timeout_s,
            "protocol": 2,
        }
        self._client: Any
        self._sentinel: SentinelClients | None = None
        if is_cluster_url(url):
            self._client = LazyCluster(url, max_connections=config.redis_max_connections, **common)
        elif is_sentinel_url(url):
            # redis+sentinel://: on whichever server the Sentinels name as primary now.
            self._sentinel = SentinelClients(url, config.redis_timeout_s)
            self._client = self._sentinel.primary(
                max_connections=config.redis_max_connections,
                timeout=config.redis_timeout_s,
                **common,
            )
        else:
            pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=config.redis_max_connections,
                timeout=config.redis_timeout_s,
                **common,
            )
            self._client = redis.Redis(connection_pool=pool)
        self._create = self._client.register_script(redis_lua.CREATE)
        self._append = self._client.register_script(redis_lua.APPEND)
        self._read = self._client.register_script(redis_lua.READ)
        self._delete = self._client.register_script(redis_lua.DELETE)
        self._changes = ChangeListener(self._subscriber, redis_lua.CHANNEL)

    def _subscriber(self) -> Any:
        url = self._config.redis_url or ""
        if self._sentinel is not None:
            timeouts = {
                "socket_connect_timeout": self._config.redis_timeout_s,
                "socket_timeout": self._config.redis_timeout_s + 1.0,
            }
            pool = self._sentinel.primary_pool(protocol=2, **timeouts)
            return redis.Redis(connection_pool=pool).pubsub()  # type: ignore[no-untyped-call]
        if is_cluster_url(url):
            url = split_cluster_url(url)[0]
        client = redis.Redis.from_url(
            url,
            protocol=2,
            socket_connect_timeout=self._config.redis_timeout_s,
            socket_timeout=self._config.redis_timeout_s + 1.0,
        )
        return client.pubsub()  # type: ignore[no-untyped-call]

    # -- writes -----------------------------------------------------------------------------

    def create(self, path: str, spec: CreateSpec) -> Created:
        prefix = b""
        if spec.forked_from is not None and spec.fork_sub:
            prefix = self._sub_prefix(spec)
        args = [
            path,
            spec.content_type or "",
            normalize(spec.content_type),
            "" if spec.ttl_s is None else str(spec.ttl_s),
            spec.expires_at or "",
            "" if spec.expires_ts is None else repr(spec.expires_ts),
            "1" if spec.closed else "",
            spec.forked_from or "",
            spec.fork_offset or "",
            str(spec.fork_sub),
            prefix,
            spec.data,
            spec.owner or "",
        ]
        with _reaching():
            reply = self._create(keys=[redis_lua.PREFIX + "m:" + path], args=args)
        status = _text(reply[0])
        if status == "conflict_soft":
            raise CreateError(
                "conflict", "a deleted stream still has forks: the path cannot be reused yet"
            )
        if status not in ("created", "exists"):
            raise CreateError(status, _CREATE_MESSAGES.get(status, status))
        info = _info(reply[1:12])
        if status == "exists" and not same_config(info, spec):
            raise CreateError("conflict", "the stream exists with a different configuration")
        return Created(info, new=status == "created")

    def _sub_prefix(self, spec: CreateSpec) -> bytes:
        assert spec.forked_from is not None
        source = self.info(spec.forked_from)
        if source is None:
            raise CreateError("source_missing", "the stream to fork does not exist")
        at = spec.fork_offset or source.tail
        got = self._messages(spec.forked_from, at, None, touch=False, limit=1)
        after = self._inherited(got[0], at, None) + got[1] if got is not None else []
        first = after[0] if after else None
        return sub_offset_prefix(first, spec.fork_sub, is_json(source.content_type))

    def append(self, path: str, spec: AppendSpec) -> Appended:
        p = spec.producer
        args = [
            path,
            spec.data,
            normalize(spec.content_type) if spec.content_type is not None else "",
            "1" if spec.seq is not None else "",
            spec.seq or "",
            "1" if p is not None else "",
            p.id if p else "",
            str(p.epoch) if p else "0",
            str(p.seq) if p else "0",
            "1" if spec.close else "",
        ]
        with _reaching():
            reply = self._append(keys=[redis_lua.PREFIX + "m:" + path], args=args)
        status, tail, closed, last_seq, epoch, expected, received = map(_text, reply)
        return Appended(
            status,
            tail,
            closed == "1",
            int(last_seq) if last_seq else None,
            int(epoch) if epoch else None,
            int(expected) if expected else None,
            int(received) if received else None,
        )

    def delete(self, path: str) -> str:
        with _reaching():
            return _text(self._delete(keys=[redis_lua.PREFIX + "m:" + path], args=[path]))

    # -- reads ------------------------------------------------------------------------------

    def _messages(
        self,
        path: str,
        offset: str,
        cap: str | None,
        *,
        touch: bool,
        limit: int = READ_BYTES,
        soft_ok: bool = True,
    ) -> tuple[Info, list[Message]] | None:
        args = [path, offset, cap or "", limit, "1" if touch else "", "1" if soft_ok else ""]
        with _reaching():
            reply = self._read(keys=[redis_lua.PREFIX + "m:" + path], args=args)
        if _text(reply[0]) == "missing" or len(reply) < 12:
            return None
        info = _info(reply[1:12])
        rest = reply[12:]
        return info, [Message(bytes(rest[i + 1]), _text(rest[i])) for i in range(0, len(rest), 2)]

    def info(self, path: str) -> Info | None:
        got = self._messages(path, "", None, touch=False, limit=0)
        return got[0] if got is not None else None

    def read(self, path: str, offset: str) -> tuple[Info, list[Message]] | None:
        got = self._messages(path, offset, None, touch=True)
        if got is None:
            return None
        info, own = got
        if info.soft_deleted:
            return info, own
        return info, self._inherited(info, offset, None) + own

    def _inherited(self, info: Info, offset: str, cap: str | None) -> list[Message]:
        """A fork's messages from its source chain after ``offset``, up to the fork offset."""
        at = info.fork_offset
        if info.forked_from is None or at is None or offset >= at:
            return []
        top = at if cap is None else min(cap, at)
        got = self._messages(info.forked_from, offset, top, touch=False)
        if got is None:
            return []
        source, own = got
        return self._inherited(source, offset, top) + own

    def wait(self, path: str, offset: str, timeout_s: float) -> None:
        def changed() -> bool:
            info = self.info(path)
            return info is None or info.soft_deleted or info.closed or info.tail > offset

        self._changes.wait(path, changed, timeout_s)

    def close(self) -> None:
        self._changes.close()
        self._client.close()
        if self._sentinel is not None:
            self._sentinel.close()


_CREATE_MESSAGES = {
    "source_missing": "the stream to fork does not exist",
    "source_gone": "the stream to fork was deleted",
    "type_mismatch": "the fork's content type differs from its source's",
    "bad_offset": "the fork offset is past the source's tail",
}
