"""Fast tier of streamer.wire.decoders: incremental, I/O-free decoding of text, NDJSON and SSE, with
the wire's hazards (any split, multibyte characters, line breaks, bounded lines). Round trips
through the encoders are in tests/unit/test_wire_framing.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.wire.decoders import (
    DecodeError,
    LineDecoder,
    LineTooLong,
    NDJSONDecoder,
    ProtocolError,
    SSEDecoder,
    TextDecoder,
)
from streamer.wire.framing import NDJSON, SSE, Text
from streamer.wire.records import Data, End, Error, Ping, Record


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


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param(b"\n", id="lf"),
        pytest.param(b"\r\n", id="crlf"),
        pytest.param(b"\r", id="cr"),
    ],
)
def test_sse_line_endings(ending: bytes) -> None:
    body = ending.join(
        [
            b"retry: 10",
            b"",
            b"id: 1",
            b"data: a",
            b"data: b",
            b"",
            b": ping",
            b"event: end",
            b'data: {"count": 1}',
            b"",
            b"",
        ]
    )
    for cut in range(len(body) + 1):
        records = decode_all(SSEDecoder(), [body[:cut], body[cut:]])
        assert records == [Data(1, "a\nb"), Ping(), End(1)], cut


def test_line_decoder_splits_only_on_cr_and_lf() -> None:
    decoder = LineDecoder()
    text = "a\u2028b\u0085c\x0bd\x0ce\x1cf"
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


def test_sse_error_and_named_events() -> None:
    body = (
        b"id: 1\nevent: custom\ndata: kept\n\n"
        b'event: error\ndata: {"type": "upstream_timeout", "message": "slow"}\n\n'
    )
    assert decode_all(SSEDecoder(), [body]) == [
        Data(1, "kept", "custom"),
        Error("upstream_timeout", "slow"),
    ]


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_sse_named_events_keep_their_names_across_any_split(size: int) -> None:
    body = SSE.event(1, "row", "<tr>\n<td>1</td></tr>") + SSE.data(2, "x") + SSE.end(2)
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    records = decode_all(SSEDecoder(), chunks)
    assert records == [Data(1, "<tr>\n<td>1</td></tr>", "row"), Data(2, "x"), End(2)]
    assert records[1].event is None  # type: ignore[union-attr]


def test_sse_message_is_the_unnamed_event() -> None:
    assert decode_all(SSEDecoder(), [b"id: 1\nevent: message\ndata: x\n\n"]) == [Data(1, "x")]


def test_ndjson_named_data_records() -> None:
    body = NDJSON.event(1, "row", {"a": 1}) + NDJSON.data(2, "x")
    records = decode_all(NDJSONDecoder(), [body])
    assert records == [Data(1, {"a": 1}, "row"), Data(2, "x")]
    with pytest.raises(ProtocolError, match="name"):
        NDJSONDecoder().feed(b'{"event":"data","id":1,"name":3,"data":"x"}\n')


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


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"not json\n", id="not-json"),
        pytest.param(b"[1, 2]\n", id="not-object"),
        pytest.param(b'{"event": "data", "id": 0, "data": 1}\n', id="zero-id"),
        pytest.param(b'{"event": "end"}\n', id="end-without-count"),
    ],
)
def test_ndjson_protocol_errors(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        NDJSONDecoder().feed(line)


def test_ndjson_final_line_without_newline_still_counts() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"event":"end","count":0}') == []
    assert decoder.close() == [End(0)]
