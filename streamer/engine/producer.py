"""The producer protocol: what a producer may yield, and what each item means.

A producer is any iterable (a generator, usually). The engine pulls items from it one at a
time; each item is one of:

=================  =========================================================================
item               meaning
=================  =========================================================================
a payload          any other value (``str``, ``dict``, ...): one data record; the engine
                   numbers it (1, 2, 3, ... or after the last :class:`Data` id)
``Event(x, name)`` one data record with an event name (SSE's ``event:``); numbered as a
                   payload is
``Data(id, x)``    one data record that keeps its id (a replayed stream); ids go on from it
``Ping()``         a heartbeat: the stream is alive but has nothing new
``End(n, extra)``  the stream is complete; nothing after it is read
``Error(t, msg)``  the stream failed, as a record (a stored outcome): it goes out in-band
=================  =========================================================================

Returning ends the stream too: a generator's return value, if a dict, is added to ``end``
(chat puts ``usage`` there). Raising ends it with an ``error`` record (or, before the first
item, a real HTTP status). Plain streams (:mod:`streamer.server.response`) and resumable streams
(:mod:`streamer.server.resumable`) read producers through this one module.

>>> kind_of("hello"), kind_of(Ping()), kind_of(End(1))
(<Kind.PAYLOAD: 0>, <Kind.PING: 2>, <Kind.END: 3>)
>>> def gen():
...     yield "a"
...     return {"usage": 3}
>>> it = gen(); next(it)
'a'
>>> try:
...     next(it)
... except StopIteration as stop:
...     returned(stop)
{'usage': 3}
"""

from __future__ import annotations

import enum
from typing import Any

from ..wire.records import Data, End, Error, Event, Ping


class Kind(enum.IntEnum):
    """What one yielded item is (see the table above)."""

    PAYLOAD = 0
    DATA = 1
    PING = 2
    END = 3
    ERROR = 4
    EVENT = 5


# As module names: an Enum class attribute costs a Python-level lookup, once per item here.
PAYLOAD, DATA, PING, END, ERROR = Kind.PAYLOAD, Kind.DATA, Kind.PING, Kind.END, Kind.ERROR
EVENT = Kind.EVENT


def kind_of(item: Any) -> Kind:
    """The kind of one yielded item. A ``str`` is the common case and is checked first."""
    if type(item) is str:
        return PAYLOAD
    if isinstance(item, Data):
        return DATA
    if isinstance(item, Ping):
        return PING
    if isinstance(item, End):
        return END
    if isinstance(item, Error):
        return ERROR
    # Last: a dict payload pays one check more, the records above none.
    if isinstance(item, Event):
        return EVENT
    return PAYLOAD


def returned(stop: StopIteration) -> dict[str, Any]:
    """The extra ``end`` fields of a producer that returned: its return value if a dict."""
    value = stop.value
    return value if isinstance(value, dict) else {}
