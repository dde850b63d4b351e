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
