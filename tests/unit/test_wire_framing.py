"""Fast tier: encoders and incremental decoders, no sockets."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.wire.decoders import (
    NDJSONDecoder,
    SSEDecoder,
)
from streamer.wire.framing import NDJSON, SSE, Text, payload_text
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
    assert SSE.ping() == b": ping\n\n"
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
