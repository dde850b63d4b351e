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

Both are counted across every worker and instance when the store is on Redis, and per
worker with the in-memory store (which serves one process only anyway): :mod:`.places`, which
also says what a worker does while Redis is away.

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

import math
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request

from ..config import Config
from ..server.durable import ENDPOINT as DURABLE_ENDPOINT
from ..server.durable.readers import is_live_read
from ..server.state import Claim, OwnerPolicy, state_of
from .auth import RESUME_ENDPOINTS, _ReleasingBody, too_many
from .clients import ClientAddresses
from .places import ADMITTED, TOO_MANY_NEW, TOO_MANY_OPEN, SharedPlaces

__all__ = ["client_limits", "install"]

_TICKET = "streamer.fairness.ticket"  # in the environ, as auth keeps its slot: not in g


def client_limits(config: Config, counters: Any) -> SharedPlaces:
    """The two limits of one app, per client address; on ``counters`` (the store's) when
    given."""
    return SharedPlaces(
        config.max_streams_per_client,
        config.new_streams_per_client_s,
        counters,
        lease_s=config.lease_s,
        what="per-client limits",
    )


class _CountingProducers(OwnerPolicy):
    """``inner`` (the app's owner policy), whose claims also hold a place of the client's
    open streams while the producer runs."""

    def __init__(self, inner: OwnerPolicy, limits: SharedPlaces, clients: ClientAddresses) -> None:
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
    limits = client_limits(config, state.store.client_counters())

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
