"""Fast tier of streamer.server.durable.jsonmode: one level of flattening, empty arrays,
invalid JSON."""

from __future__ import annotations

import json

import pytest

from streamer.errors import BadRequest
from streamer.server.durable.jsonmode import response, stored


@pytest.mark.parametrize(
    ("body", "values"),
    [
        pytest.param(b'{"a": 1}', [{"a": 1}], id="one"),
        pytest.param(b"[1, [2, 3]]", [1, [2, 3]], id="flattened-once"),
        pytest.param(b"[[[1]]]", [[[1]]], id="nested"),
        pytest.param('"é\u2028"'.encode(), ["é\u2028"], id="unicode"),
    ],
)
def test_values_round_trip(body: bytes, values: list[object]) -> None:
    assert json.loads(response([stored(body)])) == values


def test_an_empty_array_creates_but_does_not_append() -> None:
    assert stored(b"[]", creating=True) == b""
    with pytest.raises(BadRequest):
        stored(b"[]")


@pytest.mark.parametrize("body", [b"{", b"NaN", b"\xff", b""], ids=["cut", "nan", "bytes", "empty"])
def test_not_json_is_a_400(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        stored(body)
    assert caught.value.status == 400


def test_an_empty_range_is_an_empty_array() -> None:
    assert response([]) == b"[]"
