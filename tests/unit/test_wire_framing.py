"""Fast tier: encoders and incremental decoders, no sockets."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.errors import UnserializablePayload
from streamer.wire.decoders import (
    NDJSONDecoder,
    SSEDecoder,
)
from streamer.wire.framing import NDJSON, SSE, Text, payload_text, with_json_default
from streamer.wire.records import Data, End, Ping

from .test_wire_decoders import decode_all, split_at

payloads = st.one_of(
    st.text(),  # any unicode, including U+2028, U+0085, CR, LF, astral characters
    st.integers(),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8))),
    st.lists(st.booleans(), max_size=3),
)


def encode_stream(encoder: Any, items: list[Any], extra: dict[str, Any]) -> bytes:
    body = encoder.lead(2500)
    for i, item in enumerate(items, 1):
        body += encoder.data(i, item)
        if i % 3 == 0:
            body += encoder.ping()
    return body + encoder.end(len(items), extra)


@settings(deadline=None)
@given(items=st.lists(payloads, max_size=8), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_ndjson_round_trip_for_any_split(items: list[Any], cuts: list[int]) -> None:
    body = encode_stream(NDJSON, items, {"usage": {"total_tokens": 3}})
    records = [
        r for r in decode_all(NDJSONDecoder(), split_at(body, cuts)) if not isinstance(r, Ping)
    ]
    assert records == [
        *(Data(i, item) for i, item in enumerate(items, 1)),
        End(len(items), {"usage": {"total_tokens": 3}}),
    ]


@settings(deadline=None)
@given(items=st.lists(payloads, max_size=8), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_sse_round_trip_for_any_split(items: list[Any], cuts: list[int]) -> None:
    body = encode_stream(SSE, items, {})
    decoder = SSEDecoder()
    records = [r for r in decode_all(decoder, split_at(body, cuts)) if not isinstance(r, Ping)]
    # SSE carries text: a payload is its text (JSON for non-strings), and its line breaks
    # (CR LF, CR, LF) come back as LF, as an EventSource would give them.
    expected_text = [payload_text(item).replace("\r\n", "\n").replace("\r", "\n") for item in items]
    assert records == [*(Data(i, t) for i, t in enumerate(expected_text, 1)), End(len(items))]
    assert decoder.retry_ms == 2500
    assert decoder.last_event_id == (str(len(items)) if items else "")


def test_sse_encoder_splits_every_line_break() -> None:
    assert SSE.data(3, "a\r\nb\rc\nd") == b"id: 3\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    assert SSE.data(4, {"k": [1]}) == b'id: 4\ndata: {"k":[1]}\n\n'
    assert SSE.ping() == b": ping\n"  # no blank line: an empty event to some clients
    assert SSE.error("timeout", "late") == (
        b'event: error\ndata: {"type":"timeout","message":"late"}\n\n'
    )


def test_ndjson_shapes_match_the_design() -> None:
    assert NDJSON.data(7, "x") == b'{"event":"data","id":7,"data":"x"}\n'
    assert NDJSON.end(12, {"usage": {"total_tokens": 5}}) == (
        b'{"event":"end","count":12,"usage":{"total_tokens":5}}\n'
    )
    assert NDJSON.error("upstream_timeout", "m") == (
        b'{"event":"error","error":{"type":"upstream_timeout","message":"m"}}\n'
    )
    assert NDJSON.ping() == b'{"event":"ping"}\n'


def test_text_encoder_is_the_payload_itself() -> None:
    assert Text.data(1, "tök") == "tök".encode()
    assert Text.data(2, {"a": 1}) == b'{"a":1}\n'
    assert Text.end(3) == b"" and Text.error("x", "y") == b"" and Text.ping() == b""


@pytest.mark.parametrize("encoder", [Text, NDJSON, SSE])
def test_lone_surrogates_do_not_fail_a_stream(encoder: Any) -> None:
    # "\ud800" is a valid JSON string escape (a chat message may hold one) but not UTF-8.
    data = encoder.data(1, "a\ud800b")
    data.decode("utf-8")  # valid UTF-8 on the wire
    if encoder is NDJSON:
        assert NDJSONDecoder().feed(data) == [Data(1, "a\ud800b")]
    else:
        assert "\ufffd" in data.decode()
    encoder.end(1, {"note": "\udfff"}).decode("utf-8")


# -- payloads that are not JSON-native -----------------------------------------------------------


class Model:
    """Duck-typed like a pydantic model: framing never imports pydantic."""

    def model_dump(self, *, mode: str, exclude_unset: bool) -> dict[str, Any]:
        assert (mode, exclude_unset) == ("json", True)
        return {"model": True}


@dataclasses.dataclass
class Pair:
    left: Any
    right: Any = None


class Opaque:
    pass


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(Model(), {"model": True}, id="model"),
        pytest.param(Pair(1, [Model()]), {"left": 1, "right": [{"model": True}]}, id="dataclass"),
        pytest.param(Pair(Pair(1)), {"left": {"left": 1, "right": None}, "right": None}, id="nest"),
        pytest.param(
            {"a": (Model(), Pair(2))}, {"a": [{"model": True}, {"left": 2, "right": None}]}
        ),
    ],
)
def test_models_and_dataclasses_are_json_in_every_format(payload: Any, expected: Any) -> None:
    assert json.loads(payload_text(payload)) == expected
    assert json.loads(NDJSON.data(1, payload))["data"] == expected
    assert json.loads(Text.data(1, payload)) == expected
    assert json.loads(SSE.data(1, payload).split(b"data: ", 1)[1]) == expected


def test_a_model_class_is_no_payload() -> None:
    with pytest.raises(UnserializablePayload, match="Object of type type is not"):
        NDJSON.data(1, Model)
    with pytest.raises(UnserializablePayload, match="Object of type type is not"):
        NDJSON.data(1, Pair)


@pytest.mark.parametrize("encoder", [NDJSON, SSE, Text])
def test_what_nothing_serialises_is_an_error_naming_its_type(encoder: Any) -> None:
    with pytest.raises(UnserializablePayload, match="Object of type Opaque is not JSON") as info:
        encoder.data(1, {"x": [Opaque()]})
    assert isinstance(info.value, TypeError) and info.value.type == "unserializable_payload"
    with pytest.raises(UnserializablePayload, match="keys must be str"):
        encoder.data(1, {(1, 2): "tuple key"})


def test_the_apps_default_comes_after_models_and_dataclasses() -> None:
    seen: list[Any] = []

    def default(value: Any) -> Any:
        seen.append(value)
        return f"<{type(value).__name__}>"

    ndjson, sse = with_json_default(NDJSON, default), with_json_default(SSE, default)
    payload = [Opaque(), Model(), Pair(Opaque())]
    expected = ["<Opaque>", {"model": True}, {"left": "<Opaque>", "right": None}]
    assert json.loads(ndjson.data(1, payload))["data"] == expected
    assert json.loads(sse.data(1, payload).split(b"data: ", 1)[1]) == expected
    assert json.loads(with_json_default(Text, default).data(1, payload)) == expected
    assert [type(v) for v in seen] == [Opaque, Opaque] * 3
    assert json.loads(ndjson.end(2, {"usage": Opaque()})) == {
        "event": "end",
        "count": 2,
        "usage": "<Opaque>",
    }
    assert sse.end(2, {"u": Opaque()}) == b'event: end\ndata: {"count":2,"u":"<Opaque>"}\n\n'
    # Still the same formats, for everything else.
    assert issubclass(ndjson, NDJSON) and ndjson.name == "ndjson" and ndjson.__name__ == "NDJSON"
    assert ndjson.data(3, "plain") == NDJSON.data(3, "plain")
    with pytest.raises(UnserializablePayload):  # the plain format is untouched
        NDJSON.data(1, [Opaque()])


def test_an_encoder_without_json_keywords_is_returned_as_it_is() -> None:
    class Custom(NDJSON):
        @classmethod
        def data(cls, id: int, payload: Any) -> bytes:  # type: ignore[override]
            return b"custom"

        @classmethod
        def event(cls, id: int, name: str, payload: Any) -> bytes:  # type: ignore[override]
            return b"named"

        @classmethod
        def end(cls, count: int, extra: dict[str, Any] | None = None) -> bytes:  # type: ignore[override]
            return b"end"

    assert with_json_default(Custom, str) is Custom


def test_a_lone_surrogate_in_a_model_is_escaped_not_fatal() -> None:
    class Surrogate(Model):
        def model_dump(self, *, mode: str, exclude_unset: bool) -> dict[str, Any]:
            return {"s": "\ud800"}

    assert NDJSON.data(1, Surrogate()) == b'{"event":"data","id":1,"data":{"s":"\\ud800"}}\n'


def test_named_events_in_every_format() -> None:
    assert SSE.event(7, "row", "<tr>\n<td>1</td></tr>") == (
        b"id: 7\nevent: row\ndata: <tr>\ndata: <td>1</td></tr>\n\n"
    )
    assert SSE.event(8, "stats", {"n": 1}) == b'id: 8\nevent: stats\ndata: {"n":1}\n\n'
    line = NDJSON.event(7, "row", {"n": 1})
    assert json.loads(line) == {"event": "data", "id": 7, "name": "row", "data": {"n": 1}}
    assert line == b'{"event":"data","id":7,"name":"row","data":{"n":1}}\n'
    assert Text.event(7, "row", "<tr></tr>") == b"<tr></tr>"
    assert Text.event(7, "row", {"n": 1}) == b'{"n":1}\n'
    for encoder in (Text, NDJSON, SSE):
        assert encoder.encode(Data(7, {"n": 1}, "row")) == encoder.event(7, "row", {"n": 1})


@pytest.mark.parametrize("encoder", [Text, NDJSON, SSE])
@pytest.mark.parametrize("name", ["end", "error", "", "a\nb", "a\r"])
def test_every_format_refuses_a_name_that_would_break_sse(encoder: Any, name: str) -> None:
    # Data(..., event=...) is not checked when made (a replayed record); the encoder checks.
    with pytest.raises(ValueError, match="event name"):
        encoder.encode(Data(1, "x", name))


def test_named_events_take_the_apps_json_default() -> None:
    for encoder, expected in [
        (NDJSON, b'{"event":"data","id":1,"name":"n","data":["1j"]}\n'),
        (SSE, b'id: 1\nevent: n\ndata: ["1j"]\n\n'),
        (Text, b'["1j"]\n'),
    ]:
        assert with_json_default(encoder, str).event(1, "n", [1j]) == expected
