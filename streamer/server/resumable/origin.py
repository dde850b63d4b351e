"""Backpressure from the reader that started a resumable stream.

A store keeps at most ``resumable_max_records`` records per stream. A producer faster than
its client would push records out before the client that started the stream had read them,
and that client would get ``410 records_expired`` for its own stream. So the producer of a
resumable stream waits while its *originating* reader (the response that started it, always
in the producer's own worker) is connected and ``bound`` records behind: the client that
started a stream always gets it whole, however slowly it reads.

Once that reader disconnects the producer runs free again (that is what a resumable stream is
for); a later resume that needs records the bound already dropped gets 410, as documented.
Other readers never slow the producer down: a follower is one of many and may be anywhere.
A connected but stuck originating client is dropped by the send guard
(``STREAMER_SEND_TIMEOUT_S``), which detaches it; ``max_stream_s`` bounds the rest.
"""

from __future__ import annotations

from gevent.event import Event


class OriginReader:
    """Where the originating reader is: the last id it took, and whether it still reads.

    The reader calls :meth:`advance` after each record and :meth:`detach` when it stops; the
    producer calls :meth:`wait_room` before each append. One worker, one hub: no locks."""

    __slots__ = ("_moved", "attached", "read_to")

    def __init__(self) -> None:
        self.read_to = 0
        self.attached = True
        self._moved = Event()

    def advance(self, record_id: int) -> None:
        self.read_to = record_id
        self._moved.set()

    def detach(self) -> None:
        self.attached = False
        self._moved.set()

    def wait_room(self, seq: int, bound: int) -> None:
        """Wait until record number ``seq`` can be appended without dropping a record the
        originating reader has not read (``seq - read_to <= bound``), or it detaches."""
        while self.attached and seq - self.read_to > bound:
            self._moved.clear()
            self._moved.wait()
