"""``Stream-Cursor`` (PROTOCOL.md 10.1): the number of 20 s intervals since 2024-10-09, and
never back: a client's cursor at or past now gets a later one (plus 1 s to 1 h of jitter), so
a CDN that collapses long-polls by URL cannot loop on one cached answer."""

from __future__ import annotations

import math
import random
import time

EPOCH = 1728432000.0  # 2024-10-09T00:00:00Z
INTERVAL_S = 20


def response_cursor(client: str | None, now: float | None = None) -> str:
    current = int(((time.time() if now is None else now) - EPOCH) // INTERVAL_S)
    if not client or not client.isdigit() or int(client) < current:
        return str(current)
    jitter_s = random.randint(1, 3600)
    return str(int(client) + max(1, math.ceil(jitter_s / INTERVAL_S)))
