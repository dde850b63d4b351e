"""Fast tier of streamer.config: every setting is declared once (name, variable, type, default,
bounds, doc line) and read from the environment or app.config through that declaration."""

from __future__ import annotations

from dataclasses import fields

import pytest

from streamer.config import Config, markdown, settings, spec_of
from streamer.errors import ConfigError
from streamer.service.settings import ServiceConfig


def test_lists_and_secret_masking() -> None:
    cfg = Config.from_env(
        {
            "STREAMER_API_KEYS": " k1, k2 ,,",
            "OPENAI_API_KEY": "sk-secret",
            "STREAMER_CORS_ORIGINS": "http://a.test",
        }
    )
    assert cfg.api_keys == ("k1", "k2")
    assert cfg.cors_origins == ("http://a.test",)
    assert "k1" not in repr(cfg)
    cfg = ServiceConfig.from_env({"STREAMER_API_KEYS": "k1", "OPENAI_API_KEY": "sk-secret"})
    assert "sk-secret" not in repr(cfg) and "k1" not in repr(cfg)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(
            {"STREAMER_REDIS_URL": "redis://a:1/0", "REDIS_URL": "redis://b:2/0"},
            "redis://a:1/0",
            id="streamer-name-first",
        ),
        pytest.param({"REDIS_URL": "redis://b:2/0"}, "redis://b:2/0", id="redis-url"),
        pytest.param({}, None, id="memory"),
    ],
)
def test_the_redis_url_settings(settings: dict[str, str], expected: str | None) -> None:
    assert Config.from_mapping(settings).redis_url == expected


@pytest.mark.parametrize("prefix", ["streams", "/streams/", "/a b", "/"])
def test_a_bad_streams_prefix_is_refused_naming_the_setting(prefix: str) -> None:
    with pytest.raises(ConfigError, match="STREAMER_STREAMS_PREFIX"):
        Config.from_mapping({"STREAMER_STREAMS_PREFIX": prefix})


def test_a_bad_streams_prefix_is_quoted_back_cut_at_40_characters() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping({"STREAMER_STREAMS_PREFIX": "/" + "p" * 199 + "/"})
    # 40 characters of it: the slash and 39 p's, then the cut
    assert str(caught.value).endswith("got '/" + "p" * 39 + "…'"), caught.value


def test_python_values_in_app_config() -> None:
    config = ServiceConfig.from_mapping(
        {
            "STREAMER_OPEN_DEMO": False,
            "STREAMER_API_KEYS": ["a", "b"],
            "STREAMER_HEARTBEAT_S": 2,
            "SECRET_KEY": object(),
        }
    )
    assert (config.open_demo, config.api_keys, config.heartbeat_s) == (False, ("a", "b"), 2.0)


@pytest.mark.parametrize("cls", [Config, ServiceConfig])
def test_every_field_is_a_setting_with_a_doc_line_and_a_unique_variable(cls: type[Config]) -> None:
    seen: set[str] = set()
    for f in fields(cls):
        spec = spec_of(f)
        assert spec.doc and "\n" not in spec.doc and "|" not in spec.doc, f.name
        assert not seen & set(spec.env), f.name
        seen |= set(spec.env)
        assert f"`{spec.env[0]}`" in markdown(cls)


def test_the_library_reads_none_of_the_services_settings() -> None:
    library = {f.name for f in fields(Config)}
    own = [f.name for f in fields(ServiceConfig) if f.name not in library]
    assert own and not library & set(own)
    assert {"chat_provider", "open_demo", "port", "testing"} <= set(own)


# Each setting with the class that declares it: the library's, then the demo service's own.
DECLARED = [(Config, *s) for s in settings(Config)] + [
    (ServiceConfig, *s)
    for s in settings(ServiceConfig)
    if s[0] not in {f.name for f in fields(Config)}
]
BOUNDED = [d for d in DECLARED if d[4].low is not None]


@pytest.mark.parametrize(
    ("cls", "name", "kind", "default", "spec"), DECLARED, ids=[d[1] for d in DECLARED]
)
def test_defaults_from_an_empty_environment_are_the_declared_ones(
    cls: type[Config], name: str, kind: str, default: object, spec: object
) -> None:
    if name in ("workers", "chat_provider"):
        pytest.skip("default depends on another setting (test_service_settings.py)")
    assert getattr(cls.from_env({}), name) == default == getattr(cls(), name)


@pytest.mark.parametrize(
    ("cls", "name", "kind", "default", "spec"), BOUNDED, ids=[d[1] for d in BOUNDED]
)
def test_bounds_are_enforced_from_the_declaration(
    cls: type[Config], name: str, kind: str, default: object, spec: object
) -> None:
    from streamer.config import Setting

    assert isinstance(spec, Setting) and spec.low is not None and spec.high is not None
    var = spec.env[0]
    low = int(spec.low) if kind == "int" else spec.low
    high = int(spec.high) if kind == "int" else spec.high
    assert getattr(cls.from_env({var: str(low)}), name) == low
    assert getattr(cls.from_env({var: str(high)}), name) == high
    with pytest.raises(ConfigError, match=var):
        cls.from_env({var: str(high * 2 + 1)})
    with pytest.raises(ConfigError, match=var):
        cls.from_env({var: "not-a-number"})


def test_the_first_of_two_variables_wins_and_checks_name_it() -> None:
    cfg = Config.from_env({"STREAMER_REDIS_URL": "redis://a", "REDIS_URL": "redis://b"})
    assert cfg.redis_url == "redis://a"
    with pytest.raises(ConfigError, match=r"^REDIS_URL must start"):
        Config.from_env({"REDIS_URL": "http://x"})
    with pytest.raises(ConfigError, match="STREAMER_STREAMS_PREFIX"):
        Config.from_env({"STREAMER_STREAMS_PREFIX": "/x/"})
    with pytest.raises(ConfigError, match="STREAMER_TOKEN_SECRET"):
        Config.from_env({"STREAMER_TOKEN_SECRET": "short"})


def test_secrets_are_masked_by_declaration() -> None:
    cfg = ServiceConfig.from_mapping(
        {"STREAMER_TOKEN_SECRET": "s" * 40, "STREAMER_API_KEYS": ["kk1"], "OPENAI_API_KEY": "sk-zz"}
    )
    shown = repr(cfg)
    assert "s" * 40 not in shown and "kk1" not in shown and "sk-zz" not in shown
