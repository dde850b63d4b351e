"""Fast tier of streamer.wire.records: the four records of the wire contract."""

from __future__ import annotations

import dataclasses

import pytest

from streamer.wire.records import Data, End, Error, Ping


def test_records_are_values() -> None:
    assert Data(1, {"a": [1]}) == Data(1, {"a": [1]}) and Data(1, "a") != Data(2, "a")
    assert Ping() == Ping() and End(2) == End(2, {})
    assert Error("timeout", "slow") != Error("timeout", "other")


def test_records_are_frozen_and_ends_do_not_share_their_extras() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Data(1, "a").id = 2  # type: ignore[misc]
    first, second = End(1), End(1)
    first.extra["usage"] = 1
    assert second.extra == {}


def test_an_event_names_a_data_record() -> None:
    from streamer.wire.records import Event

    assert Event("<tr></tr>", "row") == Event("<tr></tr>", "row")
    assert Data(1, "x") == Data(1, "x", None) != Data(1, "x", "row")
    assert repr(Data(1, "x")) == "Data(id=1, data='x')"
    assert repr(Data(1, "x", "row")) == "Data(id=1, data='x', event='row')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Event("x", "row").event = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("end", "reserved"),
        ("error", "reserved"),
        ("", "empty"),
        ("a\nb", "CR or LF"),
        ("a\rb", "CR or LF"),
        ("a\r\n", "CR or LF"),
    ],
)
def test_event_names_that_would_break_the_stream_are_refused(name: str, why: str) -> None:
    from streamer.wire.records import Event

    with pytest.raises(ValueError, match=why) as caught:
        Event("x", name)
    assert repr(name) in str(caught.value)


def test_an_event_name_is_a_string() -> None:
    from streamer.wire.records import Event

    with pytest.raises(TypeError, match="int"):
        Event("x", 3)  # type: ignore[arg-type]
