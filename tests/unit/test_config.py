"""Fast tier: configuration from the environment."""

from __future__ import annotations

import pytest

from streamer.config import Config
from streamer.errors import ConfigError


def test_defaults_run_offline() -> None:
    cfg = Config.from_env({})
    assert cfg.chat_provider == "echo"
    assert cfg.redis_url is None and cfg.workers == 1
    assert cfg.port == 8000 and cfg.heartbeat_s == 15.0


def test_openai_is_the_default_provider_when_a_key_is_set() -> None:
    assert Config.from_env({"OPENAI_API_KEY": "sk-x"}).chat_provider == "openai"


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "eighty"),
    ("PORT", "70000"),
    ("STREAMER_HEARTBEAT_S", "nan"),
    ("STREAMER_HEARTBEAT_S", "-1"),
    ("WEB_CONCURRENCY", "0"),
    ("STREAMER_TESTING", "maybe"),
    ("STREAMER_CHAT_PROVIDER", "claude"),
])
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})


def test_openai_provider_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        Config.from_env({"STREAMER_CHAT_PROVIDER": "openai"})


def test_lists_and_secret_masking() -> None:
    cfg = Config.from_env({"STREAMER_API_KEYS": " k1, k2 ,,", "OPENAI_API_KEY": "sk-secret",
                           "STREAMER_CORS_ORIGINS": "http://a.test"})
    assert cfg.api_keys == ("k1", "k2")
    assert cfg.cors_origins == ("http://a.test",)
    assert "sk-secret" not in repr(cfg) and "k1" not in repr(cfg)


@pytest.mark.parametrize(("settings", "expected"), [
    pytest.param({"STREAMER_REDIS_URL": "redis://a:1/0", "REDIS_URL": "redis://b:2/0"},
                 "redis://a:1/0", id="streamer-name-first"),
    pytest.param({"REDIS_URL": "redis://b:2/0"}, "redis://b:2/0", id="redis-url"),
    pytest.param({}, None, id="memory"),
])
def test_the_redis_url_settings(settings: dict[str, str], expected: str | None) -> None:
    assert Config.from_mapping(settings).redis_url == expected


@pytest.mark.parametrize("prefix", ["streams", "/streams/", "/a b", "/"])
def test_a_bad_streams_prefix_is_refused_naming_the_setting(prefix: str) -> None:
    with pytest.raises(ConfigError, match="STREAMER_STREAMS_PREFIX"):
        Config.from_mapping({"STREAMER_STREAMS_PREFIX": prefix})


def test_python_values_in_app_config() -> None:
    config = Config.from_mapping({"STREAMER_OPEN_DEMO": False, "STREAMER_API_KEYS": ["a", "b"],
                                  "STREAMER_HEARTBEAT_S": 2, "SECRET_KEY": object()})
    assert (config.open_demo, config.api_keys, config.heartbeat_s) == (False, ("a", "b"), 2.0)
