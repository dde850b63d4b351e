"""Fast tier of streamer.service.openai_api.usage: the usage of an answer, counted and reported
once."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from streamer.service.openai_api import usage
from streamer.service.openai_api.usage import UsageCounters, UsageMeter


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_without_provider_numbers_the_streamed_tokens_are_the_usage() -> None:
    registry = CollectorRegistry()
    meter = UsageMeter(UsageCounters(registry), "/v1/chat/completions", "m", None)
    for _ in range(3):
        meter.token()
    assert meter.usage() == {"prompt_tokens": 0, "completion_tokens": 3, "total_tokens": 3}
    meter.finish("disconnect")
    meter.finish("complete")  # once
    labels = {"model": "m", "key": "-", "outcome": "disconnect"}
    assert sample(registry, "streamer_chat_tokens_total", kind="completion", **labels) == 3
    assert sample(registry, "streamer_chat_answers_total", partial="1", **labels) == 1
    assert (
        sample(
            registry,
            "streamer_chat_answers_total",
            model="m",
            key="-",
            outcome="complete",
            partial="1",
        )
        is None
    )


def test_provider_numbers_win_and_models_beyond_the_bound_are_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(usage, "MAX_MODELS", 1)
    registry = CollectorRegistry()
    counters = UsageCounters(registry)
    for model in ("a", "b"):
        meter = UsageMeter(counters, "/v1/chat/completions", model, "key1")
        meter.token()
        meter.provider_usage({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
        meter.finish("complete")
    for label in ("a", "other"):
        labels = {"model": label, "key": "key1", "outcome": "complete"}
        assert sample(registry, "streamer_chat_tokens_total", kind="prompt", **labels) == 5
        assert sample(registry, "streamer_chat_answers_total", partial="0", **labels) == 1
