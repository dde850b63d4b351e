"""Token usage of each answer, recorded on every exit path.

A :class:`UsageMeter` counts the tokens an answer streamed and keeps the provider's own
``usage`` when it comes (the openai provider always asks the upstream for ``include_usage``).
It is reported exactly once, with the answer's outcome (``complete``, ``error``,
``disconnect``, ``cancel``, ``timeout``, ``shutdown``, ``send_timeout``):

- with the provider's numbers when it sent them; they are never replaced by an estimate;
- otherwise (the answer ended early) with what it got: the completion tokens streamed so far,
  the prompt tokens unknown (``-``), and ``partial=1``.

Reported as an access-log line (``streamer.access``: ``usage route=... model=... key=...
outcome=... prompt_tokens=... completion_tokens=... partial=0|1``) and as the Prometheus
counters ``streamer_chat_tokens_total{model,key,outcome,kind}`` (kind: prompt, completion) and
``streamer_chat_answers_total{model,key,outcome,partial}``. ``key`` is the client key's id
(``key1``...) or ``-`` on an open service. Model names come from clients, so at most
:data:`MAX_MODELS` distinct ones get a label per process; the rest are counted as ``other``.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter

access_log = logging.getLogger("streamer.access")

MAX_MODELS = 100


class UsageCounters:
    """The token counters of one app (in its metrics registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.tokens = Counter(
            "streamer_chat_tokens",
            "Chat tokens of /v1 answers by model, client key, outcome and "
            "kind (prompt, completion); an answer that ended early counts "
            "the completion tokens it streamed.",
            ["model", "key", "outcome", "kind"],
            registry=registry,
        )
        self.answers = Counter(
            "streamer_chat_answers",
            "Chat answers of /v1 by model, client key, outcome and whether "
            "the usage is partial (no provider numbers).",
            ["model", "key", "outcome", "partial"],
            registry=registry,
        )
        self._models: set[str] = set()

    def _model_label(self, model: str) -> str:
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODELS:
            return "other"
        self._models.add(model)
        return model

    def record(
        self, model: str, key: str, outcome: str, prompt: int | None, completion: int, partial: bool
    ) -> None:
        label = self._model_label(model)
        if prompt:
            self.tokens.labels(label, key, outcome, "prompt").inc(prompt)
        if completion:
            self.tokens.labels(label, key, outcome, "completion").inc(completion)
        self.answers.labels(label, key, outcome, "1" if partial else "0").inc()


class UsageMeter:
    """The usage of one answer; :meth:`finish` reports it (once)."""

    __slots__ = ("_counters", "_finished", "_provider", "_streamed", "key", "model", "route")

    def __init__(
        self, counters: UsageCounters | None, route: str, model: str, key: str | None
    ) -> None:
        self._counters = counters
        self.route, self.model, self.key = route, model, key or "-"
        self._streamed = 0
        self._provider: dict[str, Any] | None = None
        self._finished = False

    def token(self) -> None:
        self._streamed += 1

    def provider_usage(self, usage: dict[str, Any] | None) -> None:
        self._provider = usage

    def usage(self) -> dict[str, Any]:
        """The provider's usage if it sent one, else the counted completion tokens."""
        if self._provider is not None:
            return self._provider
        return {
            "prompt_tokens": 0,
            "completion_tokens": self._streamed,
            "total_tokens": self._streamed,
        }

    def finish(self, outcome: str) -> None:
        if self._finished:
            return
        self._finished = True
        provider = self._provider
        partial = provider is None
        prompt = None if provider is None else _int(provider.get("prompt_tokens"))
        completion = (
            self._streamed if provider is None else _int(provider.get("completion_tokens")) or 0
        )
        access_log.info(
            "usage route=%s model=%s key=%s outcome=%s prompt_tokens=%s "
            "completion_tokens=%d partial=%d",
            self.route,
            self.model[:80],
            self.key,
            outcome,
            "-" if prompt is None else prompt,
            completion,
            partial,
        )
        if self._counters is not None:
            self._counters.record(self.model, self.key, outcome, prompt, completion, partial)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
