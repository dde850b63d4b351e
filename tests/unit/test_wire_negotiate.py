"""Fast tier of streamer.wire.negotiate: which format a request asks for (through views:
tests/unit/test_server_extension.py)."""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from streamer.errors import BadRequest
from streamer.wire.negotiate import choose_format, choose_request_format


@pytest.mark.parametrize(
    ("query", "accept", "fmt"),
    [
        pytest.param(None, None, "text", id="nothing-asked"),
        pytest.param("sse", "application/x-ndjson", "sse", id="query-wins"),
        pytest.param(None, "application/x-ndjson", "ndjson", id="accept"),
        pytest.param(None, "text/html, text/event-stream;q=0.9", "sse", id="first-served-type"),
        pytest.param(None, "Application/JSONL", "ndjson", id="case"),
        pytest.param(None, "text/html, */*", "text", id="none-served"),
    ],
)
def test_query_then_accept_then_text(query: str | None, accept: str | None, fmt: str) -> None:
    assert choose_format(query, accept) == fmt


def test_an_unknown_format_is_a_400_naming_the_parameter_with_the_value_cut() -> None:
    with pytest.raises(
        BadRequest, match=r"parameter 'format' must be one of text, ndjson, sse"
    ) as info:
        choose_format("x" * 100, None)
    assert info.value.type == "invalid_parameter" and "x" * 41 not in info.value.message


def test_a_request_is_read_without_werkzeug_lookups_that_raise() -> None:
    environ = EnvironBuilder(
        query_string="format=ndjson&format=sse", headers={"Accept": "text/event-stream"}
    ).get_environ()
    assert choose_request_format(Request(environ)) == "ndjson"
    environ = EnvironBuilder(headers={"Accept": "text/event-stream"}).get_environ()
    assert choose_request_format(Request(environ)) == "sse"
