"""Fast tier of streamer.store.durable.forks: where a sub-offset fork cuts a message."""

from __future__ import annotations

import pytest

from streamer.store.durable import ZERO, CreateError, Message
from streamer.store.durable.forks import sub_offset_prefix


def test_bytes_and_json_values() -> None:
    assert sub_offset_prefix(Message(b"hello", ZERO), 2, False) == b"he"
    assert sub_offset_prefix(Message(b'{"a":1},[2],"x",', ZERO), 2, True) == b'{"a":1},[2],'


@pytest.mark.parametrize(
    ("message", "sub", "json_mode"),
    [
        pytest.param(None, 1, False, id="nothing-past-the-offset"),
        pytest.param(Message(b"ab", ZERO), 3, False, id="past-the-bytes"),
        pytest.param(Message(b"1,2,", ZERO), 3, True, id="past-the-values"),
    ],
)
def test_an_overshoot_is_refused(message: Message | None, sub: int, json_mode: bool) -> None:
    with pytest.raises(CreateError) as caught:
        sub_offset_prefix(message, sub, json_mode)
    assert caught.value.kind == "bad_sub_offset"
