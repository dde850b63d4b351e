"""The four records of the wire contract, shared by the server and the client.

A stream is a sequence of :class:`Data` records followed by exactly one terminal record:
:class:`End` on success or :class:`Error` on failure. :class:`Ping` fills silence.

>>> Data(1, "hello")
Data(id=1, data='hello')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Data:
    """One payload with its sequence id (1, 2, 3, ... within a stream)."""

    id: int
    data: Any


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
