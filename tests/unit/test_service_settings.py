"""Fast tier of streamer.service.settings: the demo service's own settings (serving, chat, its
endpoints) on top of the library's; every declared setting's default and bounds are checked
with the rest in tests/unit/test_config.py."""

from __future__ import annotations

import pytest

from streamer.errors import ConfigError
from streamer.service.settings import ServiceConfig


def test_defaults_run_offline() -> None:
    cfg = ServiceConfig.from_env({})
    assert cfg.chat_provider == "echo"
    assert cfg.redis_url is None and cfg.workers == 1
    assert cfg.port == 8000 and cfg.heartbeat_s == 15.0


def test_openai_is_the_default_provider_when_a_key_is_set() -> None:
    assert ServiceConfig.from_env({"OPENAI_API_KEY": "sk-x"}).chat_provider == "openai"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("STREAMER_HEARTBEAT_S", "nan"),
        ("STREAMER_HEARTBEAT_S", "-1"),
        ("WEB_CONCURRENCY", "0"),
        ("STREAMER_TESTING", "maybe"),
        ("STREAMER_CHAT_PROVIDER", "claude"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        ServiceConfig.from_env({name: value})


def test_openai_provider_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        ServiceConfig.from_env({"STREAMER_CHAT_PROVIDER": "openai"})


def test_dependent_defaults() -> None:
    assert ServiceConfig.from_env({"REDIS_URL": "redis://x"}).workers >= 1
    assert ServiceConfig.from_env({"WEB_CONCURRENCY": "3", "REDIS_URL": "redis://x"}).workers == 3
    assert ServiceConfig.from_env({"OPENAI_API_KEY": "sk-x"}).chat_provider == "openai"
    assert (
        ServiceConfig.from_env(
            {"OPENAI_API_KEY": "sk-x", "STREAMER_CHAT_PROVIDER": "echo"}
        ).chat_provider
        == "echo"
    )
