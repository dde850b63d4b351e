"""Redis fails over under load: a primary with two replicas and three Sentinels
(tests/redis_sentinel_fixture.py), the service under gunicorn with two gevent workers on
``redis+sentinel://``, 24 resumable streams with two readers each, and the primary SIGKILLed
in the middle of them. Three scenarios: the replicas in step (the usual case on a fast
link); the replicas 0.5 s behind (cut off from the primary just before it dies), so that
what it acknowledged in that time is lost with it; and the same with
``STREAMER_REDIS_WAIT_REPLICAS=1``.

What must hold, and what is measured (``pytest -s`` prints the figures; they are also written
to tests/artifacts/failover.json):

- a reader never sees a record twice, out of order, or changed; a record it saw before the
  failover is there on every resume after it, or its stream ends with ``store_lost``;
- each stream ends in-band: ``end`` with every record, or ``store_lost`` (the new primary
  lacks records the old one had acknowledged), never a silent gap, a ``producer_lost`` or a
  stream that just stops; with the replicas behind, every stream ends ``store_lost``
  without WAIT and ``end`` with it;
- a reader that met the outage was told in-band (``store_unavailable``, naming the store) or
  cut, and its resumes through the outage were answered (503 until a primary is back);
- new resumable streams work again within a few seconds of the kill;
- ``/readyz`` is never 200 while no primary answers (between the kill and the promotion),
  was 503 during it, and is 200 again after.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import requests

from streamer.wire.records import Data, End, Error, Record

from ..conftest import ROOT, Server
from ..redis_fixture import RedisServer, redis_server
from ..redis_sentinel_fixture import RedisSentinel, fresh_sentinel
from ..stream_load import Result, fetch

__all__ = ["fresh_sentinel", "redis_server"]  # fixtures, imported for pytest

pytestmark = pytest.mark.real

STREAMS = 24  # resumable streams running when the primary dies
COUNT, INTERVAL = 120, 0.05  # each: 6 s of records, 20 a second
KILL_AFTER_S = 1.5
RESUME = ("store_unavailable", "shutdown")  # errors that end a connection, not a stream
ARTIFACTS = ROOT / "tests" / "artifacts"


@dataclass
class Reader:
    """One reader of one stream, reconnecting with ``Last-Event-ID`` like ``EventSource``,
    and also after a 503, as streamer's client does (``EventSource`` would give up:
    docs/reliability.md); it keeps everything it saw, in order, for the checks."""

    base: str
    stream_id: str = ""
    records: list[Record] = field(default_factory=list)
    answers: list[int | str] = field(default_factory=list)  # each connection's status or fault
    in_band: list[str] = field(default_factory=list)  # RESUME errors met
    cut_at: float | None = None  # first connection ended without a terminal record
    terminal: Record | None = None

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.records if isinstance(r, Data)]

    def take(self, result: Result) -> bool:
        """Keep what one connection brought; True once the stream has ended."""
        self.answers.append(result.status or (result.error or "no answer")[:40])
        for record in result.records:
            if isinstance(record, Error) and record.type in RESUME:
                self.in_band.append(record.type)
                break
            if isinstance(record, End | Error):
                self.terminal = record
                return True
            self.records.append(record)
        if self.cut_at is None:
            self.cut_at = time.monotonic()
        return False

    async def run(self, first: Result | None, deadline: float) -> None:
        result = first
        while time.monotonic() < deadline:
            if result is not None:
                if self.take(result):
                    return
                if result.status != 200:
                    await asyncio.sleep(0.2)  # 503: no primary yet (anything else fails)
            last = self.ids[-1] if self.ids else 0
            result = await fetch(
                f"{self.base}/streams/{self.stream_id}?format=ndjson",
                headers={"Last-Event-ID": str(last)},
                timeout_s=max(1.0, deadline - time.monotonic()),
            )


def payloads(n: int) -> list[Data]:
    return [Data(i, f"data chunk {i}\n") for i in range(1, n + 1)]


def cut_off_the_replicas(sentinel: RedisSentinel) -> None:
    """The replicas stop receiving the primary's writes (and cannot re-sync: a wrong
    ``masterauth``), as when a network partition or a slow link puts them behind: what the
    primary acknowledges from now on exists nowhere else."""
    for port in sentinel.replica_ports:
        with redis.Redis(port=port, socket_timeout=1) as replica:
            replica.config_set("masterauth", "not-the-password")
    with redis.Redis(port=sentinel.primary_port, socket_timeout=1) as primary:
        assert primary.client_kill_filter(_type="replica") == len(sentinel.replica_ports)


def reconnect_the_replicas(sentinel: RedisSentinel) -> None:
    for port in sentinel.replica_ports:
        with redis.Redis(port=port, socket_timeout=1) as replica:
            replica.config_set("masterauth", "")


def records_in(port: int, stream_ids: list[str]) -> dict[str, int]:
    with redis.Redis(port=port, socket_timeout=1) as client:
        return {
            sid: int(client.hget(f"streamer:{{{sid}}}:meta", "last") or 0) for sid in stream_ids
        }


SCENARIOS: dict[str, dict[str, Any]] = {
    # The replicas are in step when the primary dies (the usual case on a fast link).
    "in-step": {},
    # The replicas are 0.5 s behind: the primary's acknowledged records of that time are lost
    # with it. Nothing can bring them back; every stream must end store_lost, none silently.
    "replica-behind": {"cut": True},
    # The same, with WAIT: a record counts as stored once a replica has it, so the producer
    # writes the unconfirmed ones again on the new primary and no reader sees a difference.
    "replica-behind-wait": {"cut": True, "env": {"STREAMER_REDIS_WAIT_REPLICAS": "1"}},
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_sentinel_failover_under_load_loses_and_repeats_nothing_a_reader_saw(
    make_server: Any, fresh_sentinel: RedisSentinel, scenario: str
) -> None:
    setup: dict[str, Any] = SCENARIOS[scenario]
    server: Server = make_server(
        {
            "REDIS_URL": fresh_sentinel.url,
            # Producers ride over the outage (a failover takes 2-3 s here) by retrying for a
            # lease; readers learn of it within a blocking read plus this timeout.
            "STREAMER_LEASE_S": "8",
            "STREAMER_REDIS_TIMEOUT_S": "0.5",
            "STREAMER_HEARTBEAT_S": "0.5",
            **setup.get("env", {}),
        },
        workers=2,
    )
    base = server.base_url
    old_port = fresh_sentinel.primary()
    assert old_port == fresh_sentinel.primary_port
    timeline: dict[str, float] = {}
    acked: dict[str, int] = {}  # stream id -> records in the primary just before the kill
    replicated: dict[str, int] = {}  # and in the replica
    ready: list[tuple[float, float, int]] = []  # (sent, answered, status) of each /readyz
    probes: list[tuple[float, float, bool]] = []  # (sent, answered, a new stream ran to its end)

    def readyz() -> int:
        try:
            return requests.get(base + "/readyz", timeout=5).status_code
        except requests.RequestException:
            return 0

    def new_stream() -> bool:
        try:
            r = requests.get(
                base + "/stream/data?count=3&interval=0&resumable=1&format=ndjson", timeout=10
            )
        except requests.RequestException:
            return False
        lines = r.text.splitlines() if r.status_code == 200 else []
        return len(lines) == 4 and json.loads(lines[-1]) == {"event": "end", "count": 3}

    async def poll(what: Any, into: list[Any], until: float, every: float) -> None:
        while time.monotonic() < until:
            sent = time.monotonic()
            outcome = await asyncio.to_thread(what)
            into.append((sent, time.monotonic(), outcome))
            await asyncio.sleep(every)

    async def promoted(until: float) -> None:
        """The moment a replica answers as the primary (the fixture's own view)."""

        def roles() -> list[str]:
            found = []
            for port in fresh_sentinel.replica_ports:
                with redis.Redis(port=port, socket_timeout=1) as client:
                    found.append(client.info("replication").get("role"))
            return found

        while time.monotonic() < until:
            if "master" in await asyncio.to_thread(roles):
                timeline["promoted"] = time.monotonic()
                return
            await asyncio.sleep(0.05)

    async def run() -> list[Reader]:
        deadline = time.monotonic() + 45
        url = f"{base}/stream/data?count={COUNT}&interval={INTERVAL}&resumable=1&format=ndjson"
        origins: list[Reader] = []
        tasks: list[asyncio.Task[None]] = []

        async def origin() -> None:
            reader = Reader(base)
            origins.append(reader)

            def headers(result: Result) -> None:
                reader.stream_id = result.headers.get("x-stream-id", "")

            first = await fetch(url, on_headers=headers, timeout_s=deadline - time.monotonic())
            await reader.run(first, deadline)

        timeline["start"] = time.monotonic()
        tasks += [asyncio.create_task(origin()) for _ in range(STREAMS)]
        # Followers from the start of each stream, once its id is known.
        followers: list[Reader] = []
        while len(followers) < STREAMS:
            await asyncio.sleep(0.05)
            for reader in origins:
                if reader.stream_id and all(f.stream_id != reader.stream_id for f in followers):
                    follower = Reader(base, reader.stream_id)
                    followers.append(follower)
                    tasks.append(asyncio.create_task(follower.run(None, deadline)))
        watch_until = time.monotonic() + 20
        watchers = [
            asyncio.create_task(poll(readyz, ready, watch_until, 0.1)),
            asyncio.create_task(poll(new_stream, probes, watch_until, 0.2)),
        ]
        await asyncio.sleep(max(0.0, timeline["start"] + KILL_AFTER_S - time.monotonic()))
        ids = [r.stream_id for r in origins]
        if setup.get("cut"):
            await asyncio.to_thread(cut_off_the_replicas, fresh_sentinel)
            await asyncio.sleep(0.5)
        # What each server holds just before the primary dies (the replicas first: the
        # primary only gains), the best replica's being what a promotion can keep.
        for port in fresh_sentinel.replica_ports:
            for sid, n in records_in(port, ids).items():
                replicated[sid] = max(n, replicated.get(sid, 0))
        acked.update(records_in(fresh_sentinel.primary_port, ids))
        await asyncio.to_thread(fresh_sentinel.kill_primary)
        timeline["kill"] = time.monotonic()  # once it is dead (SIGKILL, then reaped)
        if setup.get("cut"):
            await asyncio.to_thread(reconnect_the_replicas, fresh_sentinel)
        await promoted(time.monotonic() + 20)
        await asyncio.gather(*tasks)
        for watcher in watchers:
            watcher.cancel()
        return origins + followers

    readers = asyncio.run(run())
    kill = timeline["kill"]
    assert len(acked) == STREAMS and all(0 < n < COUNT for n in acked.values()), acked
    assert "promoted" in timeline, f"no replica was promoted:\n{fresh_sentinel.logs()}"
    assert fresh_sentinel.primary() in fresh_sentinel.replica_ports

    # Every reader: no duplicate, no gap, no changed record; each stream ended in-band.
    ended: dict[str, int] = {}
    for reader in readers:
        assert reader.terminal is not None, (reader.stream_id, reader.answers, reader.ids[-3:])
        n = len(reader.ids)
        assert reader.records == payloads(n), (reader.answers, reader.ids)
        if isinstance(reader.terminal, End):
            assert reader.terminal.count == COUNT and n == COUNT, reader.answers
            ended["end"] = ended.get("end", 0) + 1
        else:
            # Only store_lost may end a stream here: the store saying it lost records the old
            # primary had acknowledged. Never producer_lost (a lease outlives the failover).
            assert reader.terminal == Error("store_lost", reader.terminal.message), reader.terminal  # type: ignore[union-attr]
            ended["store_lost"] = ended.get("store_lost", 0) + 1
    # Readers of one stream agree on its outcome and on its records.
    by_stream: dict[str, list[Reader]] = {}
    for reader in readers:
        by_stream.setdefault(reader.stream_id, []).append(reader)
    assert len(by_stream) == STREAMS
    for group in by_stream.values():
        assert len({type(r.terminal).__name__ for r in group}) == 1, [r.terminal for r in group]
    primary_only = {sid: acked[sid] - replicated[sid] for sid in acked}
    assert all(n >= 0 for n in primary_only.values()), (acked, replicated)
    outcome = {sid: type(group[0].terminal).__name__ for sid, group in by_stream.items()}
    if setup.get("cut"):
        if "env" in setup:
            # With WAIT a producer stops at its first unconfirmed record: the replicas lack
            # it for most streams (not all: a record replicated just before the cut whose
            # acknowledgement was cut off is on both), and none of those was acknowledged.
            assert sum(primary_only.values()) > STREAMS // 2, primary_only
            assert set(outcome.values()) == {"End"}, outcome
        else:
            # Without it the primary acknowledged 0.5 s of every stream that exists nowhere
            # else, and every stream says it lost them.
            assert all(n > 0 for n in primary_only.values()), primary_only
            assert set(outcome.values()) == {"Error"}, outcome
    # Every answer to a resume was the stream or a 503: never a 400, 404 or 5xx else.
    answers = {a for r in readers for a in r.answers}
    assert answers <= {200, 503}, answers
    met = [r for r in readers if r.cut_at is not None]
    assert met, "no reader met the failover: the test did not test it"
    in_band = sum(1 for r in met if r.in_band)

    # /readyz: never 200 between the kill and the promotion; 503 during it; 200 after.
    promoted_at = timeline["promoted"]
    lies = [
        (s - kill, a - kill)
        for s, a, st in ready
        if st == 200 and s > kill + 0.05 and a < promoted_at
    ]
    assert not lies, f"/readyz said ready with no primary: {lies}"
    assert any(st == 503 for s, _, st in ready if kill < s < promoted_at), ready
    after = [st for s, _, st in ready if s > promoted_at + 3]
    assert after and all(st == 200 for st in after), after
    not_ready = [s for s, _, st in ready if st != 200 and s > kill]
    ready_again_s = max((a for s, a, st in ready if st != 200), default=kill) - kill

    # New resumable streams: back within a few seconds of the kill (refused with a 503, or
    # slow while their first write is retried, until then), and every one after.
    slow = [a for s, a, ok in probes if a > kill and (not ok or a - s > 1.0)]
    recovered_s = (max(slow) - kill) if slow else 0.0
    assert recovered_s < 8.0, recovered_s
    assert all(ok for s, _, ok in probes if s > kill + recovered_s), probes

    figures = {
        "scenario": scenario,
        "streams": STREAMS,
        "records_on_the_old_primary_only": sum(primary_only.values()),
        "readers": len(readers),
        "promoted_after_kill_s": round(promoted_at - kill, 2),
        "readyz_not_ready_after_kill_s": round(ready_again_s, 2),
        "readyz_503_answers": len(not_ready),
        "new_streams_refused_or_slow_until_s": round(recovered_s, 2),
        "new_streams_refused": sum(1 for _, a, ok in probes if a > kill and not ok),
        "slowest_new_stream_s": round(max(a - s for s, a, _ in probes if a > kill), 2),
        "readers_ended": ended,
        "readers_that_met_the_outage": len(met),
        "of_them_told_in_band": in_band,
        "reconnects": sum(len(r.answers) - 1 for r in readers),
        "answers_while_resuming": sorted(
            {str(a) for r in readers for a in r.answers[1:]} - {"200"}
        ),
    }
    print(json.dumps(figures, indent=1))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "failover.json"
    kept = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**kept, scenario: figures}, indent=1))


@pytest.mark.timeout(30)
def test_on_redis_a_resume_past_the_end_of_a_running_stream_waits_and_ends_in_band(
    make_server: Any, redis_server: RedisServer
) -> None:
    """Such a resume is what a reader sends after a failover lost a record it saw, so it is
    not refused while the stream runs (the producer's next write settles it); if the stream
    ends before that id, the error comes in-band. On a finished stream it is still a 400."""
    server: Server = make_server({"REDIS_URL": redis_server.url, "STREAMER_HEARTBEAT_S": "0.5"})
    started = requests.get(
        server.url("/stream/data?count=4&interval=0.4&resumable=1&format=ndjson"),
        stream=True,
        timeout=10,
    )
    sid = started.headers["X-Stream-Id"]
    started.close()
    body = b""
    with requests.get(
        server.url(f"/streams/{sid}?format=ndjson"),
        headers={"Last-Event-ID": "50"},
        stream=True,
        timeout=20,
    ) as past:
        assert past.status_code == 200
        with pytest.raises(requests.exceptions.ChunkedEncodingError):  # failed: no terminator
            for chunk in past.iter_content(chunk_size=None):
                body += chunk
    last = json.loads(body.splitlines()[-1])
    assert last["event"] == "error" and last["error"]["type"] == "invalid_last_event_id", last
    again = requests.get(
        server.url(f"/streams/{sid}?format=ndjson"), headers={"Last-Event-ID": "50"}, timeout=10
    )
    assert again.status_code == 400, again.text
    assert again.json()["error"]["type"] == "invalid_last_event_id"
