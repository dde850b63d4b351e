"""What the extension keeps per app, and how the library reads it inside a request.

The state is one :class:`StreamerState` that :class:`streamer.Streamer` stores in
``app.extensions["streamer"]``; everything in the library that needs the app's config, its
open-stream registry, its stream store, its observers or its owner policy asks here
(:func:`current_state` and friends). Add-ons plug in by setting a field of it, never by being
imported: :mod:`streamer.security.auth` replaces :attr:`StreamerState.owners`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask, Response, current_app

from ..errors import ConfigError
from ..wire.framing import FORMATS, Encoder, JsonDefault, with_json_default

if TYPE_CHECKING:
    from ..config import Config
    from ..engine.registry import StreamRegistry
    from ..engine.stats import StreamStats
    from ..store import StreamStore

EXTENSION = "streamer"


class StreamObserver(Protocol):
    """Told when each stream starts and ends (access log, metrics)."""

    def started(self, route: str, fmt: str) -> None: ...

    def finished(self, route: str, stats: StreamStats) -> None: ...


def _nothing() -> None:
    pass


@dataclass(frozen=True, slots=True)
class Claim:
    """What a request that starts a resumable stream takes: the stream's ``owner`` (recorded
    with it in the store), the most running streams that owner may have in the store
    (``limit``, None for no limit) and ``release``, which gives back what the claim took when
    the producer stops (called once)."""

    owner: str | None = None
    limit: int | None = None
    release: Callable[[], None] = _nothing


class OwnerPolicy:
    """Who owns the resumable streams a request starts, and who may read them.

    This default is an open app's: nobody owns anything, anybody reads anything. An add-on
    (:func:`streamer.security.auth.install`) puts its own in :attr:`StreamerState.owners`;
    resumable streams ask it and import no add-on.
    """

    def owner(self) -> str | None:
        """In a request: who the caller is (a key id), or None."""
        return None

    def claim(self) -> Claim | Response:
        """In a request, before a resumable producer starts: its :class:`Claim`, or a
        refusal to send as it is (a 401 that says a key is needed, a 429 for a key that has
        no stream left)."""
        return Claim()

    def may_read(self, owner_of: Callable[[], str | None]) -> bool:
        """In a request: may the caller read or cancel the stream whose owner ``owner_of()``
        gives (called only when the policy needs it: it is a store lookup)."""
        return True

    def read_headers(self, stream_id: str) -> dict[str, str]:
        """Headers for a reader of ``stream_id`` (a read token for ``EventSource``)."""
        return {}

    def read_until(self) -> float | None:
        """In a request that reads a stream: when the caller's right to read ends (unix
        seconds: a read token's expiry), or None (as long as the stream lasts). A reader
        still following then is cut with an in-band ``error`` of type ``token_expired``."""
        return None


@dataclass(slots=True)
class StreamerState:
    """The app's streamer config, open streams, stream store, observers (access log,
    metrics), owner policy and wire formats."""

    config: Config
    registry: StreamRegistry
    store: StreamStore
    observers: list[StreamObserver] = field(default_factory=list)
    #: :class:`streamer.server.metrics.Metrics` when prometheus-client is installed, else None.
    metrics: Any = None
    owners: OwnerPolicy = field(default_factory=OwnerPolicy)
    #: The wire formats by name: :data:`~streamer.wire.framing.FORMATS`, or with the app's
    #: ``json_default`` (:func:`~streamer.wire.framing.with_json_default`).
    formats: dict[str, type[Encoder]] = field(default_factory=lambda: FORMATS)
    #: The app's ``json_default``, for the encoders of payload formats (:meth:`encoder_for`).
    json_default: JsonDefault | None = None
    #: Other stores the resume route ``GET <prefix>/<id>`` reads an id from when the stream
    #: store does not know it (the Durable Streams face, :mod:`streamer.server.durable.records`).
    other_stores: list[StreamStore] = field(default_factory=list)
    _derived: dict[type[Encoder], type[Encoder]] = field(default_factory=dict, repr=False)

    def encoder_for(self, encoder: type[Encoder]) -> type[Encoder]:
        """``encoder`` (a payload format's, streamer.server.streaming.PayloadFormat) with the
        app's ``json_default``, derived once per app."""
        if self.json_default is None:
            return encoder
        own = self._derived.get(encoder)
        if own is None:
            own = self._derived[encoder] = with_json_default(encoder, self.json_default)
        return own


def state_of(app: Flask) -> StreamerState:
    """``app``'s :class:`StreamerState`; a :class:`ConfigError` if streamer is not set up."""
    try:
        state: StreamerState = app.extensions[EXTENSION]
    except KeyError:
        raise _not_set_up() from None
    return state


def current_state() -> StreamerState:
    """The current app's :class:`StreamerState`."""
    # state_of(current_app), written out: every request asks it.
    try:
        state: StreamerState = current_app.extensions[EXTENSION]
    except KeyError:
        raise _not_set_up() from None
    return state


def _not_set_up() -> ConfigError:
    return ConfigError(
        "streamer is not set up on this app: call Streamer(app) or Streamer().init_app(app) first"
    )


def current_config() -> Config:
    """The current app's streamer :class:`~streamer.config.Config`."""
    return current_state().config


def current_registry() -> StreamRegistry:
    """The current app's registry of open streams."""
    return current_state().registry


def current_store() -> StreamStore:
    """The current app's stream store (resumable streams)."""
    return current_state().store
