"""Real tier: the official ``openai`` npm package under Node (tests/node, pinned by its
lockfile, installed by ``.ci/setup``) against streamer's /v1 API under gunicorn, with the
openai provider over the fake upstream (tests/fake_openai.py, in this process): chat
completions (tests/node/openai_client.mjs) and the Responses API
(tests/node/responses_client.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import Server
from ..fake_openai import FakeOpenAI, expected_reply, fake_model
from ..gateway_fixture import gateway_over
from ..node_script import NODE_DIR, run_node_script

pytestmark = pytest.mark.real

KEY = "sk-upstream-secret-node-0123456789"
PROMPT = "streaming answers token by token through the gateway"


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    assert path, "node is missing: run .ci/setup"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), (
        "the openai npm package is missing: run .ci/setup (npm ci in tests/node)"
    )
    return path


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gateway_over(upstream, tmp_path_factory, KEY, STREAMER_HEARTBEAT_S="0.3") as srv:
        yield srv


def run(node: str, *args: str, timeout: float = 30) -> dict[str, Any]:
    return run_node_script(node, "openai_client.mjs", *args, timeout=timeout)


@pytest.mark.timeout(60)
def test_node_sdk_streams_the_same_text_without_and_with_usage(node: str, gateway: Server) -> None:
    model = fake_model(tokens=10, delay=0.02)
    plain = run(node, "stream", gateway.url("/v1"), model)
    assert plain["text"] == expected_reply(PROMPT, tokens=10)
    assert plain["finish"] == "stop" and plain["usage"] is None and plain["usageNulls"] == 0
    counted = run(node, "stream", gateway.url("/v1"), model, "usage")
    assert counted["text"] == plain["text"]
    assert counted["count"] == plain["count"] + 1
    assert counted["usageNulls"] == plain["count"]
    assert counted["usage"]["completion_tokens"] == 10


@pytest.mark.timeout(60)
def test_node_sdk_reads_a_resumable_answer_with_ids_and_pings(node: str, gateway: Server) -> None:
    model = fake_model(tokens=3, delay=0.8)  # silences longer than the 0.3 s heartbeat
    result = run(node, "stream", gateway.url("/v1"), model, "resumable")
    assert result["text"] == expected_reply(PROMPT, tokens=3) and result["finish"] == "stop"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "scenario", [pytest.param({"cut": 3}, id="cut"), pytest.param({"error": 3}, id="in-band-error")]
)
def test_node_sdk_rejects_on_an_error_mid_stream(
    node: str, gateway: Server, scenario: dict[str, Any]
) -> None:
    result = run(node, "error", gateway.url("/v1"), fake_model(tokens=10, delay=0.01, **scenario))
    assert result["rejected"] and result["isAPIError"], result
    assert result["text"] == expected_reply(PROMPT, tokens=3)


@pytest.mark.timeout(60)
def test_node_abort_controller_closes_the_upstream_within_100ms(
    node: str, gateway: Server, upstream: FakeOpenAI
) -> None:
    model = fake_model(tokens=200, delay=0.05)
    before = len(upstream.requests)
    with subprocess.Popen(
        [node, "openai_client.mjs", "abort", gateway.url("/v1"), model],
        cwd=NODE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert json.loads(proc.stdout.readline()) == {"ready": True}
            record = upstream.wait_for(
                lambda: next((r for r in upstream.requests[before:] if r.model == model), None), 10
            )
            assert record.closed_at is None
            aborted = time.monotonic()  # before node is even told to abort
            proc.stdin.write("abort\n")
            proc.stdin.flush()
            closed = record.wait_closed(timeout=5)
            result = json.loads(proc.stdout.readline())
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert closed - aborted < 0.1, closed - aborted
    assert record.disconnected
    # openai-node ends the iteration quietly on an abort: no chunk came after it.
    assert result["n"] == 3, result


# -- the Responses API (tests/node/responses_client.mjs) ----------------------------------------

RESPONSES_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def run_responses(node: str, *args: str, timeout: float = 30) -> dict[str, Any]:
    return run_node_script(node, "responses_client.mjs", *args, timeout=timeout)


def _runs(types: list[str]) -> list[str]:
    return [t for i, t in enumerate(types) if i == 0 or types[i - 1] != t]


@pytest.mark.timeout(60)
def test_node_sdk_reads_the_responses_events_in_order(node: str, gateway: Server) -> None:
    result = run_responses(node, "stream", gateway.url("/v1"), fake_model(tokens=10, delay=0.02))
    assert _runs(result["types"]) == RESPONSES_ORDER
    assert result["numbers"] == list(range(len(result["types"])))
    assert result["text"] == expected_reply(PROMPT, tokens=10)
    assert result["final"]["status"] == "completed"
    assert result["final"]["usage"]["output_tokens"] == 10


@pytest.mark.timeout(60)
def test_node_sdk_resumes_a_background_response_after_a_sequence_number(
    node: str, gateway: Server
) -> None:
    model = fake_model(tokens=20, delay=0.05)
    result = run_responses(node, "resume", gateway.url("/v1"), model, "6")
    assert result["numbers"] == list(range(len(result["types"]))), result["numbers"]
    assert _runs(result["types"]) == RESPONSES_ORDER
    assert result["text"] == expected_reply(PROMPT, tokens=20)
    assert result["status"] == "completed" and result["outputText"] == result["text"]
