"""Places held open, counted by name: a key's streams, a client address's, a stream's token
readers. :class:`KeySlots` and :class:`LocalCounts` count in this process;
:class:`SharedPlaces` counts on the store's counters (:mod:`streamer.store.redis_counters`)
across every worker and instance when there are some, and falls back to
:class:`LocalCounts` while the store is away.

On the store, each place held is a member of its name's sorted set, renewed every
``STREAMER_LEASE_S / 3`` by its worker, so a dead worker's places lapse within a lease. When
Redis fails, a worker counts in its own memory until it answers again (asking it at most once
a second, so a stalled Redis delays one admission a second, not each; and warns once per
interval): a limit that stops every stream while its store is away would be a worse outage
than the one it guards against."""

from __future__ import annotations

import logging
import os
import secrets
import time
from typing import Any

import gevent

from ..errors import StoreUnavailable

log = logging.getLogger("streamer")

__all__ = ["ADMITTED", "TOO_MANY_NEW", "TOO_MANY_OPEN", "KeySlots", "LocalCounts", "SharedPlaces"]

# As streamer.store.redis_counters answers; not imported from there: it needs redis-py.
ADMITTED, TOO_MANY_OPEN, TOO_MANY_NEW = 0, 1, 2
WARN_EVERY_S = 10.0
# After the store failed, how long a worker counts in memory before it asks the store again:
# a stalled Redis makes each ask wait STREAMER_REDIS_TIMEOUT_S (2 s measured), so without a
# pause every new stream would.
RETRY_STORE_S = 1.0


class KeySlots:
    """Open streams per name (a key, an address) in this worker."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, key_id: str, limit: int | None = None) -> bool:
        """One more open stream for ``key_id``, unless it has ``limit`` (default: this one's)."""
        n = self._open.get(key_id, 0)
        if n >= (self.limit if limit is None else limit):
            return False
        self._open[key_id] = n + 1
        return True

    def release(self, key_id: str) -> None:
        n = self._open.get(key_id, 0) - 1
        if n > 0:
            self._open[key_id] = n
        else:
            self._open.pop(key_id, None)

    def count(self, key_id: str) -> int:
        return self._open.get(key_id, 0)


class LocalCounts:
    """Open places per name in this process, and new ones in the current one-second window
    (the window's counts are dropped when it ends, so memory holds at most the names of one
    second and those with places open)."""

    def __init__(self) -> None:
        self._open = KeySlots(0)  # the limit comes with each admit
        self._window = 0
        self._new: dict[str, int] = {}

    def admit(
        self, name: str, open_limit: int, rate_limit: int, now: float | None = None
    ) -> tuple[int, float]:
        now = time.time() if now is None else now
        if rate_limit:
            window = int(now)
            if window != self._window:
                self._window, self._new = window, {}
            n = self._new[name] = self._new.get(name, 0) + 1
            if n > rate_limit:
                return TOO_MANY_NEW, window + 1 - now
        if open_limit and not self._open.acquire(name, open_limit):
            return TOO_MANY_OPEN, 0.0
        return ADMITTED, 0.0

    def release(self, name: str) -> None:
        self._open.release(name)

    def open_count(self, name: str) -> int:
        return self._open.count(name)


class SharedPlaces:
    """At most ``open_limit`` places open per name (0: no limit), and ``rate_limit`` new ones
    a second (0: none); on ``counters`` (the store's, shared) when given. ``what`` names the
    limits in the warning logged while the store is away."""

    def __init__(
        self,
        open_limit: int,
        rate_limit: int,
        counters: Any,
        *,
        lease_s: float,
        what: str,
    ) -> None:
        self.open_limit = open_limit
        self.rate_limit = rate_limit
        self.local = LocalCounts()
        self._counters = counters
        self._what = what
        self._renew_every_s = lease_s / 3
        self._held: dict[str, dict[str, None]] = {}  # name -> members this worker holds
        self._renewer: Any = None
        self._token = secrets.token_hex(6)
        self._n = 0
        self._warned_at = -WARN_EVERY_S
        self._store_away_until = 0.0  # monotonic: until then, count in memory

    def admit(self, name: str, rate: bool = True) -> tuple[int, float, str | None]:
        """(:data:`ADMITTED` or a refusal, seconds until a rate window ends, the member to
        release: None when counted in this process). ``rate=False``: the open places only."""
        rate_limit = self.rate_limit if rate else 0
        if self._counters is not None and time.monotonic() >= self._store_away_until:
            self._n += 1
            # The pid: a worker forked from a master that built this app names its own.
            member = f"{os.getpid()}-{self._token}:{self._n}"
            try:
                code, left = self._counters.admit(name, member, self.open_limit, rate_limit)
            except StoreUnavailable:
                self._store_away_until = time.monotonic() + RETRY_STORE_S
                self._warn("counting per worker until it answers")
            else:
                if code == ADMITTED and self.open_limit:
                    self._held.setdefault(name, {})[member] = None
                    self._start_renewing()
                    return code, left, member
                return code, left, None
        code, left = self.local.admit(name, self.open_limit, rate_limit)
        return code, left, None

    def release(self, name: str, member: str | None) -> None:
        if member is None:
            if self.open_limit:
                self.local.release(name)
            return
        members = self._held.get(name)
        if members is not None:
            members.pop(member, None)
            if not members:
                del self._held[name]
        if time.monotonic() < self._store_away_until:
            return  # not renewed any more: the place lapses by itself within a lease
        try:
            self._counters.release(name, member)
        except StoreUnavailable:
            self._store_away_until = time.monotonic() + RETRY_STORE_S
            self._warn("an open place lapses by itself")

    def _start_renewing(self) -> None:
        if self._renewer is None:
            self._renewer = gevent.spawn(self._renew_loop)

    def _renew_loop(self) -> None:
        try:
            while self._held:
                gevent.sleep(self._renew_every_s)
                held = {name: list(members) for name, members in self._held.items()}
                try:
                    self._counters.renew(held)
                except StoreUnavailable:
                    self._warn("open places may lapse")
        finally:
            self._renewer = None

    def _warn(self, what: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("streamer: %s: the store is unavailable; %s", self._what, what)
