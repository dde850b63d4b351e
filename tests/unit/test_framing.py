"""Fast tier: encoders and incremental decoders, no sockets."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.decoders import (
    DecodeError,
    LineDecoder,
    LineTooLong,
    NDJSONDecoder,
    ProtocolError,
    SSEDecoder,
    TextDecoder,
)
from streamer.framing import NDJSON, SSE, Text, payload_text
from streamer.records import Data, End, Error, Ping, Record


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def decode_all(decoder: NDJSONDecoder | SSEDecoder, pieces: list[bytes]) -> list[Record]:
    out: list[Record] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    out.extend(decoder.close())
    return out


payloads = st.one_of(
    st.text(),  # any unicode, including U+2028, U+0085, CR, LF, astral characters
    st.integers(),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8))),
    st.lists(st.booleans(), max_size=3),
)


def encode_stream(encoder: Any, items: list[Any], extra: dict[str, Any]) -> bytes:
    body = encoder.prelude(2500)
    for i, item in enumerate(items, 1):
        body += encoder.data(i, item)
        if i % 3 == 0:
            body += encoder.ping()
    return body + encoder.end(len(items), extra)


@settings(deadline=None)
@given(items=st.lists(payloads, max_size=8), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_ndjson_round_trip_for_any_split(items: list[Any], cuts: list[int]) -> None:
    body = encode_stream(NDJSON, items, {"usage": {"total_tokens": 3}})
    records = [r for r in decode_all(NDJSONDecoder(), split_at(body, cuts))
               if not isinstance(r, Ping)]
    assert records == [*(Data(i, item) for i, item in enumerate(items, 1)),
                       End(len(items), {"usage": {"total_tokens": 3}})]


@settings(deadline=None)
@given(items=st.lists(payloads, max_size=8), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_sse_round_trip_for_any_split(items: list[Any], cuts: list[int]) -> None:
    body = encode_stream(SSE, items, {})
    decoder = SSEDecoder()
    records = [r for r in decode_all(decoder, split_at(body, cuts)) if not isinstance(r, Ping)]
    # SSE carries text: a payload is its text (JSON for non-strings), and its line breaks
    # (CR LF, CR, LF) come back as LF, as an EventSource would give them.
    expected_text = [
        payload_text(item).replace("\r\n", "\n").replace("\r", "\n")
        for item in items
    ]
    assert records == [*(Data(i, t) for i, t in enumerate(expected_text, 1)), End(len(items))]
    assert decoder.retry_ms == 2500
    assert decoder.last_event_id == (str(len(items)) if items else "")


@settings(deadline=None)
@given(text=st.text(), cuts=st.lists(st.integers(0, 10_000), max_size=10))
def test_text_decoder_handles_multibyte_at_every_split(text: str, cuts: list[int]) -> None:
    decoder = TextDecoder()
    pieces = split_at(Text.data(1, text), cuts)
    assert "".join(decoder.feed(p) for p in pieces) + decoder.close() == text


def test_multibyte_character_split_at_every_byte() -> None:
    text = "héllo wörld ✓ 🎉 中文"
    data = text.encode()
    for cut in range(len(data) + 1):
        decoder = TextDecoder()
        assert decoder.feed(data[:cut]) + decoder.feed(data[cut:]) + decoder.close() == text


@pytest.mark.parametrize("ending", [
    pytest.param(b"\n", id="lf"),
    pytest.param(b"\r\n", id="crlf"),
    pytest.param(b"\r", id="cr"),
])
def test_sse_line_endings(ending: bytes) -> None:
    body = ending.join([b"retry: 10", b"", b"id: 1", b"data: a", b"data: b", b"", b": ping",
                        b"event: end", b'data: {"count": 1}', b"", b""])
    for cut in range(len(body) + 1):
        records = decode_all(SSEDecoder(), [body[:cut], body[cut:]])
        assert records == [Data(1, "a\nb"), Ping(), End(1)], cut


def test_line_decoder_splits_only_on_cr_and_lf() -> None:
    decoder = LineDecoder()
    text = 'a\u2028b\u0085c\x0bd\x0ce\x1cf'
    assert decoder.feed(text.encode() + b"\n") == [text]


def test_ndjson_payload_with_unicode_line_separators_stays_whole() -> None:
    payload = "one\u2028two\u2029three\u0085four"
    assert NDJSONDecoder().feed(NDJSON.data(1, payload)) == [Data(1, payload)]


def test_sse_bom_is_dropped_once() -> None:
    body = "\ufeffid: 1\ndata: x\n\n".encode()
    assert decode_all(SSEDecoder(), [body[:1], body[1:]]) == [Data(1, "x")]


def test_sse_unfinished_event_is_discarded_at_end() -> None:
    assert decode_all(SSEDecoder(), [b"id: 1\ndata: partial\n"]) == []


def test_sse_cr_at_end_of_body_ends_the_line() -> None:
    assert decode_all(SSEDecoder(), [b"id: 1\rdata: x\r\r"]) == [Data(1, "x")]


def test_sse_error_and_unknown_events() -> None:
    body = (b"event: custom\ndata: ignored\n\n"
            b'event: error\ndata: {"type": "upstream_timeout", "message": "slow"}\n\n')
    assert decode_all(SSEDecoder(), [body]) == [Error("upstream_timeout", "slow")]


def test_sse_encoder_splits_every_line_break() -> None:
    assert SSE.data(3, "a\r\nb\rc\nd") == b"id: 3\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    assert SSE.data(4, {"k": [1]}) == b'id: 4\ndata: {"k":[1]}\n\n'
    assert SSE.ping() == b": ping\n\n"
    assert SSE.error("timeout", "late") == (
        b'event: error\ndata: {"type":"timeout","message":"late"}\n\n')


def test_ndjson_shapes_match_the_design() -> None:
    assert NDJSON.data(7, "x") == b'{"event":"data","id":7,"data":"x"}\n'
    assert NDJSON.end(12, {"usage": {"total_tokens": 5}}) == (
        b'{"event":"end","count":12,"usage":{"total_tokens":5}}\n')
    assert NDJSON.error("upstream_timeout", "m") == (
        b'{"event":"error","error":{"type":"upstream_timeout","message":"m"}}\n')
    assert NDJSON.ping() == b'{"event":"ping"}\n'


def test_text_encoder_is_the_payload_itself() -> None:
    assert Text.data(1, "tök") == "tök".encode()
    assert Text.data(2, {"a": 1}) == b'{"a":1}\n'
    assert Text.end(3) == b"" and Text.error("x", "y") == b"" and Text.ping() == b""


def test_invalid_utf8_is_reported_with_its_offset() -> None:
    decoder = NDJSONDecoder()
    decoder.feed(b'{"event":"ping"}\n')
    with pytest.raises(DecodeError, match="byte 19"):
        decoder.feed(b'{"\xff\xfe')


def test_truncated_multibyte_at_end_is_an_error() -> None:
    decoder = TextDecoder()
    assert decoder.feed("é".encode()[:1]) == ""
    with pytest.raises(DecodeError):
        decoder.close()


def test_line_too_long_is_refused_with_bounded_memory() -> None:
    decoder = NDJSONDecoder(max_line=1000)
    decoder.feed(b"x" * 999)
    with pytest.raises(LineTooLong, match="1000"):
        decoder.feed(b"y" * 10)


@pytest.mark.parametrize("line", [
    pytest.param(b"not json\n", id="not-json"),
    pytest.param(b"[1, 2]\n", id="not-object"),
    pytest.param(b'{"event": "data", "id": 0, "data": 1}\n', id="zero-id"),
    pytest.param(b'{"event": "end"}\n', id="end-without-count"),
])
def test_ndjson_protocol_errors(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        NDJSONDecoder().feed(line)


def test_ndjson_final_line_without_newline_still_counts() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"event":"end","count":0}') == []
    assert decoder.close() == [End(0)]


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
