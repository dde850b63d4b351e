"""Fast tier of streamer.service.params: request parameters, parsed with the settings' own
parsers."""

from __future__ import annotations

import pytest

from streamer.config import parse_bool
from streamer.errors import BadRequest, ConfigError
from streamer.service.params import bool_param
from streamer.service.settings import ServiceConfig


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("TRUE", True),
        ("yes", True),
        ("On", True),
        ("0", False),
        ("false", False),
        ("NO", False),
        ("off", False),
    ],
)
def test_one_bool_parser_for_settings_and_parameters(raw: str, value: bool) -> None:
    assert parse_bool(raw) is value
    assert ServiceConfig.from_env({"STREAMER_TESTING": raw}).testing is value
    assert bool_param({"x": raw}, "x") is value


def test_a_bad_bool_is_named_in_both_places() -> None:
    with pytest.raises(ConfigError, match="STREAMER_OPEN_DEMO must be true or false"):
        ServiceConfig.from_env({"STREAMER_OPEN_DEMO": "maybe"})
    with pytest.raises(BadRequest, match="'resumable' must be true or false"):
        bool_param({"resumable": "maybe"}, "resumable")
