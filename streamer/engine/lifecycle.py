"""The life of one stream body, as named states instead of flags.

::

    NEW ──first write (headers)──▶ OPEN ──error / timeout / shutdown record──▶ ENDING
     │                              │                                            │
     │                              ├──end record, then close()──▶ DONE          │
     └──close() before any write────┴──client gone, server stops──▶ ABORTED ◀────┘
                                                  (cut: no chunked terminator)

- ``NEW``: the body exists (the view waited for the first item); nothing is written yet.
- ``OPEN``: records go out as the producer makes them.
- ``ENDING``: the last record (``error``: failure, ``timeout``, ``shutdown``) went out; the next
  call cuts the connection, so no client takes the stream for complete.
- ``DONE``: closed after ``end``; ``ABORTED``: closed any other way. Both are final: the
  producer is stopped, the watchers are off, the stats are reported once.

Why an open stream must stop early is one :class:`Stop` value, set once: the first reason
wins (a client that leaves after the deadline passed does not turn a timeout into a
disconnect), and the handler greenlet acts on it at its next step.

>>> advance(NEW, OPEN)
<State.OPEN: 1>
>>> advance(DONE, OPEN)
Traceback (most recent call last):
...
streamer.engine.lifecycle.IllegalTransition: done -> open
"""

from __future__ import annotations

import enum


class State(enum.IntEnum):
    NEW = 0
    OPEN = 1
    ENDING = 2
    DONE = 3
    ABORTED = 4


# As module names: an Enum class attribute costs a Python-level lookup, and the engine checks
# its state once per record. IntEnum: ``in FINAL`` hashes in C.
NEW, OPEN, ENDING, DONE, ABORTED = State.NEW, State.OPEN, State.ENDING, State.DONE, State.ABORTED
FINAL = frozenset({DONE, ABORTED})

_ALLOWED: dict[State, frozenset[State]] = {
    NEW: frozenset({OPEN, DONE, ABORTED}),
    OPEN: frozenset({ENDING, DONE, ABORTED}),
    ENDING: frozenset({DONE, ABORTED}),
    DONE: frozenset(),
    ABORTED: frozenset(),
}


class Stop(enum.IntEnum):
    """Why a stream stops before its producer ends; the first one requested wins."""

    CLIENT_GONE = 1  # the client closed its socket (or a write to it failed): cut, say nothing
    SHUTDOWN = 2  # the worker is stopping: a ``shutdown`` error record, then cut
    DEADLINE = 3  # STREAMER_MAX_STREAM_S passed: a ``timeout`` error record, then cut
    SEND_TIMEOUT = 4  # the client stopped reading: the send guard resets the socket


CLIENT_GONE, SHUTDOWN, DEADLINE, SEND_TIMEOUT = (
    Stop.CLIENT_GONE,
    Stop.SHUTDOWN,
    Stop.DEADLINE,
    Stop.SEND_TIMEOUT,
)


class IllegalTransition(RuntimeError):
    """A bug in the engine: a body was moved along an edge the diagram above does not have."""


def advance(current: State, to: State) -> State:
    """``to``, if the diagram has the edge ``current -> to``; else :class:`IllegalTransition`."""
    if to not in _ALLOWED[current]:
        raise IllegalTransition(f"{current.name.lower()} -> {to.name.lower()}")
    return to
