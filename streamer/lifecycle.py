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

>>> advance(State.NEW, State.OPEN)
<State.OPEN: 'open'>
>>> advance(State.DONE, State.OPEN)
Traceback (most recent call last):
...
streamer.lifecycle.IllegalTransition: done -> open
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    ENDING = "ending"
    DONE = "done"
    ABORTED = "aborted"


FINAL = frozenset({State.DONE, State.ABORTED})

_ALLOWED: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.OPEN, State.DONE, State.ABORTED}),
    State.OPEN: frozenset({State.ENDING, State.DONE, State.ABORTED}),
    State.ENDING: frozenset({State.DONE, State.ABORTED}),
    State.DONE: frozenset(),
    State.ABORTED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A bug in the engine: a body was moved along an edge the diagram above does not have."""


def advance(current: State, to: State) -> State:
    """``to``, if the diagram has the edge ``current -> to``; else :class:`IllegalTransition`."""
    if to not in _ALLOWED[current]:
        raise IllegalTransition(f"{current.value} -> {to.value}")
    return to
