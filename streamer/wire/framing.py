"""Encoders for the three wire formats: ``text``, ``ndjson`` and ``sse``.

Pure functions of a record to bytes: no I/O, shared by the server and by tests. The matching
incremental decoders are in :mod:`streamer.wire.decoders`.

- ``text``: the payload itself (a non-string payload is one line of JSON). Control records
  have no representation: a broken text stream is told apart only by the missing chunked
  terminator. An event name is not sent.
- ``ndjson``: one JSON object per line: ``{"event":"data","id":7,"data":...}`` (with an event
  name, ``{"event":"data","id":7,"name":"row","data":...}``: ``event`` is the record's kind
  here), ``end``, ``error`` and ``ping`` records as in docs/design.md.
- ``sse``: WHATWG Server-Sent Events. ``id:`` on every data event, then ``event: <name>`` if
  it has one; a payload with line breaks
  becomes several ``data:`` lines (split on CR LF, CR and LF only, the spec's line endings);
  ``event: end`` / ``event: error`` carry JSON; heartbeats are ``: ping`` comment lines; the
  first event carries a ``retry:`` hint (:meth:`Encoder.lead`). Deliberately never a block
  of its own: httpx-sse and ``@microsoft/fetch-event-source`` hand the page an empty event
  for a block with a ``retry`` field and no ``data``, where ``EventSource`` dispatches none.

Payloads are JSON by the stdlib encoder. Only an object it does not know goes to a fallback
(its ``default=``, so a dict, a list or a string costs what it did without one): a pydantic
model (anything with ``model_dump``: pydantic is not imported) is dumped with
``model_dump(mode="json", exclude_unset=True)``, so an OpenAI SDK chunk comes out as the API
sent it, extra fields included; a dataclass as ``dataclasses.asdict`` would (recursively, a
model inside it too); anything else goes to the app's ``json_default``
(:func:`with_json_default`), else it is a
:class:`~streamer.errors.UnserializablePayload` that names its type.

>>> NDJSON.data(1, "hi")
b'{"event":"data","id":1,"data":"hi"}\\n'
>>> SSE.data(2, "a\\nb")
b'id: 2\\ndata: a\\ndata: b\\n\\n'
>>> SSE.event(3, "row", "<tr></tr>")
b'id: 3\\nevent: row\\ndata: <tr></tr>\\n\\n'
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import fields
from typing import Any, ClassVar

from ..errors import UnserializablePayload
from .records import Data, End, Error, Ping, Record, event_name

# The spec's line endings and nothing else: str.splitlines() also splits on U+2028, U+0085
# and friends, which has cut JSON payloads in two in several projects.
LINE_BREAK = re.compile(r"\r\n|\r|\n")

JsonDefault = Callable[[Any], Any]
"""An app's fallback for objects JSON does not know, as ``json.dumps(default=...)`` takes:
return something JSON can encode, or raise :class:`TypeError`."""


def _fallback(app_default: JsonDefault | None) -> JsonDefault:
    """The encoder's ``default=``: called only for an object the stdlib encoder does not
    know, never for a str, a dict or a list."""

    def default(value: Any) -> Any:
        kind = type(value)
        # Looked up on the type: a model class itself (not an instance) is no payload.
        if getattr(kind, "model_dump", None) is not None:
            return value.model_dump(mode="json", exclude_unset=True)
        if hasattr(kind, "__dataclass_fields__"):
            # dataclasses.asdict's result, one level at a time: the encoder calls back here
            # for a dataclass or a model inside it, where asdict would deep-copy the model.
            return {f.name: getattr(value, f.name) for f in fields(value)}
        if app_default is not None:
            return app_default(value)
        raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")

    return default


def _unserializable(exc: TypeError | ValueError) -> UnserializablePayload:
    # The stdlib's own words name the type ("Object of type Foo is not JSON serializable"),
    # a key ("keys must be str, ..., not tuple") or a cycle ("Circular reference detected").
    message = f"a payload could not be serialised: {exc}"
    if str(exc).startswith("Object of type"):
        message += "; Streamer(app, json_default=...) takes a function for it"
    return UnserializablePayload(message)


def json_functions(
    app_default: JsonDefault | None = None,
) -> tuple[Callable[[Any], str], Callable[[Any], bytes], Callable[[Any], str]]:
    """``(dumps, json_bytes, payload_text)`` with ``app_default`` as the last fallback (the
    module's own three have none; :func:`with_json_default` makes an app's). ``dumps`` is the
    stdlib encoder's own ``encode`` (a :class:`TypeError` for what it cannot encode); the
    other two raise :class:`~streamer.errors.UnserializablePayload` instead."""
    default = _fallback(app_default)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=default).encode
    ascii_dumps = json.JSONEncoder(separators=(",", ":"), default=default).encode

    def json_bytes(value: Any) -> bytes:
        """Compact JSON as UTF-8; with a lone surrogate, escaped (``\\ud800``) so it survives."""
        try:
            return dumps(value).encode("utf-8")
        except UnicodeEncodeError:
            return ascii_dumps(value).encode("ascii")
        except (TypeError, ValueError) as exc:  # a type, a key, a cycle
            raise _unserializable(exc) from exc

    def payload_text(payload: Any) -> str:
        """A payload as text: strings as they are, bytes as UTF-8, anything else as JSON."""
        if isinstance(payload, str):
            return payload
        if isinstance(payload, bytes | bytearray):
            return bytes(payload).decode("utf-8")
        try:
            return dumps(payload)
        except (TypeError, ValueError) as exc:
            raise _unserializable(exc) from exc

    return dumps, json_bytes, payload_text


dumps, json_bytes, payload_text = json_functions()


def utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; a lone surrogate (valid in a JSON string, not in UTF-8)
    becomes U+FFFD instead of failing the stream."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


class Encoder:
    """Base of the three formats. ``encode`` dispatches on the record type."""

    name: ClassVar[str]
    media_type: ClassVar[str]
    #: Whether the format can carry control records (end, error, ping).
    framed: ClassVar[bool] = True

    #: What starts a body before its first record (the first write commits the headers and
    #: gets past proxies that wait for body bytes); dispatches nothing in any client.
    opening: ClassVar[bytes] = b""

    @classmethod
    def lead(cls, retry_ms: int) -> bytes:
        """Lines written in front of the stream's first event (not a comment block), in the
        same block: SSE's ``retry:`` hint. Empty for the other formats."""
        return b""

    @classmethod
    def terminal_id(cls, next_id: int) -> bytes:
        """Lines in front of a stream's own end (``end``, or an ``error`` record the
        producer yields, as a resumable stream's reader does; not an exception, a timeout or
        a ``shutdown``, after which a reader resumes): SSE's ``id:``, one past
        the last data record, so an ``EventSource`` that reconnects after the end names a
        position no record has and the resume route answers 204 (stop), while one cut
        before the end still names its last record and is sent the end. Empty elsewhere."""
        return b""

    @classmethod
    def data(cls, id: int, payload: Any) -> bytes:
        raise NotImplementedError

    @classmethod
    def event(cls, id: int, name: str, payload: Any) -> bytes:
        """A data record with an event name (:class:`~streamer.wire.records.Event`); the name
        is checked (:func:`~streamer.wire.records.event_name`)."""
        raise NotImplementedError

    @classmethod
    def end(cls, count: int, extra: dict[str, Any] | None = None) -> bytes:
        raise NotImplementedError

    @classmethod
    def error(cls, type: str, message: str) -> bytes:
        raise NotImplementedError

    @classmethod
    def ping(cls) -> bytes:
        raise NotImplementedError

    @classmethod
    def encode(cls, record: Record) -> bytes:
        if isinstance(record, Data):
            if record.event is not None:
                return cls.event(record.id, record.event, record.data)
            return cls.data(record.id, record.data)
        if isinstance(record, End):
            return cls.end(record.count, record.extra)
        if isinstance(record, Error):
            return cls.error(record.type, record.message)
        if isinstance(record, Ping):
            return cls.ping()
        raise TypeError(f"not a record: {record!r}")


class Text(Encoder):
    name = "text"
    media_type = "text/plain; charset=utf-8"
    framed = False

    @classmethod
    def data(
        cls, id: int, payload: Any, *, json_bytes: Callable[[Any], bytes] = json_bytes
    ) -> bytes:
        if isinstance(payload, str):
            return utf8(payload)
        if isinstance(payload, bytes):
            return payload
        return json_bytes(payload) + b"\n"

    @classmethod
    def event(cls, id: int, name: str, payload: Any) -> bytes:
        event_name(name)  # refused here too, or a stream would fail only in another format
        # cls.data: with_json_default's, for an app's json_default.
        return cls.data(id, payload)

    @classmethod
    def end(cls, count: int, extra: dict[str, Any] | None = None) -> bytes:
        return b""

    @classmethod
    def error(cls, type: str, message: str) -> bytes:
        return b""

    @classmethod
    def ping(cls) -> bytes:
        return b""


class NDJSON(Encoder):
    name = "ndjson"
    media_type = "application/x-ndjson"

    @classmethod
    def data(
        cls, id: int, payload: Any, *, json_bytes: Callable[[Any], bytes] = json_bytes
    ) -> bytes:
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8")
        return b'{"event":"data","id":%d,"data":%s}\n' % (id, json_bytes(payload))

    @classmethod
    def event(
        cls, id: int, name: str, payload: Any, *, json_bytes: Callable[[Any], bytes] = json_bytes
    ) -> bytes:
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8")
        return b'{"event":"data","id":%d,"name":%s,"data":%s}\n' % (
            id,
            json_bytes(event_name(name)),
            json_bytes(payload),
        )

    @classmethod
    def end(
        cls,
        count: int,
        extra: dict[str, Any] | None = None,
        *,
        json_bytes: Callable[[Any], bytes] = json_bytes,
    ) -> bytes:
        return json_bytes({"event": "end", "count": count, **(extra or {})}) + b"\n"

    @classmethod
    def error(cls, type: str, message: str) -> bytes:
        return json_bytes({"event": "error", "error": {"type": type, "message": message}}) + b"\n"

    @classmethod
    def ping(cls) -> bytes:
        return b'{"event":"ping"}\n'


class SSE(Encoder):
    name = "sse"
    # No charset parameter: the format is UTF-8 by definition (WHATWG 9.2.5), and strict
    # clients (the Durable Streams conformance suite among them) compare the header exactly.
    media_type = "text/event-stream"

    # A comment line and no blank line: no client dispatches anything for it, not even
    # fetch-event-source (which dispatches at every blank line, a comment block's included).
    opening = b": ok\n"

    @classmethod
    def lead(cls, retry_ms: int) -> bytes:
        # A field line, no blank line: it joins the event written after it (WHATWG 9.2.6).
        return b"retry: %d\n" % retry_ms

    @classmethod
    def terminal_id(cls, next_id: int) -> bytes:
        return b"id: %d\n" % next_id

    @classmethod
    def data(
        cls, id: int, payload: Any, *, payload_text: Callable[[Any], str] = payload_text
    ) -> bytes:
        text = payload_text(payload)
        if "\n" in text or "\r" in text:
            body = "".join(f"data: {line}\n" for line in LINE_BREAK.split(text))
        else:
            body = f"data: {text}\n"
        return utf8(f"id: {id}\n{body}\n")

    @classmethod
    def event(
        cls, id: int, name: str, payload: Any, *, payload_text: Callable[[Any], str] = payload_text
    ) -> bytes:
        # data's lines with an event line after the id; written out, not shared through a
        # helper, so that a plain record pays no extra call.
        name = event_name(name)
        text = payload_text(payload)
        if "\n" in text or "\r" in text:
            body = "".join(f"data: {line}\n" for line in LINE_BREAK.split(text))
        else:
            body = f"data: {text}\n"
        return utf8(f"id: {id}\nevent: {name}\n{body}\n")

    @classmethod
    def end(
        cls,
        count: int,
        extra: dict[str, Any] | None = None,
        *,
        json_bytes: Callable[[Any], bytes] = json_bytes,
    ) -> bytes:
        return b"event: end\ndata: " + json_bytes({"count": count, **(extra or {})}) + b"\n\n"

    @classmethod
    def error(cls, type: str, message: str) -> bytes:
        return utf8(f"event: error\ndata: {dumps({'type': type, 'message': message})}\n\n")

    @classmethod
    def ping(cls) -> bytes:
        # A comment line, no blank line, as the opening: a blank line after it makes
        # fetch-event-source (every blank line) and httpx-sse (once an id was seen) hand the
        # page an empty event. EventSource and the spec's parsers skip the line either way.
        return b": ping\n"


FORMATS: dict[str, type[Encoder]] = {"text": Text, "ndjson": NDJSON, "sse": SSE}


def with_json_default(encoder: type[Encoder], default: JsonDefault) -> type[Encoder]:
    """``encoder`` (one of :data:`FORMATS`, or a subclass) with ``default`` as the last
    fallback for payload objects, after models and dataclasses; for an app's
    ``json_default``. The formats' ``data``, ``event`` and ``end`` take their JSON function as a
    keyword-only default, so the plain formats pay nothing for this; an encoder whose
    methods take none is returned as it is.

    >>> with_json_default(NDJSON, str).data(1, [1j])
    b'{"event":"data","id":1,"data":["1j"]}\\n'
    """
    _, json_bytes, payload_text = json_functions(default)
    own = {"json_bytes": json_bytes, "payload_text": payload_text}
    methods: dict[str, Any] = {}
    for name in ("data", "event", "end"):
        method = getattr(encoder, name)
        params = inspect.signature(method).parameters
        kwargs = {
            k: f for k, f in own.items() if k in params and params[k].kind is params[k].KEYWORD_ONLY
        }
        if kwargs:
            methods[name] = classmethod(_bound(method, kwargs))
    if not methods:
        return encoder
    return type(encoder.__name__, (encoder,), {"__module__": encoder.__module__, **methods})


def _bound(method: Callable[..., bytes], kwargs: dict[str, Any]) -> Callable[..., bytes]:
    def call(cls: type[Encoder], *args: Any) -> bytes:
        return method(*args, **kwargs)

    return call


# Media types a client may ask for in Accept, mapped to a format name.
MEDIA_TYPES: dict[str, str] = {
    "text/plain": "text",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/json-seq": "ndjson",
    "text/event-stream": "sse",
}
