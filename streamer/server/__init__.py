"""The server library: what a Flask view touches (``pip install "streamer[flask]"``).

- :mod:`.extension`: :class:`Streamer`, the Flask extension (``Streamer(app)`` or
  ``init_app``), which sets up :mod:`.state` (config, registry, store, observers, owner
  policy) and the request edges (:mod:`.bodydeadline`, :mod:`.redirects`);
- :mod:`.streaming`: :func:`stream`, the one call a view makes; :mod:`.response` builds the
  response around the engine's body;
- :mod:`.resumable`: streams detached from their request, in the store, and the resume
  routes;
- :mod:`.access`, :mod:`.metrics`, :mod:`.histograms`: the access line and Prometheus metrics.
"""

from __future__ import annotations

from .extension import Streamer
from .streaming import stream

__all__ = ["Streamer", "stream"]
