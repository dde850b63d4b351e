"""Fast tier of streamer.service.jsonbody: hostile JSON request bodies (issue 18 row 7)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from streamer.errors import BadRequest
from streamer.service.jsonbody import MAX_DEPTH, parse_json_body


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, None, id="at-the-bound"),
        pytest.param(b'{"a": "' + b"[" * 5000 + b'"}', {"a": "[" * 5000}, id="brackets-in-string"),
        pytest.param(b'{"a": "x\\"[[", "b": [1]}', {"a": 'x"[[', "b": [1]}, id="escaped-quote"),
        pytest.param(b'{"n": ' + b"9" * 100 + b"}", {"n": int("9" * 100)}, id="100-digits"),
        pytest.param(b'{"f": 1e400}', {"f": float("inf")}, id="huge-float-left-to-fields"),
    ],
)
def test_parse_json_body_accepts(raw: bytes, value: Any) -> None:
    parsed = parse_json_body(raw)
    if value is not None:
        assert parsed == value


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        pytest.param(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "deeper", id="one-past"),
        pytest.param(b'{"a": [' * 70 + b"1" + b"]}" * 70, "deeper", id="mixed"),
        pytest.param(b"[" + b"1" * 101 + b"]", "number longer", id="101-digits"),
        pytest.param(b"[0." + b"1" * 100 + b"]", "number longer", id="long-fraction"),
        pytest.param(b"[-Infinity]", "-Infinity is not a JSON value", id="infinity"),
        pytest.param(b"\xff{}", "not valid UTF-8", id="not-utf8"),
        pytest.param(b'{"a": ', "not valid JSON: Expecting value at position 6", id="truncated"),
    ],
)
def test_parse_json_body_refuses(raw: bytes, says: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_json_body(raw)
    assert info.value.status == 400 and info.value.type == "invalid_json"
    assert says in info.value.message


@pytest.mark.timeout(10)
def test_parse_json_body_is_linear_on_unterminated_strings() -> None:
    # A string-skipping pattern that may backtrack, or restart at every quote, is quadratic
    # here (minutes); this must take milliseconds.
    start = time.monotonic()
    with pytest.raises(BadRequest):
        parse_json_body(b'"' + b'\\"[' * 300_000)
    with pytest.raises(BadRequest):
        parse_json_body(b"[" * 200 + b'"' + b"x" * 500_000)
    assert time.monotonic() - start < 3
