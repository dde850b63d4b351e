"""Fast tier of streamer.service.testing: the scripted producer behind /_test/stream, and its side
channel /_test/events (the real tier reads them over HTTP)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from streamer.errors import UpstreamError
from streamer.service.testing import scripted


def script(**changes: object) -> dict[str, object]:
    args: dict[str, object] = dict(
        tag="t",
        count=2,
        interval=0.0,
        fail_before=False,
        fail_after=0,
        idle_first=0.0,
        idle_after=0.0,
        error="runtime",
    )
    return {**args, **changes}


def test_items_then_a_failure_where_asked_with_the_kind_asked() -> None:
    assert list(scripted(**script())) == ["item 1\n", "item 2\n"]  # type: ignore[arg-type]
    failing = scripted(**script(fail_after=1, error="upstream"))  # type: ignore[arg-type]
    assert next(failing) == "item 1\n"
    with pytest.raises(UpstreamError):
        next(failing)


def test_events_show_when_a_tagged_producer_started_and_ran_its_finally(
    client: FlaskClient,
) -> None:
    client.get("/_test/stream?tag=events-1&count=1&fail_before=1")
    events = client.get("/_test/events?tag=events-1").get_json()
    assert [e["event"] for e in events] == ["start", "finally"]
