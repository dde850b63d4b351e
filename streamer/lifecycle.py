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

>>> advance(NEW, OPEN)
<State.OPEN: 1>
>>> advance(DONE, OPEN)
Traceback (most recent call last):
...
streamer.lifecycle.IllegalTransition: done -> open
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


class IllegalTransition(RuntimeError):
    """A bug in the engine: a body was moved along an edge the diagram above does not have."""


def advance(current: State, to: State) -> State:
    """``to``, if the diagram has the edge ``current -> to``; else :class:`IllegalTransition`."""
    if to not in _ALLOWED[current]:
        raise IllegalTransition(f"{current.name.lower()} -> {to.name.lower()}")
    return to
