"""Real tier of streamer.llm.ui_message: the AI SDK's own chat client (``ai``'s
``AbstractChat``, what ``useChat`` wraps, with ``DefaultChatTransport``; tests/node, pinned by
its lockfile) under Node, against a bare ``Flask()`` + ``Streamer(app)`` whose views
``stream(events(), format="ui-message")`` under gunicorn with ``-k streamer.worker.Worker``.
The assistant's text reaches the client while the producer still waits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import ROOT, Server

pytestmark = pytest.mark.real

NODE_DIR = Path(__file__).resolve().parents[1] / "node"

APP = """
import os
import time
from pathlib import Path

import gevent
from flask import Flask, request
from streamer import Streamer, stream
from streamer.errors import UpstreamError
from streamer.llm.chat_streams import resume_chat, stop_chat
from streamer.llm.events import (
    Finish, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, ToolResult, Usage,
)
from streamer.llm.formats import openai

app = Flask(__name__)
Streamer(app)
GATE = Path(os.environ["ANSWER_GATE"])


def wait_for_gate(gate=GATE):
    for _ in range(400):  # until the test opens the gate: at most 20 s
        if gate.exists():
            return
        gevent.sleep(0.05)


def held(chat_id):
    # "Hel", then the chat's own gate; its finally says when it was closed.
    try:
        yield TextDelta("Hel")
        wait_for_gate(GATE.parent / chat_id)
        yield TextDelta("lo!")
        yield Finish("stop")
    finally:
        (GATE.parent / (chat_id + ".closed")).write_text(repr(time.time()))


def text():
    yield TextDelta("Hel")
    wait_for_gate()
    yield TextDelta("lo!")
    yield Usage(4, 2)
    yield Finish("stop")


def tool():
    yield ToolCallStart("call_1", "weather", 0)
    yield ToolCallDelta("call_1", '{"city":')
    yield ToolCallDelta("call_1", '"Oslo"}')
    yield ToolCallEnd("call_1", "weather", '{"city":"Oslo"}')
    yield ToolResult("call_1", {"temp": 3, "unit": "C"})
    yield TextDelta("It is 3 °C in Oslo.")
    yield Finish("stop")


def failing():
    yield TextDelta("Hel")
    raise UpstreamError("the upstream went away", type="upstream_disconnected")


ANSWERS = {"text": text, "tool": tool, "error": failing}


@app.get("/healthz")
def healthz():
    return "ok"


@app.post("/ui/<kind>")
def ui(kind):
    return stream(ANSWERS[kind](), format="ui-message")


@app.post("/chat")
def resumable_chat():
    body = request.get_json()
    return stream(held(body["id"]), format="ui-message", resumable=True, name=body["id"])


@app.get("/chat/<chat_id>/stream")
def resume(chat_id):
    return resume_chat(chat_id)


@app.delete("/chat/<chat_id>/stream")
def stop(chat_id):
    return stop_chat(chat_id)


@app.post("/plain")
def plain_chat():
    return stream(held(request.get_json()["id"]), format="ui-message")


@app.post("/v1/chat/completions")
def chat_completions():
    return stream(tool(), format=openai(model="streamer-test"))


@app.post("/failing/v1/chat/completions")
def failing_completions():
    return stream(failing(), format="openai")
"""


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    assert path, "node is missing: run .ci/setup"
    assert (NODE_DIR / "node_modules" / "ai").is_dir(), (
        "the ai npm package is missing: run .ci/setup (npm ci in tests/node)"
    )
    return path


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    here = tmp_path_factory.mktemp("ui-message")
    (here / "app.py").write_text(textwrap.dedent(APP))
    gate = here / "gate"

    def argv(port: int) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "-k", "streamer.worker.Worker",
            "-b", f"127.0.0.1:{port}", "-w", "1", "--no-control-socket", "app:app",
        ]  # fmt: skip

    env = {"PYTHONPATH": str(ROOT), "ANSWER_GATE": str(gate)}
    srv = Server(env, here / "gunicorn.log", argv=argv, cwd=here)
    yield srv, gate
    srv.stop()


def chat(node: str, url: str, gate: Path | None = None) -> dict[str, Any]:
    """The chat's state once its ``sendMessage`` settled. With ``gate``: the first text must
    arrive while the producer waits for the gate, which this then opens."""
    lines: list[dict[str, Any]] = []
    with subprocess.Popen(
        [node, "ui_message_client.mjs", url],
        cwd=NODE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            for line in proc.stdout:
                lines.append(json.loads(line))
                if gate is not None and lines[-1].get("progress") == "Hel":
                    assert not gate.exists()  # the producer cannot have finished: it waits
                    gate.touch()
            assert proc.wait(timeout=30) == 0, proc.stderr.read()[-2000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    if gate is not None:
        assert gate.exists(), f"no part arrived before the producer finished: {lines}"
    result: dict[str, Any] = lines[-1]
    return result


def assistant(result: dict[str, Any]) -> dict[str, Any]:
    messages = result["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    message: dict[str, Any] = messages[1]
    assert message["id"].startswith("msg-")  # the start part's messageId
    return message


@pytest.mark.timeout(60)
def test_a_text_answer_streams_into_the_chat_and_ends_ready(
    node: str, app_server: tuple[Server, Path]
) -> None:
    srv, gate = app_server
    started = time.monotonic()
    result = chat(node, srv.url("/ui/text"), gate)
    assert time.monotonic() - started < 30
    assert (result["status"], result["error"]) == ("ready", None)
    assert assistant(result)["parts"] == [
        {"type": "step-start"},
        {"type": "text", "text": "Hello!", "state": "done"},
    ]


@pytest.mark.timeout(60)
def test_a_tool_call_and_its_result_are_one_tool_part_with_input_and_output(
    node: str, app_server: tuple[Server, Path]
) -> None:
    srv, _ = app_server
    result = chat(node, srv.url("/ui/tool"))
    assert (result["status"], result["error"]) == ("ready", None)
    assert assistant(result)["parts"] == [
        {"type": "step-start"},
        {
            "type": "tool-weather",
            "toolCallId": "call_1",
            "state": "output-available",
            "input": {"city": "Oslo"},
            "output": {"temp": 3, "unit": "C"},
        },
        {"type": "step-start"},
        {"type": "text", "text": "It is 3 °C in Oslo.", "state": "done"},
    ]


@pytest.mark.timeout(60)
def test_an_error_mid_answer_leaves_the_chat_in_error_state(
    node: str, app_server: tuple[Server, Path]
) -> None:
    srv, _ = app_server
    result = chat(node, srv.url("/ui/error"))
    assert (result["status"], result["error"]) == ("error", "the upstream went away")
    parts = assistant(result)["parts"]
    assert parts[0] == {"type": "step-start"}
    assert parts[1]["type"] == "text" and parts[1]["text"] == "Hel"
    assert "Traceback" not in srv.log()


def usechat(node: str, srv: Server, here: Path, api: str, chat_id: str, mode: str) -> list[Any]:
    """The lines of tests/node/usechat_client.mjs; on ``dropped``, opens the chat's gate."""
    lines: list[Any] = []
    with subprocess.Popen(
        [node, "usechat_client.mjs", srv.url(api), chat_id, mode],
        cwd=NODE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            for line in proc.stdout:
                lines.append(json.loads(line))
                if lines[-1].get("dropped"):
                    (here / chat_id).touch()  # the producer goes on after the drop
            assert proc.wait(timeout=30) == 0, proc.stderr.read()[-2000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    return lines


def phase(lines: list[Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(line for line in lines if line.get("phase") == name)
    return found


@pytest.mark.timeout(60)
def test_a_dropped_answer_is_rebuilt_once_by_reconnect_to_stream(
    node: str, app_server: tuple[Server, Path]
) -> None:
    srv, gate = app_server
    lines = usechat(node, srv, gate.parent, "/chat", "chat-drop", "drop")
    # "Hel" was in the chat's message before the drop, and the producer still waited.
    assert lines.index({"progress": "Hel"}) < lines.index({"dropped": True})
    sent = phase(lines, "sent")
    assert sent["status"] == "error"  # the dropped POST
    resumed = phase(lines, "resumed")
    assert (resumed["status"], resumed["error"]) == ("ready", None)
    assert assistant(resumed)["parts"] == [  # the whole message, once: no "HelHello!"
        {"type": "step-start"},
        {"type": "text", "text": "Hello!", "state": "done"},
    ]


@pytest.mark.timeout(60)
def test_a_stopped_answer_keeps_its_text_and_the_chat_ends_ready(
    node: str, app_server: tuple[Server, Path]
) -> None:
    srv, gate = app_server
    lines = usechat(node, srv, gate.parent, "/chat", "chat-stop", "stop")
    assert {"stopped": 202} in lines
    for name in ("sent", "resumed"):  # the live answer, then a resume after the stop
        settled = phase(lines, name)
        assert (settled["status"], settled["error"]) == ("ready", None), name
        parts = assistant(settled)["parts"]
        assert [p["type"] for p in parts] == ["step-start", "text"], name
        assert parts[1]["text"] == "Hel", name
    assert (gate.parent / "chat-stop.closed").exists()  # the producer was stopped
    assert not (gate.parent / "chat-stop").exists()  # its gate never opened


@pytest.mark.timeout(60)
def test_a_client_abort_closes_the_producer_within_100_ms(
    node: str, app_server: tuple[Server, Path]
) -> None:
    srv, gate = app_server
    lines = usechat(node, srv, gate.parent, "/plain", "chat-abort", "abort")
    aborted_at = next(line["aborted_at"] for line in lines if "aborted_at" in line)
    closed = gate.parent / "chat-abort.closed"
    deadline = time.monotonic() + 5
    while not closed.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed.exists(), "the producer's finally never ran"
    assert float(closed.read_text()) - aborted_at < 0.1
    assert phase(lines, "sent")["status"] == "ready"
