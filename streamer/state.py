"""What the extension keeps per app: one object in ``app.extensions["streamer"]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config
    from .registry import StreamRegistry
    from .response import StreamObserver
    from .store import StreamStore


@dataclass(slots=True)
class StreamerState:
    """The app's streamer config, open streams, stream store and observers (access log,
    metrics). Read it in a request through :mod:`streamer.context`."""

    config: Config
    registry: StreamRegistry
    store: StreamStore
    observers: list[StreamObserver] = field(default_factory=list)
    #: :class:`streamer.metrics.Metrics` when prometheus-client is installed, else None.
    metrics: Any = None
