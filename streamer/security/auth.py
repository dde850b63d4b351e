"""Client authentication (``Authorization: Bearer``) and the per-key stream limit.

Opt-in: ``auth.install(app, config, open_endpoints=..., demo_endpoints=...,
stream_endpoints=...)``, after :class:`streamer.Streamer`. With ``STREAMER_API_KEYS`` set,
every endpoint needs a key except the ``open_endpoints`` (say health, readiness, metrics), and
the ``demo_endpoints`` need one only when it is sent (the demo service passes its page and
data endpoints while its ``STREAMER_OPEN_DEMO`` is on). Endpoints are
Flask endpoint names (``"healthz"``, ``"streamer.get_stream"``). Without keys the app is open
and nothing is counted per key.

Keys are compared in constant time: the presented token and every configured key are
hashed to SHA-256 first (so ``hmac.compare_digest`` never sees two lengths) and compared with
*all* keys, so the time taken does not depend on which key matched, or on whether one did.
A key is known afterwards only by its position (``key1``, ``key2``...): nothing stores,
logs or labels the key itself.

On the open demo endpoints a key is optional, but one that is sent is checked (a bad one is a
401) and counts: starting a resumable stream there needs one (:class:`KeyPolicy`, the owner
policy this puts in the extension's state).

Per-key limit (``STREAMER_MAX_STREAMS_PER_KEY``, per worker, on the ``stream_endpoints``; the
extension's resume route ``streamer.get_stream`` always counts, and so do the live reads of its
Durable Streams URLs, long-poll and SSE, but not their catch-up reads and writes:
:mod:`streamer.server.durable.readers`): a streaming request over it gets 429 JSON with
``Retry-After``. A reader on a read token (``?token=``) does not count against the key: it
takes a place of the stream's own reader budget (``STREAMER_MAX_TOKEN_READERS`` per stream:
across every worker and instance when the store is on Redis, as the per-client limits count,
:mod:`.places`; per worker otherwise; over it the same 429, type ``too_many_token_readers``),
and ends with an in-band ``error`` (``token_expired``) when its token expires (a Durable
Streams long-poll: its ``204``). A token that leaks can then neither lock its key's owner out
nor read past its lifetime.

A read token reads its stream on both of its faces: ``GET /streams/<id>`` and the Durable
Streams URL that names the same stream (catch-up, long-poll, SSE, ``HEAD``); a write with one
is a 403 (``read_only_token``), another stream's URL a 401 (``invalid_token``).

A resumable stream's detached producer holds a slot of its own while it runs
(:meth:`KeyPolicy.claim`). The slot is released when the response is closed: for a stream that
is when the server stops iterating its body, which Flask does not tell an ``after_request``
hook, so the body is wrapped in :class:`_ReleasingBody`, whose ``close()`` the WSGI server
calls (``__iter__`` hands over the inner iterator: no cost per chunk).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, Response, current_app, g, request

from ..config import Config
from ..server.durable import ENDPOINT as DURABLE_ENDPOINT
from ..server.durable.readers import is_live_read, other_stream, stream_name
from ..server.jsonerror import json_error
from ..server.state import Claim, OwnerPolicy, state_of
from .places import ADMITTED, KeySlots, SharedPlaces
from .tokens import TOKEN_HEADER, InvalidToken, signer_for

log = logging.getLogger("streamer")

# Where a request keeps the slot it took, until its body or its teardown gives it back. The
# environ, not ``g``: a held stream's teardown can run while another request's app context is
# bound on top, and a request can find a held stream's app context still bound and reuse it
# (Flask's test client serves several open streams from one thread): there ``g`` is another
# request's; ``request`` is rebound to the stream's own
# (streamer.engine.request_context._teardown).
_SLOT = "streamer.auth.slot"
_READ_UNTIL = "streamer.auth.read_until"  # a token reader's: its token's expiry

# The extension's resume route is a stream: it takes a per-key slot while open.
RESUME_ENDPOINTS = frozenset({"streamer.get_stream"})


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


class KeyRing:
    """The configured client keys, compared in constant time."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple(_digest(k) for k in keys)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def match(self, token: str) -> str | None:
        """``key<N>`` for the key that ``token`` is, else None; always compares with all."""
        presented = _digest(token)
        found: str | None = None
        for i, digest in enumerate(self._digests, 1):
            if hmac.compare_digest(presented, digest) and found is None:
                found = f"key{i}"
        return found


class _ReleasingBody:
    """A WSGI body whose ``close()`` also runs ``release`` (exactly once)."""

    def __init__(self, inner: Iterable[bytes], release: Callable[[], None]) -> None:
        self._inner, self._release = inner, release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, _nothing
            release()


def _nothing() -> None:
    pass


def _error(status: int, type: str, message: str) -> Response:
    return json_error(status, type, message)


def unauthorized(message: str, invalid: bool) -> Response:
    response = _error(401, "unauthorized", message)
    # RFC 6750 section 3: no error attribute when no credentials were sent at all.
    response.headers["WWW-Authenticate"] = (
        'Bearer realm="streamer", error="invalid_token"' if invalid else 'Bearer realm="streamer"'
    )
    return response


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def install(
    app: Flask,
    config: Config,
    *,
    open_endpoints: Iterable[str] = (),
    demo_endpoints: Iterable[str] = (),
    stream_endpoints: Iterable[str] = (),
) -> None:
    """Register the checks on ``app`` (after CORS, whose preflights need no key).

    ``open_endpoints`` never need a key; ``demo_endpoints`` need none, but a key sent to one
    is checked and counted; ``stream_endpoints`` (with the resume route) take a per-key slot.
    The Durable Streams URL (:data:`streamer.server.durable.ENDPOINT`) has its own rule: its
    live reads take a slot, its other requests none, whether it is listed or not."""
    open_names = frozenset(open_endpoints)
    demo_names = frozenset(demo_endpoints)
    stream_names = (frozenset(stream_endpoints) | RESUME_ENDPOINTS) - {DURABLE_ENDPOINT}
    ring = KeyRing(config.api_keys)
    if not ring:
        return  # open: the extension's default owner policy (nobody owns anything)
    slots = KeySlots(config.max_streams_per_key)
    state = state_of(app)
    # By stream name: the token readers' budget, shared by every process on the store.
    readers = SharedPlaces(
        config.max_token_readers,
        0,
        state.store.client_counters("token-readers"),
        lease_s=config.lease_s,
        what="the token readers' budget",
    )
    state.owners = KeyPolicy(config, slots)
    signer = signer_for(config)
    if not config.token_secret:
        log.warning(
            "STREAMER_TOKEN_SECRET is not set: stream read tokens are signed with a "
            "random secret of this process; set it when several workers or "
            "instances serve one client"
        )

    @app.before_request
    def authenticate() -> Response | None:
        endpoint = request.endpoint or ""
        if request.method == "OPTIONS" or endpoint in open_names:
            return None
        header = request.headers.get("Authorization")
        if endpoint in demo_names and header is None:
            return None  # open; a key sent anyway is checked and counted below
        if not request.url_rule:
            return None  # a 404 or 405 says nothing a key would protect
        if header is None and "token" in request.args:
            # EventSource cannot send a header: a read token of this one stream instead.
            if endpoint in RESUME_ENDPOINTS:
                stream_id = str((request.view_args or {}).get("stream_id"))
                return _token_reader(stream_id, hold=True)
            if endpoint == DURABLE_ENDPOINT:
                return _durable_token_reader(str((request.view_args or {}).get("path")))
        token = bearer_token(header)
        if token is None:
            return unauthorized(
                "this endpoint needs Authorization: Bearer <key>", invalid=bool(header)
            )
        key_id = ring.match(token)
        if key_id is None:
            return unauthorized("the key is not valid", invalid=True)
        if endpoint in stream_names or (
            endpoint == DURABLE_ENDPOINT and is_live_read(request.method, request.args)
        ):
            return _take_slot(key_id)
        g.streamer_key = key_id
        return None

    def _token_reader(name: str, *, hold: bool, path: str | None = None) -> Response | None:
        """Admit a reader on the read token of the stream ``name``; ``hold``: it follows (a
        slot of the stream's token readers while it does)."""
        try:
            key_id, expires = signer.claims(request.args["token"], name)
        except InvalidToken as exc:
            return _error(401, exc.type, exc.message)
        if request.method not in ("GET", "HEAD"):
            return _error(
                403,
                "read_only_token",
                "a read token only reads its stream; writing needs Authorization: Bearer <key>",
            )
        if path is not None and other_stream(path):
            return _error(401, "invalid_token", "the stream token is for another stream")
        # The reader acts for the key (who owns what), on the stream's reader budget.
        if key_id:
            g.streamer_key = key_id
        request.environ[_READ_UNTIL] = float(expires)
        if not hold:
            return None
        code, _, member = readers.admit(name, rate=False)
        if code != ADMITTED:
            return _refused(
                "too_many_token_readers",
                f"this stream already has {readers.open_limit} readers on read tokens",
            )
        request.environ[_SLOT] = lambda: readers.release(name, member)
        return None

    def _durable_token_reader(path: str) -> Response | None:
        # A Durable Streams URL: the token names the stream as its other face does.
        hold = is_live_read(request.method, request.args)
        return _token_reader(stream_name(path), hold=hold, path=path)

    def _take_slot(key_id: str) -> Response | None:
        g.streamer_key = key_id
        if not slots.acquire(key_id):
            return _too_many(slots.limit)
        request.environ[_SLOT] = lambda: slots.release(key_id)
        return None

    @app.after_request
    def hand_slot_to_body(response: Response) -> Response:
        release: Callable[[], None] | None = request.environ.pop(_SLOT, None)
        if release is None:
            return response
        if response.direct_passthrough and response.response is not None:
            response.response = _ReleasingBody(response.response, release)  # type: ignore[arg-type]
        else:
            release()
        return response

    @app.teardown_request
    def release_if_no_response(exc: BaseException | None) -> None:
        # after_request did not run (an error escaped every handler): release here.
        release: Callable[[], None] | None = request.environ.pop(_SLOT, None)
        if release is not None:
            release()


class KeyPolicy(OwnerPolicy):
    """The owner policy with client keys: a resumable stream belongs to the key that started
    it (one of the key's slots in this worker while its producer runs, and at most
    ``max_streams_per_key`` running in the store); only that key reads or cancels it, or a
    read token (:mod:`streamer.security.tokens`) of that stream."""

    def __init__(self, config: Config, slots: KeySlots) -> None:
        self.slots = slots
        self._limit = config.max_streams_per_key
        self._signer = signer_for(config)

    def owner(self) -> str | None:
        return key_of_request()

    def claim(self) -> Claim | Response:
        key_id = key_of_request()
        if key_id is None:
            return unauthorized(
                "starting a resumable stream needs Authorization: Bearer <key>", invalid=False
            )
        if not self.slots.acquire(key_id):
            return _too_many(self.slots.limit)
        done = False

        def release() -> None:
            nonlocal done
            if not done:
                done = True
                self.slots.release(key_id)

        return Claim(key_id, self._limit, release)

    def may_read(self, owner_of: Callable[[], str | None]) -> bool:
        return owner_of() == key_of_request()

    def read_headers(self, stream_id: str) -> dict[str, str]:
        # A reader that came with a token gets none: tokens do not renew themselves.
        if "token" in request.args:
            return {}
        return {TOKEN_HEADER: self._signer.issue(stream_id, key_of_request())}

    def read_until(self) -> float | None:
        # Set by authenticate() for a reader that came with a read token.
        until: Any = request.environ.get(_READ_UNTIL)
        return until if isinstance(until, float) else None


def _too_many(limit: int) -> Response:
    return _refused("too_many_streams_for_key", f"this key already has {limit} open streams")


def _refused(type: str, message: str) -> Response:
    return too_many(type, f"{message}; retry when one ends")


def too_many(type: str, message: str, retry_after_s: int = 1) -> Response:
    """In a request: a 429 JSON refusal by the limit ``type``, with ``Retry-After``; counted
    in the metrics (``streamer_requests_refused_total{limit=type}``)."""
    response = _error(429, type, message)
    response.headers["Retry-After"] = str(max(1, retry_after_s))
    metrics = state_of(current_app).metrics
    if metrics is not None:
        metrics.refused(type)
    return response


def key_of_request() -> str | None:
    """The id (``key<N>``) of the key this request authenticated with, if any."""
    key: Any = g.get("streamer_key")
    return key if isinstance(key, str) else None
