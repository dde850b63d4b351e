"""Fast tier: every setting is declared once (streamer.config) and the docs follow from it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from streamer.config import Config, markdown, parse_bool, settings, spec_of
from streamer.errors import BadRequest, ConfigError
from streamer.params import bool_param

ROOT = Path(__file__).resolve().parents[2]


def test_docs_configuration_md_is_generated_from_the_declaration() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == markdown(), ("docs/configuration.md is stale: run "
                               "`python -m streamer.configdoc > docs/configuration.md`")


def test_the_generator_writes_what_the_test_compares() -> None:
    out = subprocess.run([sys.executable, "-W", "error", "-m", "streamer.configdoc"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == markdown()


def test_every_field_is_a_setting_with_a_doc_line_and_a_unique_variable() -> None:
    seen: set[str] = set()
    for f in fields(Config):
        spec = spec_of(f)
        assert spec.doc and "\n" not in spec.doc and "|" not in spec.doc, f.name
        assert not seen & set(spec.env), f.name
        seen |= set(spec.env)
        assert f"`{spec.env[0]}`" in markdown()


@pytest.mark.parametrize(("name", "kind", "default", "spec"), settings(),
                         ids=[s[0] for s in settings()])
def test_defaults_from_an_empty_environment_are_the_declared_ones(
        name: str, kind: str, default: object, spec: object) -> None:
    if name in ("workers", "chat_provider"):
        pytest.skip("default depends on another setting (tested below)")
    assert getattr(Config.from_env({}), name) == default == getattr(Config(), name)


@pytest.mark.parametrize(("name", "kind", "default", "spec"),
                         [s for s in settings() if s[3].low is not None],
                         ids=[s[0] for s in settings() if s[3].low is not None])
def test_bounds_are_enforced_from_the_declaration(name: str, kind: str, default: object,
                                                  spec: object) -> None:
    from streamer.config import Setting
    assert isinstance(spec, Setting) and spec.low is not None and spec.high is not None
    var = spec.env[0]
    low = int(spec.low) if kind == "int" else spec.low
    high = int(spec.high) if kind == "int" else spec.high
    assert getattr(Config.from_env({var: str(low)}), name) == low
    assert getattr(Config.from_env({var: str(high)}), name) == high
    with pytest.raises(ConfigError, match=var):
        Config.from_env({var: str(high * 2 + 1)})
    with pytest.raises(ConfigError, match=var):
        Config.from_env({var: "not-a-number"})


def test_dependent_defaults() -> None:
    assert Config.from_env({"REDIS_URL": "redis://x"}).workers >= 1
    assert Config.from_env({"WEB_CONCURRENCY": "3", "REDIS_URL": "redis://x"}).workers == 3
    assert Config.from_env({"OPENAI_API_KEY": "sk-x"}).chat_provider == "openai"
    assert Config.from_env({"OPENAI_API_KEY": "sk-x",
                            "STREAMER_CHAT_PROVIDER": "echo"}).chat_provider == "echo"


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
    cfg = Config.from_mapping({"STREAMER_TOKEN_SECRET": "s" * 40, "STREAMER_API_KEYS": ["kk1"],
                               "OPENAI_API_KEY": "sk-zz"})
    shown = repr(cfg)
    assert "s" * 40 not in shown and "kk1" not in shown and "sk-zz" not in shown


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("TRUE", True), ("yes", True),
                                            ("On", True), ("0", False), ("false", False),
                                            ("NO", False), ("off", False)])
def test_one_bool_parser_for_settings_and_parameters(raw: str, value: bool) -> None:
    assert parse_bool(raw) is value
    assert Config.from_env({"STREAMER_TESTING": raw}).testing is value
    assert bool_param({"x": raw}, "x") is value


def test_a_bad_bool_is_named_in_both_places() -> None:
    with pytest.raises(ConfigError, match="STREAMER_OPEN_DEMO must be true or false"):
        Config.from_env({"STREAMER_OPEN_DEMO": "maybe"})
    with pytest.raises(BadRequest, match="'resumable' must be true or false"):
        bool_param({"resumable": "maybe"}, "resumable")
