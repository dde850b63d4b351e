"""Configuration: every setting declared once, read once into one immutable object.

Each field of :class:`Config` is declared with :func:`setting`: its environment variable(s),
its type (the field's annotation), its default, its bounds and one line of documentation.
Parsing and validation (:meth:`Config.from_env`, :meth:`Config.from_mapping`), the secret
masking of ``repr`` and the configuration page (:func:`markdown`) are all derived from that
one declaration. An application declares settings of its own the same way, in a subclass
(the demo service's :class:`streamer.service.settings.ServiceConfig`).

``Config.from_env()`` validates every variable and raises :class:`ConfigError`
naming the variable on a bad value, so a misconfigured service stops at start-up instead of
failing a request later. Tests build a config with ``Config.from_env({...})`` or
``Config(...)`` directly; nothing is read from ``os.environ`` after start-up. A Flask app using the
extension sets the same names in ``app.config`` instead (:meth:`Config.from_mapping`).

>>> Config.from_env({"STREAMER_HEARTBEAT_S": "5"}).heartbeat_s
5.0
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any, Self, TypeVar, cast

from .errors import ConfigError
from .quote import echo

T = TypeVar("T")

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_bool(raw: str) -> bool:
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case); else
    :class:`ValueError`. The one bool parser of settings and request parameters."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(raw)


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: where it is read from, what it may hold, what it means."""

    env: tuple[str, ...]  # variable names, the first one set wins
    doc: str  # one line for docs/configuration.md
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    check: Callable[[str], str | None] | None = None  # raw value -> why it is wrong, or None
    secret: bool = False  # masked in repr
    default_doc: str | None = None  # how the default reads in the docs, when not the value


def setting(
    env: str | tuple[str, ...],
    default: T,
    doc: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    check: Callable[[str], str | None] | None = None,
    secret: bool = False,
    default_doc: str | None = None,
) -> T:
    """A :class:`Config` field with its :class:`Setting` (typed as its default for mypy)."""
    names = (env,) if isinstance(env, str) else env
    spec = Setting(names, doc, low, high, choices, check, secret, default_doc)
    return field(default=default, metadata={"setting": spec})


def _redis_url(raw: str) -> str | None:
    if raw.startswith(
        (
            "redis://",
            "rediss://",
            "unix://",
            "redis+cluster://",
            "rediss+cluster://",
            "redis+sentinel://",
            "rediss+sentinel://",
        )
    ):
        return None
    return (
        "must start with redis://, rediss://, unix://, (a Redis Cluster) "
        "redis+cluster:// or rediss+cluster://, or (Redis Sentinel) redis+sentinel:// or "
        "rediss+sentinel://"
    )


_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)+")


def _prefix(raw: str) -> str | None:
    if _PREFIX.fullmatch(raw):
        return None
    return f"must be a path such as /streams (no trailing slash), got {echo(raw)}"


def _token_secret(raw: str) -> str | None:
    if len(raw) >= 32:
        return None
    return (
        "must be at least 32 characters "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )


def _network(raw: str) -> str | None:
    if raw == "unix":
        return None  # a peer without an address: gunicorn bound to a unix socket
    try:
        ipaddress.ip_network(raw, strict=False)
    except ValueError:
        return f"must list IP addresses, CIDR networks (10.0.0.0/8) or unix, got {echo(raw)}"
    return None


@dataclass(frozen=True, slots=True)
class Config:
    # Streams.
    heartbeat_s: float = setting(
        "STREAMER_HEARTBEAT_S",
        15.0,
        "silence before a `ping` (ndjson, sse); also how long the view waits for a "
        "producer's first item before committing to 200",
        low=0.01,
        high=3600.0,
    )
    max_streams: int = setting(
        "STREAMER_MAX_STREAMS",
        10_000,
        "open streams per worker, running resumable producers included",
        low=1,
        high=1_000_000,
    )
    max_stream_s: float = setting(
        "STREAMER_MAX_STREAM_S",
        3600.0,
        "longest stream; past it the stream ends with an `error` record of type `timeout` "
        "(checked by one sweep per worker, so up to 2 s late, never more than an eighth of "
        "this value)",
        low=0.1,
        high=7 * 86400.0,
    )
    stream_ttl_s: float = setting(
        "STREAMER_STREAM_TTL_S",
        600.0,
        "how long a finished resumable stream is kept (a running one: as long as its "
        "producer renews its lease, plus this)",
        low=1.0,
        high=30 * 86400.0,
    )
    retry_ms: int = setting(
        "STREAMER_RETRY_MS", 3000, "the SSE `retry:` hint", low=0, high=3_600_000
    )
    # Store, security.
    redis_url: str | None = setting(
        ("STREAMER_REDIS_URL", "REDIS_URL"),
        None,
        "stream store on Redis: `redis://`, `rediss://` or `unix://`; a Redis Cluster: "
        "`redis+cluster://host:port[,host:port...]` (`rediss+cluster://` for TLS); the "
        "primary that Redis Sentinels name: "
        "`redis+sentinel://[:password@]host:port[,host:port...]/<master name>[/<db>]"
        "[?sentinel_password=...]`, the hosts being the Sentinels, the password the "
        "primary's (`rediss+sentinel://` for TLS; docs/reliability.md, Redis failover)",
        check=_redis_url,
        default_doc="unset (in memory)",
    )
    streams_prefix: str = setting(
        "STREAMER_STREAMS_PREFIX",
        "/streams",
        "where the extension mounts `GET`/`DELETE <prefix>/<id>` (resume and cancel)",
        check=_prefix,
    )
    # Resumable streams (streamer.store, streamer.server.resumable).
    lease_s: float = setting(
        "STREAMER_LEASE_S",
        10.0,
        "a producer that has not renewed its lease for this long is declared lost; readers "
        "see `producer_lost` within about this long after its worker died",
        low=0.3,
        high=3600.0,
    )
    resumable_max_streams: int = setting(
        "STREAMER_RESUMABLE_MAX_STREAMS",
        1000,
        "in-memory store only: streams kept per process; when all are running, new "
        "resumable requests get `503` (`too_many_streams`)",
        low=1,
        high=1_000_000,
    )
    resumable_max_records: int = setting(
        "STREAMER_RESUMABLE_MAX_RECORDS",
        10_000,
        "records kept per stream; older ones are dropped (a resume that needs them gets "
        "`410`); the client that started a stream holds its producer back to this",
        low=1,
        high=10_000_000,
    )
    resumable_max_bytes: int = setting(
        "STREAMER_RESUMABLE_MAX_BYTES",
        256 << 20,
        "in-memory store only: bytes of records kept per process; finished streams are "
        "evicted oldest first, then new records and new streams are refused (`store_full`); "
        "Durable Streams have as much again, never evicted",
        low=1 << 20,
        high=1 << 40,
        default_doc="`268435456` (256 MiB)",
    )
    redis_timeout_s: float = setting(
        "STREAMER_REDIS_TIMEOUT_S",
        2.0,
        "Redis connect and command timeout (blocking reads wait at most 1 s more); also how "
        "long a request waits for a free pooled connection",
        low=0.1,
        high=60.0,
    )
    redis_max_connections: int = setting(
        "STREAMER_REDIS_MAX_CONNECTIONS",
        1000,
        "Redis connections per worker for blocking reads (one per stream being followed: "
        "its waiting readers share it); a quarter of this again for quick commands",
        low=2,
        high=100_000,
    )
    redis_wait_replicas: int = setting(
        "STREAMER_REDIS_WAIT_REPLICAS",
        0,
        "a producer's record counts as stored only once this many replicas have it (Redis "
        "`WAIT`, up to half `STREAMER_REDIS_TIMEOUT_S`; retried for a lease, then the producer "
        "stops); 0: once the primary has it. Not on a Redis Cluster (docs/reliability.md, "
        "Redis failover)",
        low=0,
        high=16,
    )
    api_keys: tuple[str, ...] = setting(
        "STREAMER_API_KEYS",
        (),
        "comma-separated client keys; when set, chat, `/streams/*` (and test/bench "
        "endpoints) need `Authorization: Bearer <key>`",
        secret=True,
        default_doc="unset (open, warned at start-up)",
    )
    cors_origins: tuple[str, ...] = setting(
        "STREAMER_CORS_ORIGINS",
        (),
        "comma-separated allowed browser origins (`https://app.example:8443`), or `*`",
        default_doc="unset (no CORS headers)",
    )
    max_streams_per_key: int = setting(
        "STREAMER_MAX_STREAMS_PER_KEY",
        100,
        "concurrent streams per client key, per worker, running resumable producers and "
        "Durable Streams long-polls and SSE reads included; beyond it `429` JSON with "
        "`Retry-After: 1`",
        low=1,
        high=1_000_000,
    )
    max_token_readers: int = setting(
        "STREAMER_MAX_TOKEN_READERS",
        20,
        "readers on read tokens (`?token=`; on a Durable Streams URL its long-polls and SSE "
        "reads) per stream (across workers and instances on Redis, else per worker): their own "
        "budget, not the key's; beyond it `429` JSON "
        "(`too_many_token_readers`) with `Retry-After: 1`",
        low=1,
        high=1_000_000,
    )
    max_streams_per_client: int = setting(
        "STREAMER_MAX_STREAMS_PER_CLIENT",
        64,
        "open streams per client address (an IPv6 client: its /64), running resumable producers "
        "it started and Durable Streams long-polls and SSE reads included, with or without keys; "
        "across every worker and instance on Redis, per worker in memory; beyond it `429` "
        "JSON (`too_many_streams_for_client`) with `Retry-After: 1`; `0` turns it off",
        low=0,
        high=1_000_000,
    )
    new_streams_per_client_s: int = setting(
        "STREAMER_NEW_STREAMS_PER_CLIENT_S",
        20,
        "new streams per second per client address, counted like the open ones; beyond it "
        "`429` JSON (`too_many_new_streams_for_client`) with `Retry-After`; `0` turns it off",
        low=0,
        high=1_000_000,
    )
    trusted_proxies: tuple[str, ...] = setting(
        "STREAMER_TRUSTED_PROXIES",
        (),
        "comma-separated IP addresses or CIDR networks of the proxies in front (the nginx "
        "of `deploy/`), and `unix` for a proxy on gunicorn's unix socket; only a request "
        "from one of them names its client in `STREAMER_CLIENT_ADDRESS_HEADER`",
        check=_network,
        default_doc="unset (the TCP peer is the client)",
    )
    client_address_header: str = setting(
        "STREAMER_CLIENT_ADDRESS_HEADER",
        "x-forwarded-for",
        "where a trusted proxy names the client: `x-forwarded-for` (what nginx's "
        "`$proxy_add_x_forwarded_for` writes) or `forwarded` (RFC 7239 `for=`); the other "
        "is ignored",
        choices=("x-forwarded-for", "forwarded"),
    )
    send_timeout_s: float = setting(
        "STREAMER_SEND_TIMEOUT_S",
        30.0,
        "a write to a client that has not progressed for this long drops the stream "
        "(outcome `send_timeout`); `0` turns it off",
        low=0.0,
        high=86400.0,
    )
    body_timeout_s: float = setting(
        "STREAMER_BODY_TIMEOUT_S",
        30.0,
        "a request body must have arrived within this long of its head; else `408` JSON "
        "(`body_timeout`)",
        low=0.1,
        high=3600.0,
    )
    body_min_rate: int = setting(
        "STREAMER_BODY_MIN_RATE",
        500,
        "bytes per second a body must keep up after its first 5 s (`0`: no floor); else the "
        "same `408`",
        low=0,
        high=1 << 30,
    )
    token_secret: str | None = setting(
        "STREAMER_TOKEN_SECRET",
        None,
        "HMAC secret (32+ characters) of the read tokens `EventSource` uses; every instance "
        "behind one balancer needs the same",
        check=_token_secret,
        secret=True,
        default_doc="random per process (warned)",
    )
    token_ttl_s: float = setting(
        "STREAMER_TOKEN_TTL_S", 300.0, "how long a read token is accepted", low=1.0, high=86400.0
    )
    # Durable Streams (streamer.server.durable, docs/durable-streams.md).
    durable: bool = setting(
        "STREAMER_DURABLE",
        False,
        "serve the Durable Streams protocol at `STREAMER_DURABLE_PREFIX/<path>` (on the same "
        "store: memory, or Redis with a Redis URL)",
        default_doc="`false` (`true` in the service)",
    )
    durable_prefix: str = setting(
        "STREAMER_DURABLE_PREFIX",
        "/v1/stream",
        "where the extension mounts the Durable Streams URLs",
        check=_prefix,
    )
    durable_long_poll_s: float = setting(
        "STREAMER_DURABLE_LONG_POLL_S",
        30.0,
        "how long a `live=long-poll` read waits for data before its `204`; also the interval "
        "of an idle SSE read's `control` event",
        low=0.01,
        high=3600.0,
    )
    durable_sse_max_s: float = setting(
        "STREAMER_DURABLE_SSE_MAX_S",
        60.0,
        "a `live=sse` read ends after about this long and the client reconnects from its "
        "offset (PROTOCOL.md 10.2: lets a CDN collapse readers)",
        low=0.1,
        high=86400.0,
    )
    durable_max_read_bytes: int = setting(
        "STREAMER_DURABLE_MAX_READ_BYTES",
        4 << 20,
        "bytes of messages in one catch-up response (one message at least); the rest comes "
        "with the next read, without `Stream-Up-To-Date`",
        low=1024,
        high=1 << 30,
        default_doc="`4194304` (4 MiB)",
    )

    def __repr__(self) -> str:
        # Secrets never reach a log line through a repr.
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        for spec_field in fields(self):
            if spec_of(spec_field).secret and shown[spec_field.name]:
                shown[spec_field.name] = "***"
        return type(self).__name__ + "(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def with_(self, **changes: Any) -> Self:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        given: set[str] = set()
        for f in fields(cls):
            spec = spec_of(f)
            name, raw = _first_set(env, spec.env)
            if raw is None:
                continue
            values[f.name] = _parse(f, spec, name, raw)
            given.add(f.name)
        cls._derive(values, given)
        return cls(**values)

    @classmethod
    def _derive(cls, values: dict[str, Any], given: set[str]) -> None:
        """Defaults that depend on another setting, and checks across settings: ``values``
        are the parsed settings that were set (``given`` their names). A subclass that
        declares more settings adds its own; the library has none."""

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> Self:
        """A config from a Flask ``app.config`` (or any mapping) that uses the environment
        variables' names; values may be strings or Python values (``5``, ``True``,
        ``["a", "b"]``). Names it does not set take :class:`Config`'s defaults, not the
        environment's."""
        return cls.from_env(
            {
                name: _as_text(value)
                for name, value in settings.items()
                if isinstance(name, str) and value is not None
            }
        )


def spec_of(f: Field[Any]) -> Setting:
    return cast(Setting, f.metadata["setting"])


def settings(cls: type[Config] = Config) -> list[tuple[str, str, Any, Setting]]:
    """Every setting of ``cls`` as (field name, type, default, declaration), in declaration
    order (a subclass's own after the library's)."""
    return [(f.name, str(f.type), f.default, spec_of(f)) for f in fields(cls)]


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str | None]:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip():
            return name, value.strip()
    return names[0], None


def _parse(f: Field[Any], spec: Setting, name: str, raw: str) -> Any:
    kind = str(f.type)
    value: Any
    if kind == "bool":
        try:
            return parse_bool(raw)
        except ValueError:
            raise ConfigError(f"{name} must be true or false, got {echo(raw)}") from None
    if kind == "tuple[str, ...]":
        items = tuple(p.strip() for p in raw.split(",") if p.strip())
        for item in items:
            if spec.check is not None and (why := spec.check(item)) is not None:
                raise ConfigError(f"{name} {why}")
        return items
    if kind in ("int", "float"):
        try:
            value = int(raw) if kind == "int" else float(raw)
        except ValueError:
            what = "a whole number" if kind == "int" else "a number"
            raise ConfigError(f"{name} must be {what}, got {echo(raw)}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{name} must be a number, got {echo(raw)}")
        low, high = spec.low, spec.high
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(
                f"{name} must be between {_num(low, kind)} and {_num(high, kind)}, got {echo(raw)}"
            )
        return value
    if spec.choices and raw not in spec.choices:
        raise ConfigError(f"{name} must be one of {', '.join(spec.choices)}, got {echo(raw)}")
    if spec.check is not None and (why := spec.check(raw)) is not None:
        raise ConfigError(f"{name} {why}")
    return raw


def _num(bound: float | None, kind: str) -> str:
    return str(int(bound)) if kind == "int" and bound is not None else str(bound)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return str(value)


def markdown(cls: type[Config] = Config, generated_by: str = "streamer.config.markdown()") -> str:
    """A configuration page (a Markdown table) of every setting of ``cls``, generated from
    their declarations; ``generated_by`` says how, in the page's opening comment."""
    lines = [
        "# Configuration",
        "",
        f"<!-- Generated by {generated_by}; do not edit by hand. -->",
        "",
        "Every setting is an environment variable of the service; a Flask app using the "
        "extension sets the same names in `app.config`. A bad value stops start-up with an "
        "error naming the variable. Booleans take `1`/`true`/`yes`/`on` or "
        "`0`/`false`/`no`/`off`; lists are comma-separated.",
        "",
        "| variable | type | default | bounds | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for _name, kind, default, spec in settings(cls):
        names = ", ".join(f"`{n}`" for n in spec.env)
        lines.append(
            f"| {names} | {_type_doc(kind)} | {_default_doc(default, spec)} | "
            f"{_bounds_doc(kind, spec)} | {spec.doc} |"
        )
    return "\n".join(lines) + "\n"


def _type_doc(kind: str) -> str:
    return {
        "int": "integer",
        "float": "number",
        "bool": "boolean",
        "str": "text",
        "str | None": "text",
        "tuple[str, ...]": "list",
    }[kind]


def _default_doc(default: Any, spec: Setting) -> str:
    if spec.default_doc is not None:
        return spec.default_doc
    if default is None or default == ():
        return "unset"
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def _bounds_doc(kind: str, spec: Setting) -> str:
    if spec.choices:
        return " or ".join(f"`{c}`" for c in spec.choices)
    if spec.low is None and spec.high is None:
        return ""
    return f"{_num_doc(spec.low, kind)} to {_num_doc(spec.high, kind)}"


def _num_doc(bound: float | None, kind: str) -> str:
    if bound is None:
        return "any"
    return f"{bound:g}" if kind == "float" else str(int(bound))
