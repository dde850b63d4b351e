"""Fast tier of streamer.server.durable.headers: strict integers, RFC 3339, the producer's
three headers together."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from streamer.errors import DurableError
from streamer.server.durable import headers as h
from streamer.store.durable import Producer


@pytest.mark.parametrize("raw", ["+1", "01", "1.0", "1e3", "-1", "", "x"])
def test_a_ttl_is_a_plain_decimal(raw: str) -> None:
    with pytest.raises(DurableError) as caught:
        h.ttl(Headers({"Stream-TTL": raw}))
    assert caught.value.status == 400
    assert h.ttl(Headers({"Stream-TTL": "3600"})) == 3600
    assert h.ttl(Headers()) is None


def test_expires_at_needs_rfc_3339_with_a_zone() -> None:
    raw, ts = h.expires_at(Headers({"Stream-Expires-At": "2030-01-01T00:00:00Z"})) or ("", 0)
    assert raw == "2030-01-01T00:00:00Z" and ts == 1893456000.0
    for bad in ("tomorrow", "2030-01-01T00:00:00"):
        with pytest.raises(DurableError):
            h.expires_at(Headers({"Stream-Expires-At": bad}))


def test_stream_closed_counts_only_as_true() -> None:
    assert h.closed_flag(Headers({"Stream-Closed": "TRUE"}))
    assert not any(h.closed_flag(Headers({"Stream-Closed": v})) for v in ("1", "yes", ""))


def test_producer_headers() -> None:
    given = {"Producer-Id": "p", "Producer-Epoch": "1", "Producer-Seq": "2"}
    assert h.producer(Headers(given)) == Producer("p", 1, 2)
    assert h.producer(Headers()) is None
    for broken in (
        {"Producer-Id": "p"},
        {**given, "Producer-Id": ""},
        {**given, "Producer-Seq": "-1"},
        {**given, "Producer-Epoch": str(2**53)},
    ):
        with pytest.raises(DurableError):
            h.producer(Headers(broken))


def test_offsets_and_sub_offsets() -> None:
    assert h.offset("0_12", "offset") == "0_12"
    with pytest.raises(DurableError):
        h.offset("abc", "offset")
    with pytest.raises(DurableError):
        h.fork_sub(Headers({"Stream-Fork-Sub-Offset": "1"}), forked=False)
    assert h.fork_sub(Headers({"Stream-Fork-Sub-Offset": "3"}), forked=True) == 3
