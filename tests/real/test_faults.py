"""Faults (real tier). Where each one of issue 9's list is proved:

- the upstream dies mid-answer: the client sees ``error``, never ``end`` —
  tests/real/test_chat_openai.py::test_upstream_cut_mid_answer_is_an_error_record_not_end;
- the upstream hangs before the first token: heartbeats, then a timeout ``error`` —
  tests/real/test_chat_openai.py::test_silent_upstream_gets_heartbeats_then_an_in_band_timeout
  (and ..._before_the_first_byte_is_504 when it hangs before the status is sent);
- a resumable stream whose reader's worker died resumes elsewhere, every record once —
  tests/real/test_resumable_live.py::test_the_readers_worker_killed_resume_elsewhere_gets_every_record_once;
- a worker killed with SIGKILL: here. The master replaces it; each client of a plain stream
  sees an incomplete body (requests: ChunkedEncodingError; streamer.client: IncompleteStream),
  never a complete-looking one; new streams work on the new worker.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest
import requests

from streamer.client import Client, IncompleteStream
from streamer.wire.decoders import NDJSONDecoder
from streamer.wire.records import Data, End

from ..conftest import Server

pytestmark = pytest.mark.real

STREAMS = 10


@pytest.mark.timeout(60)
def test_sigkill_of_a_worker_cuts_its_streams_and_the_master_replaces_it(make_server: Any) -> None:
    server: Server = make_server({"STREAMER_HEARTBEAT_S": "0.5"})
    [victim] = server.worker_pids()
    url = server.url("/_test/stream?count=10000&interval=0.02&format=ndjson")
    results: list[Any] = [None] * STREAMS
    first_record = threading.Barrier(STREAMS + 1, timeout=10)

    def read(i: int) -> None:
        got: list[Any] = []
        decoder = NDJSONDecoder()
        try:
            with requests.get(url, stream=True, timeout=15) as response:
                signalled = False
                for chunk in response.iter_content(chunk_size=None):
                    got.extend(decoder.feed(chunk))
                    if not signalled and got:
                        signalled = True
                        first_record.wait()
            results[i] = ("complete", got)
        except requests.exceptions.ChunkedEncodingError:
            results[i] = ("cut", got)
        except Exception as exc:  # reported by the asserts below
            results[i] = (repr(exc), got)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(STREAMS)]
    for t in threads:
        t.start()
    first_record.wait()
    os.kill(victim, signal.SIGKILL)

    # The streamer client's view of the same fault, on the replacement worker below.
    for t in threads:
        t.join(timeout=20)
    assert all(not t.is_alive() for t in threads)
    for outcome, got in results:
        assert outcome == "cut", outcome
        data = [r for r in got if isinstance(r, Data)]
        assert data and [r.id for r in data] == list(range(1, len(data) + 1))
        assert not any(isinstance(r, End) for r in got)

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if pids and victim not in pids:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the master did not replace the killed worker")
    assert server.proc.poll() is None
    deadline = time.monotonic() + 10
    while requests.get(server.url("/healthz"), timeout=5).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    after = requests.get(server.url("/_test/stream?count=3&format=ndjson"), timeout=10)
    assert after.status_code == 200 and b'"event":"end"' in after.content

    # streamer.client reports a killed worker's stream as IncompleteStream.
    [worker] = server.worker_pids()
    with (
        Client(server.base_url, timeout=10) as client,
        client.records("/_test/stream", params={"count": 10000, "interval": 0.02}) as stream,
    ):
        received = 0
        with pytest.raises(IncompleteStream):
            for record in stream:
                if isinstance(record, Data):
                    received += 1
                    if received == 3:
                        os.kill(worker, signal.SIGKILL)
        assert received >= 3
