"""What the stream routes need, kept on the app: the store, the long-poll wait, the mount."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ...store.durable import DurableStore

EXTENSION = "streamer.durable"


@dataclass(frozen=True, slots=True)
class DurableSettings:
    store: DurableStore
    prefix: str  # the mount, e.g. /v1/stream
    long_poll_s: float
    sse_max_s: float  # an SSE response ends after about this long (PROTOCOL.md 10.2)
    max_read_bytes: int  # one catch-up response holds about this much at most

    def stream_path(self, url_path: str) -> str:
        """``Stream-Forked-From`` names a source by its URL path (the mount included, as a
        client sees it) or relative to the mount."""
        mount = self.prefix.rstrip("/") + "/"
        if url_path.startswith(mount):
            return url_path[len(mount) :]
        return url_path.lstrip("/")


def current() -> DurableSettings:
    settings: DurableSettings = current_app.extensions[EXTENSION]
    return settings
