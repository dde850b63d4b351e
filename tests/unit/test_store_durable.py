"""Fast tier of streamer.store.durable (and its _base): offsets that sort as text, the
producer rules of PROTOCOL.md 5.2.1, a fork's expiry, and the backend the config picks."""

from __future__ import annotations

import pytest

from streamer.config import Config
from streamer.store.durable import ZERO, CreateSpec, Info, Producer, is_json, open_durable_store
from streamer.store.durable._base import (
    ProducerState,
    check_producer,
    fork_expiry,
    next_offset,
    normalize,
    same_config,
)
from streamer.store.durable.memory import MemoryDurableStore


def test_offsets_grow_and_sort_as_text() -> None:
    offsets = [ZERO]
    for size in (0, 1, 9, 90, 900, 9000):
        offsets.append(next_offset(offsets[-1], size))
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    assert all(len(o) == len(ZERO) for o in offsets)
    assert "-1" not in offsets and "now" not in offsets


def test_content_types_compare_without_parameters_or_case() -> None:
    assert normalize("Application/JSON; charset=utf-8") == "application/json"
    assert is_json("application/json;charset=utf-8") and not is_json("application/ndjson")


@pytest.mark.parametrize(
    ("state", "producer", "status"),
    [
        pytest.param(None, Producer("p", 0, 0), None, id="new-at-0"),
        pytest.param(None, Producer("p", 0, 3), "seq_gap", id="new-not-at-0"),
        pytest.param(ProducerState(2, 5), Producer("p", 1, 6), "stale_epoch", id="zombie"),
        pytest.param(ProducerState(2, 5), Producer("p", 3, 1), "bad_epoch_seq", id="epoch-at-1"),
        pytest.param(ProducerState(2, 5), Producer("p", 3, 0), None, id="new-epoch"),
        pytest.param(ProducerState(2, 5), Producer("p", 2, 5), "duplicate", id="retry"),
        pytest.param(ProducerState(2, 5), Producer("p", 2, 6), None, id="next"),
        pytest.param(ProducerState(2, 5), Producer("p", 2, 8), "seq_gap", id="gap"),
    ],
)
def test_producer_rules(
    state: ProducerState | None, producer: Producer, status: str | None
) -> None:
    refusal, new = check_producer(state, producer)
    assert (refusal.status if refusal else None) == status
    assert (new.epoch, new.last_seq) == (producer.epoch, producer.seq)
    if status == "seq_gap":
        assert refusal is not None and refusal.received == producer.seq
        assert refusal.expected == (0 if state is None else state.last_seq + 1)
    if status == "stale_epoch":
        assert refusal is not None and state is not None and refusal.epoch == state.epoch


def test_a_fork_inherits_its_sources_expiry_unless_it_asks_for_its_own() -> None:
    source = Info("text/plain", ZERO, ttl_s=60)
    assert fork_expiry(CreateSpec(None), source) == (60, None, None)
    assert fork_expiry(CreateSpec(None, expires_at="x", expires_ts=1.0), source) == (None, "x", 1.0)
    assert fork_expiry(CreateSpec(None, ttl_s=5), Info("text/plain", ZERO)) == (5, None, None)


def test_same_config_defaults_the_content_type() -> None:
    info = Info("application/octet-stream", ZERO)
    assert same_config(info, CreateSpec(None))
    assert not same_config(info, CreateSpec("text/plain"))
    assert not same_config(info, CreateSpec(None, closed=True))


def test_the_config_picks_memory_without_a_redis_url() -> None:
    assert isinstance(open_durable_store(Config()), MemoryDurableStore)
