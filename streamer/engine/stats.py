"""What one stream did (for logs and metrics): :class:`StreamStats`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class StreamStats:
    """What one stream did, for logs and metrics."""

    format: str
    started: float = field(default_factory=time.monotonic)
    first_byte: float | None = None
    finished: float | None = None
    records: int = 0
    bytes: int = 0
    heartbeats: int = 0
    # complete | error | timeout | disconnect | shutdown
    outcome: str = "open"
    error_type: str | None = None
    upstream_error: bool = False
    # The HTTP status: 200 once streaming, the error's status if it failed before that.
    status: int = 200

    @property
    def ttfb_s(self) -> float | None:
        return None if self.first_byte is None else self.first_byte - self.started

    @property
    def duration_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started
