"""Fast tier of streamer.server.durable.sse: a payload's line breaks cannot end an event."""

from __future__ import annotations

import json

from streamer.server.durable.sse import control, event


def test_every_line_gets_its_own_data_field() -> None:
    assert event("data", "a\r\n\r\nevent: x\rb\nc") == (
        b"event: data\ndata:a\ndata:\ndata:event: x\ndata:b\ndata:c\n\n"
    )
    assert event("data", " lead") == b"event: data\ndata: lead\n\n"


def test_control_fields() -> None:
    def fields(raw: bytes) -> dict[str, object]:
        head, data = raw.decode().strip().split("\n")
        assert head == "event: control"
        parsed: dict[str, object] = json.loads(data.removeprefix("data:"))
        return parsed

    assert fields(control("o", "7", up_to_date=True, closed=False)) == {
        "streamNextOffset": "o",
        "streamCursor": "7",
        "upToDate": True,
    }
    assert fields(control("o", "7", up_to_date=False, closed=True)) == {
        "streamNextOffset": "o",
        "streamClosed": True,
        "upToDate": True,
    }
