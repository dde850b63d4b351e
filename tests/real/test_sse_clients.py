"""Real tier: SSE as third-party clients read it, against gunicorn on loopback: httpx-sse,
and ``@microsoft/fetch-event-source`` under Node (tests/node, pinned by its lockfile,
installed by ``.ci/setup``).

httpx-sse hands its caller every block that has a field, and fetch-event-source every block
a blank line ends, fields or not (its ``getMessages``, 2.0.1), where a browser's
``EventSource`` drops a block without ``data``: what passes here passes in all three.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from ..conftest import Server

pytestmark = pytest.mark.real

NODE_DIR = Path(__file__).resolve().parents[1] / "node"

# Streams whose events must reach a client as sent: the retry hint on the first, and no
# empty event in front of it or between two (a heartbeat is not an event).
SSE_PATHS = [
    pytest.param("/stream/data?count=3&interval=0", id="ready"),
    # The first item after one heartbeat (0.5 s): the first write has no record.
    pytest.param("/_test/stream?count=3&idle_first=0.7", id="slow-first"),
    # A heartbeat between each two items.
    pytest.param("/_test/stream?count=3&interval=0.7", id="heartbeats-between"),
]


def read_events(url: str, headers: dict[str, str] | None = None) -> list[ServerSentEvent]:
    with (
        httpx.Client(timeout=10) as client,
        connect_sse(client, "GET", url, headers=headers or {}) as source,
    ):
        assert source.response.headers["content-type"] == "text/event-stream"
        return list(source.iter_sse())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", SSE_PATHS)
def test_httpx_sse_gets_no_spurious_empty_event(server: Server, path: str) -> None:
    events = read_events(server.url(f"{path}&format=sse"))
    assert [(e.event, e.id) for e in events] == [
        ("message", "1"),
        ("message", "2"),
        ("message", "3"),
        ("end", "4"),  # one past the last record: a resume from it is a 204
    ]
    assert all(e.data for e in events)
    assert events[0].retry == 3000


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    assert path, "node is missing: run .ci/setup"
    assert (NODE_DIR / "node_modules" / "@microsoft" / "fetch-event-source").is_dir(), (
        "the @microsoft/fetch-event-source npm package is missing: run .ci/setup "
        "(npm ci in tests/node)"
    )
    return path


def read_events_in_node(node: str, url: str) -> list[dict[str, Any]]:
    """What tests/node/fetch_event_source_client.mjs's ``onmessage`` saw, up to ``end``."""
    done = subprocess.run(
        [node, "fetch_event_source_client.mjs", url],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    events: list[dict[str, Any]] = json.loads(done.stdout)
    return events


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", SSE_PATHS)
def test_fetch_event_source_gets_no_spurious_empty_event(
    node: str, server: Server, path: str
) -> None:
    events = read_events_in_node(node, server.url(f"{path}&format=sse"))
    assert [(e["event"], e["id"]) for e in events] == [
        ("", "1"),  # the library leaves an unnamed event's type empty (EventSource: "message")
        ("", "2"),
        ("", "3"),
        ("end", "4"),
    ]
    assert all(e["data"] for e in events)
    assert [e["retry"] for e in events] == [3000, None, None, None]


@pytest.mark.timeout(30)
def test_an_sse_resume_at_the_end_is_204(server: Server) -> None:
    # What EventSource does after the end: reconnect with the last id it saw. The 204 stops it.
    with httpx.Client(timeout=10) as client:
        url = server.url("/stream/data?count=2&interval=0&resumable=1&format=sse")
        with connect_sse(client, "GET", url) as source:
            last = [e for e in source.iter_sse()][-1]
            sid = source.response.headers["X-Stream-Id"]
        assert last.event == "end"
        resume = client.get(
            server.url(f"/streams/{sid}"),
            headers={"Accept": "text/event-stream", "Last-Event-ID": last.id},
        )
    assert (resume.status_code, resume.content) == (204, b"")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("resumable", [0, 1], ids=["plain", "resumable"])
def test_named_events_arrive_with_their_names_as_they_are_made(
    server: Server, resumable: int
) -> None:
    # What htmx's sse-swap="row" listens for. The first event is in hand while the producer
    # is still running (its "done" not yet in the side channel): named events stream.
    tag = f"named-{resumable}"
    url = server.url(
        f"/_test/stream?count=3&interval=0.4&name=row&tag={tag}&resumable={resumable}&format=sse"
    )
    with (
        httpx.Client(timeout=10) as client,
        connect_sse(client, "GET", url) as source,
    ):
        events = source.iter_sse()
        first = next(events)
        side = client.get(server.url(f"/_test/events?tag={tag}")).json()
        assert [e["event"] for e in side] == ["start"]  # not "done": the producer runs on
        rest = list(events)
        sid = source.response.headers.get("X-Stream-Id")
    assert [(e.event, e.id, e.data) for e in [first, *rest]] == [
        ("row", "1", "item 1\n"),  # a str payload as it is: its LF is an empty data line
        ("row", "2", "item 2\n"),
        ("row", "3", "item 3\n"),
        ("end", "4", '{"count":3}'),
    ]
    if resumable:  # the names survive the store: a resume replays them
        with (
            httpx.Client(timeout=10) as client,
            connect_sse(
                client, "GET", server.url(f"/streams/{sid}"), headers={"Last-Event-ID": "1"}
            ) as source,
        ):
            replay = [(e.event, e.id) for e in source.iter_sse()]
        assert replay == [("row", "2"), ("row", "3"), ("end", "4")]


@pytest.mark.timeout(30)
def test_a_refused_event_name_is_a_json_500_before_the_first_byte(server: Server) -> None:
    response = httpx.get(server.url("/_test/stream?name=end&format=sse"), timeout=10)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "internal_error"
