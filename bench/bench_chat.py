"""M7: chat on the OpenAI path: worker CPU per streamed token, and sustained streams.

    .venv/bin/python bench/bench_chat.py [--smoke]

1. CPU per token, in one gevent-patched process each (the fake upstream runs in this parent
   process, so its CPU is not counted): streamer's provider (raw body, our line decoder,
   orjson) versus iterating the SDK's own ``AsyncStream`` of pydantic chunk objects, both
   through the same adapter (``streamer.adapter.iterate_async``).
2. Through the real service (gunicorn, one gevent worker): worker CPU per token for C
   concurrent streams, and how many concurrent streams of 50 tokens/s one worker carries before
   tokens fall behind (p90 stream duration over 1.25x the upstream's own 1 s).

Prints a markdown table. The upstream is tests/fake_openai.py on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Server  # noqa: E402
from tests.fake_openai import FakeOpenAI, fake_model  # noqa: E402

KEY = "sk-bench-0123456789"

_CHILD = r"""
import gevent.monkey; gevent.monkey.patch_all()
import json, sys, time
sys.path.insert(0, sys.argv[1])
mode, base_url, model, key = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[6]
streams = int(sys.argv[5])
import gevent, openai
from streamer.adapter import iterate_async, loop_local
from streamer.chat.openai_provider import OpenAIProvider
from streamer.chat.request import ChatRequest

req = ChatRequest(messages=({"role": "user", "content": "bench"},), model=model)
provider = OpenAIProvider(key, base_url, 60.0, 0)

def sdk_tokens():
    async def gen():
        client = loop_local("sdk", lambda: openai.AsyncOpenAI(api_key=key, base_url=base_url,
                                                               max_retries=0))
        stream = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "bench"}], stream=True,
            stream_options={"include_usage": True})
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content
    with iterate_async(gen, buffer=256) as items:
        return sum(1 for _ in items)

def raw_tokens():
    return sum(1 for _ in provider.stream(req))

run = sdk_tokens if mode == "sdk" else raw_tokens
run()  # warm up: client, connection pool, imports
cpu0, wall0 = time.process_time(), time.monotonic()
counts = [g.value for g in gevent.joinall([gevent.spawn(run) for _ in range(streams)])]
cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
print(json.dumps({"tokens": sum(counts), "cpu": cpu, "wall": wall}))
"""


def taskset(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if (os.cpu_count() or 1) > 1 else []


def cpu_per_token(mode: str, base_url: str, tokens: int, streams: int) -> float:
    out = subprocess.run(
        [*taskset(0), sys.executable, "-c", _CHILD, str(ROOT), mode, base_url,
         fake_model(tokens=tokens), str(streams), KEY],
        capture_output=True, text=True, check=True, timeout=600)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tokens"] == tokens * streams, result
    return float(result["cpu"]) / result["tokens"] * 1e6


def worker_cpu(server: Server) -> float:
    (pid,) = server.worker_pids()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_run(server: Server, streams: int, tokens: int, delay: float
                ) -> tuple[float, float, int]:
    """(worker CPU µs per token, p90 stream duration s, tokens received)."""
    import requests

    durations: list[float] = []
    received = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(streams)
    body = {"messages": [{"role": "user", "content": "bench"}],
            "model": fake_model(tokens=tokens, delay=delay)}

    def client() -> None:
        barrier.wait(timeout=60)
        start = time.monotonic()
        with requests.post(server.url("/chat?format=text"), json=body, stream=True,
                           timeout=60) as response:
            n = sum(1 for _ in response.iter_content(chunk_size=None))
        with lock:
            durations.append(time.monotonic() - start)
            received[0] += n

    cpu0 = worker_cpu(server)
    threads = [threading.Thread(target=client) for _ in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    cpu = worker_cpu(server) - cpu0
    durations.sort()
    return cpu / (streams * tokens) * 1e6, durations[int(0.9 * (len(durations) - 1))], received[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    args = parser.parse_args()
    tokens, streams = (50, 4) if args.smoke else (500, 40)
    levels = [20] if args.smoke else [100, 200, 400, 800]
    rows: list[tuple[str, str]] = []
    with FakeOpenAI(api_key=KEY) as upstream:
        sdk = cpu_per_token("sdk", upstream.base_url, tokens, streams)
        raw = cpu_per_token("raw", upstream.base_url, tokens, streams)
        rows += [("adapter + SDK stream objects: CPU µs/token", f"{sdk:.1f}"),
                 ("adapter + streamer's raw path: CPU µs/token", f"{raw:.1f}"),
                 ("ratio SDK / streamer", f"{sdk / raw:.1f}x")]
        log = ROOT / "bench" / "out" / "chat-gunicorn.log"
        log.parent.mkdir(exist_ok=True)
        server = Server({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": upstream.base_url,
                         "STREAMER_UPSTREAM_RETRIES": "0", "STREAMER_TESTING": "0",
                         "STREAMER_MAX_STREAMS": "100000"}, log)
        try:
            us, _, _ = service_run(server, streams, tokens, 0.0)
            rows.append((f"service, {streams} streams x {tokens} tokens: worker CPU µs/token",
                         f"{us:.1f}"))
            sustained = 0
            for c in levels:
                us, p90, got = service_run(server, c, 50, 0.02)
                ok = p90 <= 1.25 * 50 * 0.02 and got > 0
                rows.append((f"service, {c} streams of 50 tokens/s: p90 duration s "
                             f"(ideal 1.0), worker CPU µs/token", f"{p90:.2f}, {us:.1f}"))
                if ok:
                    sustained = c
                else:
                    break
            rows.append(("concurrent 50 tokens/s streams one worker sustains",
                         f">= {sustained}" if sustained == levels[-1] else str(sustained)))
        finally:
            server.stop()
    print("| M7 chat | value |\n| --- | ---: |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
