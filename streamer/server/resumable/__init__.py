"""Resumable streams: a producer detached from the request, written to the stream store, and
readers that replay and follow it from any worker.

- :func:`start_resumable` runs a producer in its own greenlet, appending ``Data`` records
  (ids 1, 2, 3, ...) and then ``End`` or ``Error``. It runs to the end even if every reader
  leaves, bounded by ``max_stream_s``; a second greenlet renews its lease every ``lease_s/3``
  and kills it at once when the stream is cancelled (from any worker or instance).
- :func:`follow` is a reader: the records after ``after_id``, then live ones, then the
  terminal record. Fed to :func:`~streamer.server.response.stream_for_request` it serves a resume
  in any format. A reader that finds the producer's lease expired finishes the stream with
  ``error: producer_lost`` (the producer's worker died), so no reader ever waits forever.
- :func:`resumable_response` is the one line a view needs: start, and answer with a reader
  from id 0 and the ``X-Stream-Id`` header; :func:`start_detached` starts one that nobody
  reads yet (a job whose records are fetched later).

Unlike a plain stream (docs/design.md, rule 5), a reader that disconnects does not stop the work:
that is the point. ``DELETE /streams/<id>`` does. The detached producer runs in an app
context of its own (``current_app`` works, ``g`` is its own, ``teardown_appcontext`` runs when
it ends): its request is long gone.

A running producer is a metered resource: it counts toward the worker's ``max_streams`` (the
registry's ``detached``) and toward whatever its owner policy claims for it
(:class:`streamer.server.state.OwnerPolicy`: with :mod:`streamer.security.auth`, a slot of the
key's in this worker and the store's count across workers). A stream belongs to the owner
that started it: :func:`check_owner` answers anybody else with the same 404 as an unknown
stream.

A store failure is never a stream's outcome: a producer whose store stays away longer than
the store's retries stops without writing a terminal record (readers then see
``producer_lost``); a reader that meets one gets ``store_unavailable`` in-band, not stored,
and can resume with ``Last-Event-ID`` later. A store that comes back without the stream
(Redis restarted empty) ends it: the producer is told to stop at its next write or renewal,
and readers get ``store_lost`` (:mod:`streamer.store`).
"""

from __future__ import annotations

from ._readers import TOKEN_EXPIRED, check_owner, follow, follow_response
from ._runner import start_resumable, wait_for_producers
from ._start import resumable_response, start_detached

__all__ = [
    "TOKEN_EXPIRED",
    "check_owner",
    "follow",
    "follow_response",
    "resumable_response",
    "start_detached",
    "start_resumable",
    "wait_for_producers",
]
