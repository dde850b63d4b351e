"""The demo service's settings: the library's :class:`~streamer.config.Config` and the
service's own (serving, chat, the demo's endpoints), declared the same way and read once.

The library never reads these: ``gunicorn.conf.py`` reads the serving ones, ``app.py`` the
rest, and passes plain values to what it builds (the chat provider, the auth hooks).

>>> ServiceConfig.from_env({"STREAMER_CHAT_MODEL": "m", "STREAMER_HEARTBEAT_S": "5"}).chat_model
'm'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..config import Config, setting
from ..errors import ConfigError


@dataclass(frozen=True, slots=True, repr=False)
class ServiceConfig(Config):
    # Serving (read by gunicorn.conf.py).
    host: str = setting("STREAMER_HOST", "0.0.0.0", "bind address (`127.0.0.1` for loopback only)")
    port: int = setting("PORT", 8000, "listen port", low=1, high=65535)
    # One worker by default: the in-memory stream store is per process. With REDIS_URL any
    # worker can serve a resume, so use every core (from_env).
    workers: int = setting(
        "WEB_CONCURRENCY",
        1,
        "gunicorn worker processes",
        low=1,
        high=64,
        default_doc="`1` (the core count when a Redis URL is set)",
    )
    worker_connections: int = setting(
        "STREAMER_WORKER_CONNECTIONS",
        10_000,
        "open connections per gevent worker",
        low=1,
        high=1_000_000,
    )
    graceful_timeout_s: float = setting(
        "STREAMER_GRACEFUL_TIMEOUT_S",
        30.0,
        "how long a stopping worker may finish its streams",
        low=0.0,
        high=3600.0,
    )
    # Chat.
    chat_provider: str = setting(
        "STREAMER_CHAT_PROVIDER",
        "echo",
        "chat provider",
        choices=("openai", "echo"),
        default_doc="`openai` with `OPENAI_API_KEY`, else `echo`",
    )
    chat_model: str = setting("STREAMER_CHAT_MODEL", "gpt-4o-mini", "default model")
    openai_api_key: str | None = setting(
        "OPENAI_API_KEY", None, "the OpenAI SDK's own variable: the upstream key", secret=True
    )
    openai_base_url: str | None = setting(
        "OPENAI_BASE_URL", None, "the OpenAI SDK's own variable: the upstream URL"
    )
    upstream_timeout_s: float = setting(
        "STREAMER_UPSTREAM_TIMEOUT_S",
        60.0,
        "the OpenAI client's timeout (connect, and silence between bytes)",
        low=0.1,
        high=3600.0,
    )
    upstream_retries: int = setting(
        "STREAMER_UPSTREAM_RETRIES",
        2,
        "the OpenAI client's retries before an answer starts",
        low=0,
        high=10,
    )
    echo_delay_s: float = setting(
        "STREAMER_ECHO_DELAY_S",
        0.03,
        "the echo provider's delay between tokens",
        low=0.0,
        high=10.0,
    )
    # The demo's own endpoints.
    open_demo: bool = setting(
        "STREAMER_OPEN_DEMO",
        True,
        "with keys set, `/`, `/api`, static files, `/stream/data`, `/stream/series` stay "
        "open (starting a resumable stream still needs a key); `false` protects them too",
    )
    testing: bool = setting(
        "STREAMER_TESTING",
        False,
        "mounts `/_test/*` endpoints for the test suite; never in production",
    )
    bench: bool = setting(
        "STREAMER_BENCH",
        False,
        "mounts the benchmark endpoint `GET /stream/bench` (bench/run.py); off in production",
    )

    @classmethod
    def _derive(cls, values: dict[str, Any], given: set[str]) -> None:
        # One worker by default (the in-memory store is per process); every core on Redis.
        if "workers" not in given and values.get("redis_url"):
            values["workers"] = os.cpu_count() or 1
        # The service speaks Durable Streams unless told not to (docs/durable-streams.md).
        if "durable" not in given:
            values["durable"] = True
        if "chat_provider" not in given and values.get("openai_api_key"):
            values["chat_provider"] = "openai"
        if values.get("chat_provider") == "openai" and not values.get("openai_api_key"):
            raise ConfigError("STREAMER_CHAT_PROVIDER=openai needs OPENAI_API_KEY to be set")
