"""Real tier of examples/chat_ui.py and examples/htmx_feed.py: each under real gunicorn with
``-k streamer.worker.Worker``, its ``AsyncOpenAI`` pointed at the fake upstream
(tests/fake_openai.py) whose model calls the app's tool once, then answers in text.

- chat_ui: the AI SDK's own chat client (``ai``'s ``AbstractChat``, what ``useChat`` wraps;
  tests/node/ui_message_client.mjs) ends with one message: the tool part with the call's input
  and the tool's output, then the model's second answer as text.
- htmx_feed: Debian's Chromium loads the page with htmx and htmx-ext-sse from tests/node's
  pinned npm packages (``HTMX_DIR``); the first row is in the DOM while the upstream is held
  mid-answer, and every row is there at the end, once (the EventSource closes on ``end``).
- Each example stays under 40 lines of Python (blank lines not counted).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import ROOT, Server
from ..fake_openai import FakeOpenAI, expected_reply, fake_model, reply_tokens
from .test_page import CHROMIUM_ARGS, _chromium
from .test_ui_message_node import NODE_DIR, chat

pytestmark = pytest.mark.real

EXAMPLES = ROOT / "examples"
KEY = "sk-examples"
QUESTION = "What is the weather in Oslo?"  # what ui_message_client.mjs sends


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    assert path, "node is missing: run .ci/setup"
    assert (NODE_DIR / "node_modules" / "ai").is_dir(), "run .ci/setup (npm ci in tests/node)"
    assert (NODE_DIR / "node_modules" / "htmx-ext-sse").is_dir(), "run npm ci in tests/node"
    return path


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake
        assert fake.errors == []


def example(module: str, fake: FakeOpenAI, log: Path, model: str, **ready: Any) -> Server:
    def argv(port: int) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "-k", "streamer.worker.Worker",
            "-b", f"127.0.0.1:{port}", "-w", "1", "--no-control-socket", f"{module}:app",
        ]  # fmt: skip

    env = {
        "PYTHONPATH": str(ROOT),
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": KEY,
        "OPENAI_MODEL": model,
        "HTMX_DIR": str(NODE_DIR / "node_modules"),
    }
    return Server(env, log, argv=argv, cwd=EXAMPLES, **ready)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["chat_ui.py", "htmx_feed.py"])
def test_each_example_is_under_40_lines(name: str) -> None:
    lines = [line for line in (EXAMPLES / name).read_text().splitlines() if line.strip()]
    assert len(lines) < 40, f"{name}: {len(lines)} non-blank lines"


@pytest.mark.timeout(90)
def test_chat_ui_gives_use_chat_the_tool_part_and_the_answer_after_it(
    node: str, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    model = fake_model(tool_calls=1, delay=0.01)
    srv = example(
        "chat_ui",
        upstream,
        tmp_path / "gunicorn.log",
        model,
        ready_path="/api/chat",
        ready_status=405,
    )
    try:
        result = chat(node, srv.url("/api/chat"))
    finally:
        srv.stop()
    assert (result["status"], result["error"]) == ("ready", None), srv.log()[-3000:]
    user, message = result["messages"]
    assert user["role"] == "user"
    tool, text = [p for p in message["parts"] if p["type"] != "step-start"]
    assert tool["type"] == "tool-get_weather"
    assert tool["toolCallId"].startswith("call_")
    assert tool["state"] == "output-available"
    assert tool["input"] == {"city": QUESTION}
    assert tool["output"] == {"city": QUESTION, "forecast": "sunny", "temp_c": 21}
    assert text == {"type": "text", "text": expected_reply(QUESTION), "state": "done"}
    # The second request carried the call and the tool's result back to the model.
    _, second = upstream.wait_requests(2, timeout=5)
    messages = second.body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == messages[2]["tool_call_id"] == tool["toolCallId"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=_chromium(), args=CHROMIUM_ARGS, timeout=30_000
        )
        yield chromium
        chromium.close()


@pytest.mark.timeout(90)
def test_htmx_feed_swaps_each_row_in_as_it_arrives(
    node: str, upstream: FakeOpenAI, tmp_path: Path, browser: Any
) -> None:
    question = "Oslo tomorrow"
    # Held after the tool call's first fragment: the answer cannot end before release.
    model = fake_model(tool_calls=1, hold="feed", delay=0.02)
    srv = example("htmx_feed", upstream, tmp_path / "gunicorn.log", model, ready_path="/")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(  # the scripts load from the app (HTMX_DIR), no other request fails (the favicon)
        "response",
        lambda r: r.status >= 400 and "favicon" not in r.url and errors.append(r.url),
    )
    page.set_default_timeout(15_000)
    try:
        page.goto(srv.url("/?q=" + question.replace(" ", "+")))
        assert page.locator("script[src^='/htmx/']").count() == 2  # HTMX_DIR's copies
        page.wait_for_selector("tr.tool")
        # The first row is in the page while the upstream holds the rest of the answer.
        (held,) = upstream.requests
        assert not held.finished and held.tokens_sent < held.tokens_planned
        assert page.locator("tr").count() == 1
        assert page.text_content("tr.tool") == "toolcalling get_weather"
        upstream.release("feed")
        words = reply_tokens(question)
        page.wait_for_function(f"document.querySelectorAll('tr.text').length >= {len(words)}")
        page.wait_for_timeout(500)  # an EventSource that reconnected would add rows now
        texts = page.locator("tr.text td:nth-child(2)").all_text_contents()
        assert "".join(texts) == expected_reply(question)
        assert page.locator("tr.result").count() == 1
        assert page.locator("tr").count() == 2 + len(words)
        assert len(upstream.requests) == 2  # one answer: the page did not ask again
        assert errors == []
    finally:
        page.close()
        srv.stop()
