"""Per-client fairness: how many streams one client address may hold open, and start per
second, so that one client cannot take the worker's slots from everybody else.

Opt-in: ``fairness.install(app, config, stream_endpoints=...)`` after
:class:`streamer.Streamer` and before :func:`streamer.security.auth.install` (so a flood
of requests without a valid key counts too). With or without client keys, a request to
one of the ``stream_endpoints`` (and to the extension's resume route) counts against its
client's address (:mod:`.clients`: the TCP peer, or what a trusted proxy says):

- open streams, ``STREAMER_MAX_STREAMS_PER_CLIENT`` (default 64): the slot is taken when
  the request arrives and given back when its body is closed, as a key's slot is
  (:mod:`.auth`); over it ``429 too_many_streams_for_client``, ``Retry-After: 1``;
- new streams per second, ``STREAMER_NEW_STREAMS_PER_CLIENT_S`` (default 20), a fixed
  one-second window; over it ``429 too_many_new_streams_for_client`` with ``Retry-After``
  the rest of the window (rounded up: 1).

Both are counted across every worker and instance when the store is on Redis
(:mod:`streamer.store.redis_counters`: each open stream a member of the address's sorted set,
renewed every ``STREAMER_LEASE_S / 3`` by its worker, so a dead worker's members lapse
within a lease), and per worker with the in-memory store (which serves one process only
anyway). When Redis fails, a worker counts in its own memory until it answers again (asking
it at most once a second, so a stalled Redis delays one new stream a second, not each; and
warns once per interval): a limit that stops every stream while its store is away would be a
worse outage than the one it guards against.

A resumable stream's detached producer holds a place of its own while it runs (so a stream
read by the client that started it holds two, as with a key's slots): a client that starts
resumable streams and leaves cannot pile up producers past its limit. It is taken through the
owner policy's claim (:class:`_CountingProducers` wraps whichever policy is in place), with
the open-streams limit only: the request that started it has already counted toward the rate.
Requests that are not streams are not counted.

The live reads of the Durable Streams URLs (long-poll and SSE:
:mod:`streamer.server.durable.readers`) hold a place of the open streams while they wait or
follow, and are not under the rate: a long-poll reader asks again after every answer (at a
stream's append rate), as a producer's appends are requests, not new streams. Their catch-up
reads and writes are not counted.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

import gevent
from flask import Flask, Response, request

from ..config import Config
from ..errors import StoreUnavailable
from ..server.durable import ENDPOINT as DURABLE_ENDPOINT
from ..server.durable.readers import is_live_read
from ..server.state import Claim, OwnerPolicy, state_of
from .auth import RESUME_ENDPOINTS, KeySlots, _ReleasingBody, too_many
from .clients import ClientAddresses

log = logging.getLogger("streamer")

__all__ = ["ClientLimits", "LocalCounts", "install"]

# As streamer.store.redis_counters answers; not imported from there: it needs redis-py.
ADMITTED, TOO_MANY_OPEN, TOO_MANY_NEW = 0, 1, 2
WARN_EVERY_S = 10.0
# After the store failed, how long a worker counts in memory before it asks the store again:
# a stalled Redis makes each ask wait STREAMER_REDIS_TIMEOUT_S (2 s measured), so without a
# pause every new stream would.
RETRY_STORE_S = 1.0
_TICKET = "streamer.fairness.ticket"  # in the environ, as auth keeps its slot: not in g


class LocalCounts:
    """The same counts in this process: open streams per address, and new ones in the
    current one-second window (the window's counts are dropped when it ends, so memory holds
    at most the addresses of one second and those with streams open)."""

    def __init__(self) -> None:
        self._open = KeySlots(0)  # by address; the limit comes with each admit
        self._window = 0
        self._new: dict[str, int] = {}

    def admit(
        self, address: str, open_limit: int, rate_limit: int, now: float | None = None
    ) -> tuple[int, float]:
        now = time.time() if now is None else now
        if rate_limit:
            window = int(now)
            if window != self._window:
                self._window, self._new = window, {}
            n = self._new[address] = self._new.get(address, 0) + 1
            if n > rate_limit:
                return TOO_MANY_NEW, window + 1 - now
        if open_limit and not self._open.acquire(address, open_limit):
            return TOO_MANY_OPEN, 0.0
        return ADMITTED, 0.0

    def release(self, address: str) -> None:
        self._open.release(address)

    def open_count(self, address: str) -> int:
        return self._open.count(address)


class ClientLimits:
    """The two limits of one app; on ``counters`` (the store's, shared) when given."""

    def __init__(self, config: Config, counters: Any = None) -> None:
        self.open_limit = config.max_streams_per_client
        self.rate_limit = config.new_streams_per_client_s
        self.local = LocalCounts()
        self._counters = counters
        self._renew_every_s = config.lease_s / 3
        self._held: dict[str, dict[str, None]] = {}  # address -> members this worker holds
        self._renewer: Any = None
        self._token = secrets.token_hex(6)
        self._n = 0
        self._warned_at = -WARN_EVERY_S
        self._store_away_until = 0.0  # monotonic: until then, count in memory

    def admit(self, address: str, rate: bool = True) -> tuple[int, float, str | None]:
        """(:data:`ADMITTED` or a refusal, seconds until a rate window ends, the member to
        release: None when counted in this process). ``rate=False``: the open streams only."""
        rate_limit = self.rate_limit if rate else 0
        if self._counters is not None and time.monotonic() >= self._store_away_until:
            self._n += 1
            # The pid: a worker forked from a master that built this app names its own.
            member = f"{os.getpid()}-{self._token}:{self._n}"
            try:
                code, left = self._counters.admit(address, member, self.open_limit, rate_limit)
            except StoreUnavailable:
                self._store_away_until = time.monotonic() + RETRY_STORE_S
                self._warn("counting per worker until it answers")
            else:
                if code == ADMITTED and self.open_limit:
                    self._held.setdefault(address, {})[member] = None
                    self._start_renewing()
                    return code, left, member
                return code, left, None
        code, left = self.local.admit(address, self.open_limit, rate_limit)
        return code, left, None

    def release(self, address: str, member: str | None) -> None:
        if member is None:
            if self.open_limit:
                self.local.release(address)
            return
        members = self._held.get(address)
        if members is not None:
            members.pop(member, None)
            if not members:
                del self._held[address]
        if time.monotonic() < self._store_away_until:
            return  # not renewed any more: the place lapses by itself within a lease
        try:
            self._counters.release(address, member)
        except StoreUnavailable:
            self._store_away_until = time.monotonic() + RETRY_STORE_S
            self._warn("an open stream's place lapses by itself")

    def _start_renewing(self) -> None:
        if self._renewer is None:
            self._renewer = gevent.spawn(self._renew_loop)

    def _renew_loop(self) -> None:
        try:
            while self._held:
                gevent.sleep(self._renew_every_s)
                held = {address: list(members) for address, members in self._held.items()}
                try:
                    self._counters.renew(held)
                except StoreUnavailable:
                    self._warn("open streams' places may lapse")
        finally:
            self._renewer = None

    def _warn(self, what: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("streamer: per-client limits: the store is unavailable; %s", what)


class _CountingProducers(OwnerPolicy):
    """``inner`` (the app's owner policy), whose claims also hold a place of the client's
    open streams while the producer runs."""

    def __init__(self, inner: OwnerPolicy, limits: ClientLimits, clients: ClientAddresses) -> None:
        self.inner, self._limits, self._clients = inner, limits, clients

    def owner(self) -> str | None:
        return self.inner.owner()

    def claim(self) -> Claim | Response:
        claim = self.inner.claim()
        if isinstance(claim, Response):
            return claim
        address = self._clients.of(request.environ)
        code, _, member = self._limits.admit(address, rate=False)
        if code != ADMITTED:
            claim.release()
            return _too_many_open(self._limits.open_limit)
        done = False

        def release() -> None:
            nonlocal done
            if not done:
                done = True
                try:
                    claim.release()
                finally:
                    self._limits.release(address, member)

        return Claim(claim.owner, claim.limit, release)

    def may_read(self, owner_of: Callable[[], str | None]) -> bool:
        return self.inner.may_read(owner_of)

    def read_headers(self, stream_id: str) -> dict[str, str]:
        return self.inner.read_headers(stream_id)

    def read_until(self) -> float | None:
        return self.inner.read_until()


def _too_many_open(limit: int) -> Response:
    return too_many(
        "too_many_streams_for_client",
        f"this client already has {limit} open streams; retry when one ends",
    )


def install(app: Flask, config: Config, *, stream_endpoints: Iterable[str] = ()) -> None:
    """Count the ``stream_endpoints`` (and the resume route) per client address on ``app``,
    and the live reads of the Durable Streams URLs (open streams only, listed or not);
    nothing when both limits are 0."""
    if not (config.max_streams_per_client or config.new_streams_per_client_s):
        return
    names = (frozenset(stream_endpoints) | RESUME_ENDPOINTS) - {DURABLE_ENDPOINT}
    clients = ClientAddresses(config.trusted_proxies, config.client_address_header)
    state = state_of(app)
    limits = ClientLimits(config, state.store.client_counters())

    @app.before_request
    def limit_clients() -> Response | None:
        # The request itself, not its proxy: each read through flask.request is a
        # context-variable lookup and three Python calls, and this runs on every request.
        req = request._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy
        if req.method == "OPTIONS":
            return None
        endpoint = req.endpoint or ""
        if endpoint in names:
            rate = True
        elif endpoint == DURABLE_ENDPOINT and is_live_read(req.method, req.args):
            rate = False
            if not limits.open_limit:
                return None
        else:
            return None
        if limits.open_limit and not isinstance(state.owners, _CountingProducers):
            # auth.install, which runs after this install, puts its own policy in place:
            # wrap whichever one requests meet (once; nothing yields in between).
            state.owners = _CountingProducers(state.owners, limits, clients)
        environ = req.environ
        address = clients.of(environ)
        code, left, member = limits.admit(address, rate)
        if code == TOO_MANY_OPEN:
            return _too_many_open(limits.open_limit)
        if code == TOO_MANY_NEW:
            return too_many(
                "too_many_new_streams_for_client",
                f"this client started more than {limits.rate_limit} streams in a second",
                math.ceil(left),
            )
        if limits.open_limit:
            environ[_TICKET] = (address, member)
        return None

    @app.after_request
    def hand_ticket_to_body(response: Response) -> Response:
        ticket: tuple[str, str | None] | None = request.environ.pop(_TICKET, None)
        if ticket is None:
            return response

        def release() -> None:
            limits.release(*ticket)

        if response.direct_passthrough and response.response is not None:
            response.response = _ReleasingBody(response.response, release)  # type: ignore[arg-type]
        else:
            release()
        return response

    @app.teardown_request
    def release_if_no_response(exc: BaseException | None) -> None:
        ticket: tuple[str, str | None] | None = request.environ.pop(_TICKET, None)
        if ticket is not None:
            limits.release(*ticket)
