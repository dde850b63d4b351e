"""How a body runs its producer: the :class:`Strategy` interface.

A body holds one strategy at a time (``body._strategy``), of two:

- :data:`streamer.engine.pump.PUMP`: the producer runs in a greenlet of its own and fills the
  buffer; the handler greenlet (the WSGI server's) takes what is there at each write.
- :data:`streamer.engine.inline.INLINE`: the handler greenlet resumes the producer itself (text
  over a chunked socket). Its first item is fetched by a pump greenlet, which ends as soon as it
  sees another strategy in charge; a bulk producer is handed to the pump mid-stream
  (:func:`hand_over`).

A strategy keeps no state: each is one object shared by every body, working on the body's
fields (thousands of bodies are held per worker; an object per body would cost memory for
nothing). The checks every step shares (a stop request, the deadline) are the body's, made
before each :meth:`Strategy.step` (:meth:`streamer.engine.body.StreamBody.__next__`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .core import BodyCore


class Strategy(Protocol):
    def start(self, body: BodyCore) -> Any:
        """When the body is made: the pump greenlet if one starts now, else None."""

    def wait_first(self, body: BodyCore, timeout: float) -> None:
        """Until the first item is in, the producer has ended, or ``timeout``."""

    def step(self, body: BodyCore) -> bytes | None:
        """The next bytes to write; or the end (:meth:`_finish`); or None: look again (a stop
        request may have come meanwhile)."""

    def take_over(self, body: BodyCore) -> None:
        """Run the producer from now on, mid-stream (it sits at a ``yield``)."""

    def stop(self, body: BodyCore) -> None:
        """A stop was requested (in the hub): stop the producer where it waits."""

    def close(self, body: BodyCore) -> None:
        """The body closes: stop the producer; its ``finally`` runs."""


def hand_over(body: BodyCore, to: Strategy) -> None:
    """Make ``to`` run the producer of ``body`` from its next item on."""
    body._strategy = to
    to.take_over(body)
