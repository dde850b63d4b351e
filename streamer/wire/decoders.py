"""Incremental, I/O-free decoders for the three wire formats.

Feed bytes as they arrive, in chunks of any size, and get back whatever became complete;
the result does not depend on how the bytes were split. Call ``close()`` at the end of the
body: it reports what was left unfinished.

- UTF-8 is decoded incrementally, so a character split across chunks decodes correctly and
  invalid UTF-8 raises :class:`DecodeError` instead of being silently replaced.
- Lines end at CR LF, CR or LF, and nowhere else (not at U+2028 or U+0085, unlike
  ``str.splitlines``). A CR at the end of a chunk is held back until the next byte shows
  whether an LF follows.
- A line longer than ``max_line`` characters raises :class:`LineTooLong`: memory stays
  bounded against a server that never sends a newline.

SSE follows the WHATWG event-stream interpretation (leading BOM dropped, comments, ``data``
lines joined with LF, ``id`` kept, ``retry`` recorded, events dispatched on a blank line, an
unfinished event at the end of the body discarded). An event of a type other than ``message``,
``end`` and ``error`` is a data record with that name (``Data.event``); NDJSON's is its
``name`` key. One divergence: SSE carries text only, so a
data payload decodes as a ``str`` even if the server encoded a number or an object as JSON;
NDJSON keeps JSON types.

>>> d = NDJSONDecoder()
>>> d.feed(b'{"event":"data","id":1,"data":"h')
[]
>>> d.feed(b'i"}\\n')
[Data(id=1, data='hi')]
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from ..errors import DecodeError as DecodeError  # re-exported: defined in streamer.errors
from ..errors import LineTooLong as LineTooLong
from ..errors import ProtocolError as ProtocolError
from ..quote import echo
from .records import Data, End, Error, Ping, Record

DEFAULT_MAX_LINE = 1 << 20  # characters


class TextDecoder:
    """Bytes to text, incrementally and strictly."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._offset = 0

    def feed(self, data: bytes, final: bool = False) -> str:
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"invalid {exc.encoding} at byte {self._offset + exc.start} of the body"
            ) from exc
        self._offset += len(data)
        return text

    def close(self) -> str:
        return self.feed(b"", final=True)


class LineDecoder:
    """Bytes to complete lines (without their line ending)."""

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._text = TextDecoder()
        self._buffer = ""
        self._max_line = max_line

    def feed(self, data: bytes) -> list[str]:
        return self._split(self._text.feed(data))

    def _split(self, text: str) -> list[str]:
        buffer = self._buffer + text if self._buffer else text
        if "\r" in buffer:
            buffer = buffer.replace("\r\n", "\n")
            if buffer.endswith("\r"):
                # Hold the CR back: the next chunk may start with the LF of a CR LF.
                lines = buffer[:-1].replace("\r", "\n").split("\n")
                lines[-1] += "\r"
            else:
                lines = buffer.replace("\r", "\n").split("\n")
        else:
            lines = buffer.split("\n")
        self._buffer = lines.pop()
        # A complete line over the limit is refused too, or the outcome would depend on
        # whether its newline arrived in the same chunk. Only a long buffer needs the scan.
        if len(buffer) > self._max_line and (
            len(self._buffer) > self._max_line or any(len(line) > self._max_line for line in lines)
        ):
            self._buffer = ""
            raise LineTooLong(f"a line is longer than {self._max_line} characters")
        return lines

    def close(self) -> tuple[list[str], str | None]:
        """End of body: the lines completed now and the unterminated last line, if any.

        A held-back CR ends its line here, since no LF can follow it any more."""
        lines = self._split(self._text.close())
        rest, self._buffer = self._buffer, ""
        if rest.endswith("\r"):
            lines.append(rest[:-1])
            rest = ""
        return lines, rest or None


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not a JSON record: {echo(line)}") from exc


def ndjson_record(obj: Any) -> Record | None:
    """One decoded NDJSON object as a record; None for kinds this version does not know."""
    if not isinstance(obj, dict):
        raise ProtocolError("an NDJSON record must be a JSON object")
    kind = obj.get("event")
    if kind == "data":
        name = obj.get("name")
        if name is not None and type(name) is not str:
            raise ProtocolError(f"a data record's name must be a string, got {echo(name)}")
        return Data(_int_id(obj.get("id")), obj.get("data"), name)
    if kind == "end":
        extra = {k: v for k, v in obj.items() if k not in ("event", "count")}
        return End(_count(obj.get("count")), extra)
    if kind == "error":
        return _error(obj.get("error"))
    if kind == "ping":
        return Ping()
    return None


def _int_id(value: Any) -> int:
    if type(value) is int and value > 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
        return int(value)
    raise ProtocolError(f"a data record needs a positive integer id, got {echo(value)}")


def _count(value: Any) -> int:
    if type(value) is int and value >= 0:
        return value
    raise ProtocolError(f"an end record needs a count, got {echo(value)}")


def _error(value: Any) -> Error:
    if not isinstance(value, dict):
        raise ProtocolError("an error record needs an object with type and message")
    return Error(str(value.get("type", "unknown")), str(value.get("message", "")))


class NDJSONDecoder:
    """Bytes to records, one JSON object per line; blank lines are skipped."""

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._lines = LineDecoder(max_line)

    def feed(self, data: bytes) -> list[Record]:
        return self._records(self._lines.feed(data))

    def close(self) -> list[Record]:
        lines, rest = self._lines.close()
        return self._records([*lines, rest] if rest else lines)

    def _records(self, lines: list[str]) -> list[Record]:
        out: list[Record] = []
        for line in lines:
            if line and not line.isspace():
                record = ndjson_record(_json(line))
                if record is not None:
                    out.append(record)
        return out


class SSEDecoder:
    """Bytes to records per the WHATWG event-stream interpretation.

    ``last_event_id`` and ``retry_ms`` keep the latest ``id`` and ``retry`` fields seen.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._lines = LineDecoder(max_line)
        self._first = True
        self._data: list[str] = []
        self._event = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def feed(self, data: bytes) -> list[Record]:
        return self._records(self._lines.feed(data))

    def close(self) -> list[Record]:
        # An event not ended by a blank line is discarded (WHATWG 9.2.6, end of stream).
        lines, _unterminated = self._lines.close()
        out = self._records(lines)
        self._data, self._event = [], ""
        return out

    def _records(self, lines: list[str]) -> list[Record]:
        out: list[Record] = []
        for line in lines:
            if self._first:
                self._first = False
                if line.startswith("\ufeff"):
                    line = line[1:]
            if not line:
                record = self._dispatch()
                if record is not None:
                    out.append(record)
            elif line[0] == ":":
                out.append(Ping())
            else:
                name, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                self._field(name, value)
        return out

    def _field(self, name: str, value: str) -> None:
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        # Other field names are ignored, as the spec says.

    def _dispatch(self) -> Record | None:
        data, event = self._data, self._event or "message"
        self._data, self._event = [], ""
        if not data:
            return None
        text = "\n".join(data)
        if event == "message":
            return Data(_int_id(self.last_event_id), text)
        if event == "end":
            obj = _json(text)
            if not isinstance(obj, dict):
                raise ProtocolError("an end event needs a JSON object")
            return End(_count(obj.get("count")), {k: v for k, v in obj.items() if k != "count"})
        if event == "error":
            return _error(_json(text))
        # A named event (streamer.wire.records.Event): a data record with its name.
        return Data(_int_id(self.last_event_id), text, event)


DECODERS: dict[str, type[NDJSONDecoder] | type[SSEDecoder]] = {
    "ndjson": NDJSONDecoder,
    "sse": SSEDecoder,
}
