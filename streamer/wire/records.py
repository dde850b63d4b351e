"""The four records of the wire contract, shared by the server and the client.

A stream is a sequence of :class:`Data` records followed by exactly one terminal record:
:class:`End` on success or :class:`Error` on failure. :class:`Ping` fills silence.

A data record may carry an event name (SSE's ``event:`` field, for htmx's ``sse-swap`` or
Datastar): a producer yields :class:`Event` and the engine numbers it as it numbers a plain
payload.

>>> Data(1, "hello")
Data(id=1, data='hello')
>>> Data(2, "<tr>...</tr>", "row")
Data(id=2, data='<tr>...</tr>', event='row')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The event types streamer's own records use on SSE: a data event of that name would read as
# the stream's end or its failure.
RESERVED_EVENTS = frozenset({"end", "error"})


def event_name(name: object) -> str:
    """``name`` if it can be an event's name, else a :class:`ValueError` (a
    :class:`TypeError` for a non-string) that says why: a CR or LF would end SSE's
    ``event:`` line early, and ``end``/``error`` are streamer's own events."""
    if type(name) is not str:
        raise TypeError(f"an event name must be a str, not {type(name).__name__}")
    if name in RESERVED_EVENTS:
        reason = "is reserved for streamer's own records"
    elif not name:
        reason = "must not be empty"
    elif "\n" in name or "\r" in name:
        reason = "must not contain CR or LF"
    else:
        return name
    raise ValueError(f"event name {name!r} {reason}")


@dataclass(frozen=True, slots=True)
class Data:
    """One payload with its sequence id (1, 2, 3, ... within a stream), and the event name
    it was yielded with (:class:`Event`), if any."""

    id: int
    data: Any
    event: str | None = None

    def __repr__(self) -> str:
        # The name only when there is one: most records have none.
        named = "" if self.event is None else f", event={self.event!r}"
        return f"Data(id={self.id!r}, data={self.data!r}{named})"


@dataclass(frozen=True, slots=True)
class Event:
    """What a producer yields for a data record with an event name: SSE frames it as
    ``event: <name>`` (a ``str`` payload raw, an HTML fragment say; others as JSON), NDJSON
    adds ``"name"``, text sends the payload alone. The engine numbers it as a plain payload.
    A name with CR or LF, an empty one, or ``end``/``error`` is refused (:class:`ValueError`).

    >>> Event("<tr><td>1</td></tr>", "row")
    Event(data='<tr><td>1</td></tr>', event='row')
    """

    data: Any
    event: str

    def __post_init__(self) -> None:
        event_name(self.event)


@dataclass(frozen=True, slots=True)
class End:
    """The last record of a complete stream: how many data records it had, plus extras
    such as token ``usage`` for chat."""

    count: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Error:
    """The last record of a failed stream. ``message`` is safe to show: never a stack trace
    or a secret."""

    type: str
    message: str


@dataclass(frozen=True, slots=True)
class Ping:
    """A heartbeat: the stream is alive but has nothing new."""


Record = Data | End | Error | Ping
