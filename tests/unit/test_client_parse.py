"""Fast tier of streamer.client._parse: the client's I/O-free parsing layer, as properties over
any split of the body on the wire. split(), body() and expected() build bodies for the client's
other tests."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer import Data, End, IncompleteStream, StreamerError, StreamErrorRecord
from streamer.client import RecordParser, parse_records, parse_text, text_encoding
from streamer.errors import DecodeError, LineTooLong, ProtocolError
from streamer.wire.framing import LINE_BREAK, NDJSON, SSE

from ..hostile import ndjson_body


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (any order, duplicates allowed)."""
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def body(fmt: str, payloads: list[Any], pings: int = 0) -> bytes:
    encoder = NDJSON if fmt == "ndjson" else SSE
    out = [encoder.lead(3000)]
    for i, payload in enumerate(payloads, 1):
        out.append(encoder.data(i, payload))
        if i <= pings:
            out.append(encoder.ping())
    out.append(encoder.end(len(payloads)))
    return b"".join(out)


def expected(fmt: str, payloads: list[Any]) -> list[Data | End]:
    # SSE is text: line breaks inside a payload travel as separate data lines, joined by LF.
    norm = (lambda p: LINE_BREAK.sub("\n", p)) if fmt == "sse" else (lambda p: p)
    return [*(Data(i, norm(p)) for i, p in enumerate(payloads, 1)), End(len(payloads))]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


# Line and paragraph separators, NEL, CR, LF: the characters that break naive splitters.
tricky_text = st.text(
    st.sampled_from('a é€😀\u2028\u2029\u0085\r\n\t"\\:')
    | st.characters(exclude_categories=["Cs"]),
    max_size=30,
)


@pytest.mark.timeout(120)
@settings(deadline=None)
@given(
    payloads=st.lists(json_values | tricky_text, max_size=8),
    pings=st.integers(0, 8),
    data=st.data(),
)
def test_ndjson_any_split_yields_the_same_records(
    payloads: list[Any], pings: int, data: st.DataObject
) -> None:
    raw = body("ndjson", payloads, pings)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert list(parse_records(split(raw, cuts), "ndjson")) == expected("ndjson", payloads)


@pytest.mark.timeout(120)
@settings(deadline=None)
@given(payloads=st.lists(tricky_text, max_size=8), pings=st.integers(0, 8), data=st.data())
def test_sse_any_split_yields_the_same_records(
    payloads: list[str], pings: int, data: st.DataObject
) -> None:
    raw = body("sse", payloads, pings)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert list(parse_records(split(raw, cuts), "sse")) == expected("sse", payloads)


MULTIBYTE = "aé€😀\u2028z"  # 1, 2, 3, 4 and 3-byte characters


@pytest.mark.timeout(30)
def test_multibyte_characters_at_every_split_point() -> None:
    text = MULTIBYTE * 3
    raw = text.encode()
    for fmt in ("ndjson", "sse"):
        rec = body(fmt, [text])
        for i in range(len(rec) + 1):
            assert list(parse_records([rec[:i], rec[i:]], fmt)) == [Data(1, text), End(1)], i
    for i in range(len(raw) + 1):
        assert "".join(parse_text([raw[:i], raw[i:]])) == text, i
        for j in range(i, len(raw) + 1):
            assert "".join(parse_text([raw[:i], raw[i:j], raw[j:]])) == text, (i, j)
    # One byte at a time: no character may come out before its last byte.
    pieces = list(parse_text(bytes([b]) for b in raw))
    assert "".join(pieces) == text and all(p in text for p in pieces)


@pytest.mark.timeout(60)
@settings(deadline=None)
@given(
    text=st.text(min_size=1, max_size=20),
    bad=st.sampled_from(
        [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"]
    ),
    data=st.data(),
)
def test_invalid_utf8_is_reported_not_crashed_on(
    text: str, bad: bytes, data: st.DataObject
) -> None:
    for fmt in ("ndjson", "sse"):
        raw = body(fmt, [text])
        at = data.draw(st.integers(0, len(raw)))
        broken = raw[:at] + bad + raw[at:]
        cuts = data.draw(st.lists(st.integers(0, len(broken)), max_size=5))
        # Bytes that cannot decode: a DecodeError, never a crash; they can also land where
        # they break the framing first (a ProtocolError) or truncate the end (incomplete).
        with pytest.raises((DecodeError, ProtocolError, IncompleteStream)):
            list(parse_records(split(broken, cuts), fmt))
    raw = text.encode()
    at = data.draw(st.integers(0, len(raw)))
    with pytest.raises(DecodeError, match="invalid utf-8 at byte"):
        list(parse_text(split(raw[:at] + bad + raw[at:], [at])))


@pytest.mark.timeout(60)
@settings(deadline=None)
@given(garbage=st.binary(max_size=200), fmt=st.sampled_from(["ndjson", "sse"]))
def test_arbitrary_bytes_raise_only_streamer_errors(garbage: bytes, fmt: str) -> None:
    try:
        list(parse_records([garbage], fmt))
    except StreamerError:
        pass


@pytest.mark.timeout(60)
@settings(deadline=None)
@given(length=st.integers(0, 120), fmt=st.sampled_from(["ndjson", "sse"]), data=st.data())
def test_line_limit_does_not_depend_on_the_split(
    length: int, fmt: str, data: st.DataObject
) -> None:
    raw = body(fmt, ["x" * length])
    longest = max(len(line) for line in LINE_BREAK.split(raw.decode()))
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=6))
    if longest > 100:
        with pytest.raises(LineTooLong):
            list(parse_records(split(raw, cuts), fmt, max_line=100))
    else:
        assert list(parse_records(split(raw, cuts), fmt, max_line=100)) == expected(
            fmt, ["x" * length]
        )


@pytest.mark.timeout(10)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_in_band_error_raises_after_the_records_before_it(fmt: str) -> None:
    encoder = NDJSON if fmt == "ndjson" else SSE
    raw = encoder.data(1, "a") + encoder.data(2, "b") + encoder.error("upstream_timeout", "slow")
    got: list[Any] = []
    with pytest.raises(StreamErrorRecord) as info:
        got.extend(parse_records([raw], fmt))
    assert got == [Data(1, "a"), Data(2, "b")]
    err = info.value
    assert (err.type, err.message, err.received, err.last_id) == ("upstream_timeout", "slow", 2, 2)
    assert "after 2 record(s)" in str(err) and isinstance(err, StreamerError)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_a_body_without_end_is_incomplete_and_says_how_many(fmt: str) -> None:
    encoder = NDJSON if fmt == "ndjson" else SSE
    raw = body(fmt, ["a", "b", "c"])[: -len(encoder.end(3))]  # no end record
    got: list[Any] = []
    with pytest.raises(IncompleteStream, match=r"after 3 record\(s\) \(last id 3\)") as info:
        got.extend(parse_records([raw], fmt))
    assert len(got) == 3 and info.value.received == 3 and isinstance(info.value, ConnectionError)


@pytest.mark.timeout(10)
def test_records_are_never_delivered_twice_across_bodies() -> None:
    parser = RecordParser("ndjson")
    first = list(parser.parse([b"".join(ndjson_body(3))]))
    parser.resuming()
    # A server that ignores Last-Event-ID replays from the start.
    second = list(parser.parse([b"".join(ndjson_body(5)) + NDJSON.end(5)]))
    assert [r.id for r in first] == [1, 2, 3]
    assert second == [Data(4, "item 4\n"), Data(5, "item 5\n"), End(5)]
    gap = RecordParser("ndjson")
    list(gap.parse(ndjson_body(2)))
    gap.resuming()
    with pytest.raises(IncompleteStream, match=r"records 3\.\.4 were lost"):
        list(gap.parse(ndjson_body(6, first=5)))


@pytest.mark.parametrize(
    ("header", "encoding"),
    [
        pytest.param("text/plain; charset=utf-8", "utf-8", id="utf8"),
        pytest.param('text/plain; Charset="ISO-8859-1"', "iso8859-1", id="latin1-quoted"),
        pytest.param("text/plain", "utf-8", id="text-without-charset-is-not-latin1"),
        pytest.param(None, "utf-8", id="none"),
    ],
)
def test_text_encoding_honours_charset(header: str | None, encoding: str) -> None:
    assert text_encoding(header) == encoding


def test_unknown_charset_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="unknown charset"):
        text_encoding("text/plain; charset=klingon")
