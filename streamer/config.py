"""Configuration: read once from the environment into one immutable object.

``Config.from_env()`` (the service) validates every variable and raises :class:`ConfigError`
naming the variable on a bad value, so a misconfigured service stops at start-up instead of
failing a request later. Tests build a config with ``Config.from_env({...})`` or
``Config(...)`` directly; nothing is read from ``os.environ`` after start-up. A Flask app using the
extension sets the same names in ``app.config`` instead (:meth:`Config.from_mapping`).

>>> Config.from_env({"STREAMER_HEARTBEAT_S": "5"}).heartbeat_s
5.0
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from .echo import echo
from .errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Config:
    # Serving (also read by gunicorn.conf.py).
    host: str = "0.0.0.0"
    port: int = 8000
    workers: int = 1
    worker_connections: int = 10_000
    graceful_timeout_s: float = 30.0
    # Streams.
    heartbeat_s: float = 15.0
    max_streams: int = 10_000
    max_stream_s: float = 3600.0
    stream_ttl_s: float = 600.0
    retry_ms: int = 3000
    # Chat.
    chat_provider: str = "echo"
    chat_model: str = "gpt-4o-mini"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    upstream_timeout_s: float = 60.0
    upstream_retries: int = 2
    echo_delay_s: float = 0.03
    # Store, security.
    redis_url: str | None = None
    # Where the extension mounts GET/DELETE <prefix>/<id> (resume and cancel).
    streams_prefix: str = "/streams"
    # Resumable streams (streamer.store, streamer.resumable).
    lease_s: float = 10.0  # a producer that stops renewing for this long is declared lost
    resumable_max_streams: int = 1000  # in-memory store: streams kept per process
    resumable_max_records: int = 10_000  # records kept per stream (older ones are dropped)
    # In-memory store: bytes of records kept per process; beyond it finished streams are
    # evicted oldest first, then new records and new streams are refused (store_full).
    resumable_max_bytes: int = 256 << 20
    redis_timeout_s: float = 2.0  # connect and command timeout on top of blocking waits
    redis_max_connections: int = 1000  # per worker; a blocked reader holds one
    api_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    open_demo: bool = True  # /, static files, /stream/data, /stream/series need no key
    max_streams_per_key: int = 100  # concurrent streams per client key, per worker
    # A write to a client that has not progressed for this long drops the stream (0: never).
    send_timeout_s: float = 30.0
    # A request body must have arrived within this long of the request's start (streamer.body).
    body_timeout_s: float = 30.0
    # ... and at least this fast after the first 5 s, in bytes per second (0: no rate floor).
    body_min_rate: int = 500
    # Read tokens for EventSource (streamer.tokens): HMAC secret (unset: random per process),
    # and how long a token is accepted.
    token_secret: str | None = None
    token_ttl_s: float = 300.0
    # Test-only endpoints (never set in production).
    testing: bool = False
    # Benchmark endpoint ``GET /stream/bench`` (bench/run.py sets it; off in production).
    bench: bool = False

    def __repr__(self) -> str:
        # Secrets never reach a log line through a repr.
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("openai_api_key", "api_keys", "token_secret"):
            if shown[name]:
                shown[name] = "***"
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        get = _Reader(env)
        key = get.str_("OPENAI_API_KEY")
        redis_var = "STREAMER_REDIS_URL" if get.str_("STREAMER_REDIS_URL") else "REDIS_URL"
        redis_url = get.str_(redis_var)
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://",
                                                   "redis+cluster://", "rediss+cluster://")):
            raise ConfigError(f"{redis_var} must start with redis://, rediss://, unix:// or (a "
                              "Redis Cluster) redis+cluster:// or rediss+cluster://")
        prefix = get.str_("STREAMER_STREAMS_PREFIX") or "/streams"
        if not _PREFIX.fullmatch(prefix):
            raise ConfigError("STREAMER_STREAMS_PREFIX must be a path such as /streams "
                              f"(no trailing slash), got {prefix[:80]!r}")
        token_secret = get.str_("STREAMER_TOKEN_SECRET")
        if token_secret is not None and len(token_secret) < 32:
            raise ConfigError("STREAMER_TOKEN_SECRET must be at least 32 characters "
                              "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        provider = get.choice_("STREAMER_CHAT_PROVIDER", ("openai", "echo"),
                              "openai" if key else "echo")
        if provider == "openai" and not key:
            raise ConfigError("STREAMER_CHAT_PROVIDER=openai needs OPENAI_API_KEY to be set")
        return cls(
            host=get.str_("STREAMER_HOST") or "0.0.0.0",
            port=get.int_("PORT", 8000, 1, 65535),
            # One worker by default: the in-memory stream store is per process. With
            # REDIS_URL any worker can serve a resume, so use every core.
            workers=get.int_("WEB_CONCURRENCY", (os.cpu_count() or 1) if redis_url else 1,
                            1, 64),
            worker_connections=get.int_("STREAMER_WORKER_CONNECTIONS", 10_000, 1, 1_000_000),
            graceful_timeout_s=get.float_("STREAMER_GRACEFUL_TIMEOUT_S", 30.0, 0.0, 3600.0),
            heartbeat_s=get.float_("STREAMER_HEARTBEAT_S", 15.0, 0.01, 3600.0),
            max_streams=get.int_("STREAMER_MAX_STREAMS", 10_000, 1, 1_000_000),
            max_stream_s=get.float_("STREAMER_MAX_STREAM_S", 3600.0, 0.1, 7 * 86400.0),
            stream_ttl_s=get.float_("STREAMER_STREAM_TTL_S", 600.0, 1.0, 30 * 86400.0),
            retry_ms=get.int_("STREAMER_RETRY_MS", 3000, 0, 3_600_000),
            chat_provider=provider,
            chat_model=get.str_("STREAMER_CHAT_MODEL") or "gpt-4o-mini",
            openai_api_key=key,
            openai_base_url=get.str_("OPENAI_BASE_URL"),
            upstream_timeout_s=get.float_("STREAMER_UPSTREAM_TIMEOUT_S", 60.0, 0.1, 3600.0),
            upstream_retries=get.int_("STREAMER_UPSTREAM_RETRIES", 2, 0, 10),
            echo_delay_s=get.float_("STREAMER_ECHO_DELAY_S", 0.03, 0.0, 10.0),
            redis_url=redis_url,
            streams_prefix=prefix,
            lease_s=get.float_("STREAMER_LEASE_S", 10.0, 0.3, 3600.0),
            resumable_max_streams=get.int_("STREAMER_RESUMABLE_MAX_STREAMS", 1000, 1,
                                           1_000_000),
            resumable_max_records=get.int_("STREAMER_RESUMABLE_MAX_RECORDS", 10_000, 1,
                                           10_000_000),
            resumable_max_bytes=get.int_("STREAMER_RESUMABLE_MAX_BYTES", 256 << 20, 1 << 20,
                                         1 << 40),
            redis_timeout_s=get.float_("STREAMER_REDIS_TIMEOUT_S", 2.0, 0.1, 60.0),
            redis_max_connections=get.int_("STREAMER_REDIS_MAX_CONNECTIONS", 1000, 2,
                                           100_000),
            api_keys=get.list_("STREAMER_API_KEYS"),
            cors_origins=get.list_("STREAMER_CORS_ORIGINS"),
            open_demo=get.bool_("STREAMER_OPEN_DEMO", True),
            max_streams_per_key=get.int_("STREAMER_MAX_STREAMS_PER_KEY", 100, 1, 1_000_000),
            send_timeout_s=get.float_("STREAMER_SEND_TIMEOUT_S", 30.0, 0.0, 86400.0),
            body_timeout_s=get.float_("STREAMER_BODY_TIMEOUT_S", 30.0, 0.1, 3600.0),
            body_min_rate=get.int_("STREAMER_BODY_MIN_RATE", 500, 0, 1 << 30),
            token_secret=token_secret,
            token_ttl_s=get.float_("STREAMER_TOKEN_TTL_S", 300.0, 1.0, 86400.0),
            testing=get.bool_("STREAMER_TESTING", False),
            bench=get.bool_("STREAMER_BENCH", False),
        )


    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> Config:
        """A config from a Flask ``app.config`` (or any mapping) that uses the environment
        variables' names; values may be strings or Python values (``5``, ``True``,
        ``["a", "b"]``). Names it does not set take :class:`Config`'s defaults, not the
        environment's."""
        return cls.from_env({name: _as_text(value) for name, value in settings.items()
                             if isinstance(name, str) and value is not None})


_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)+")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return str(value)


class _Reader:
    """Typed, bounded reads of environment variables; errors name the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        return value.strip() if value is not None and value.strip() else None

    def str_(self, name: str) -> str | None:
        return self._raw(name)

    def _number(self, name: str, default: T, low: T, high: T, parse: Callable[[str], T],
                kind: str) -> T:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {kind}, got {echo(raw)}") from None
        if not (low <= value <= high):  # type: ignore[operator]
            raise ConfigError(f"{name} must be between {low} and {high}, got {echo(raw)}")
        return value

    def int_(self, name: str, default: int, low: int, high: int) -> int:
        return self._number(name, default, low, high, int, "a whole number")

    def float_(self, name: str, default: float, low: float, high: float) -> float:
        def parse(raw: str) -> float:
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(raw)
            return value

        return self._number(name, default, low, high, parse, "a number")

    def bool_(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {echo(raw)}")

    def choice_(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {echo(raw)}")
        return raw

    def list_(self, name: str) -> tuple[str, ...]:
        raw = self._raw(name)
        return tuple(p.strip() for p in raw.split(",") if p.strip()) if raw else ()
