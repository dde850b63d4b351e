"""Fast tier of streamer.store.durable.redis_lua: the scripts are whole (no placeholder left)
and agree with the offsets the Python side makes (their behaviour runs against a real
redis-server in tests/real/test_store_durable_redis.py)."""

from __future__ import annotations

import pytest

from streamer.store.durable import ZERO
from streamer.store.durable import redis_lua as lua


@pytest.mark.parametrize("name", ["CREATE", "APPEND", "READ", "DELETE"])
def test_scripts_are_filled_in(name: str) -> None:
    script: str = getattr(lua, name)
    assert "@" not in script and "%%" not in script
    assert f"local P = '{lua.PREFIX}'" in script and f"local OL = {lua.OFFSET_LEN}" in script


def test_the_offset_length_is_the_offsets() -> None:
    assert len(ZERO) == lua.OFFSET_LEN
    assert "{ds}" in lua.PREFIX  # one hash tag: a fork's script reaches its source's keys
