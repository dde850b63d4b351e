"""Fast tier of streamer.params: request parameters, parsed with the settings' own parsers."""

from __future__ import annotations

import pytest

from streamer.config import Config, parse_bool
from streamer.errors import BadRequest, ConfigError
from streamer.params import bool_param


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
