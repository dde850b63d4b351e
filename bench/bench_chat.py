"""M7: chat on the OpenAI path: worker CPU per streamed token, and sustained streams.

    .venv/bin/python bench/bench_chat.py [--smoke]      # ~1-3 min; smoke ~20 s
    .venv/bin/python bench/bench_chat.py --split        # ~20 s: per open / per token, user + sys

Two ways to get the tokens, through the same adapter (``streamer.adapter``) and app:

- ``raw``: streamer's provider: the SDK opens the request, the raw body is read with our line
  decoder and orjson;
- ``sdk``: the naive way: iterate the SDK's own ``AsyncStream`` of pydantic chunk objects
  (``bench/chat_sdk.py``).

1. CPU per token in one gevent-patched process (no HTTP serving), as fast as the upstream
   sends and at 50 tokens/s per stream. The fake upstream runs in this process, on the other
   core, so its CPU is not counted.
2. Through the service (gunicorn, one gevent worker, ``/chat?format=text``): worker CPU per
   token (all its threads, from /proc/PID/task/*/schedstat, so stream opens are included), as
   fast as the upstream sends; then, through ``/chat`` and through the OpenAI-compatible
   ``/v1/chat/completions`` (SSE chunk objects), C concurrent streams of 50 tokens at
   50 tokens/s, C stepped up until the worker falls behind: a level is *sustained* when every
   stream completes and the p90 token lateness (arrival - (t0 + k x 20 ms), t0 fitted per
   stream as the earliest arrival_k - k x 20 ms, so a slow open does not count;
   ``bench/loadgen.c``) is at most LATE_P90_MS. A level that fails runs once more (other
   processes share the machine). The highest sustained C is the figure for users: the chat
   streams one worker holds at 50 tokens/s. The upstream's own lag (the fake sleeps, then
   writes, so it drifts when its core is busy) is shown next to it: where it is
   large, the harness, not the worker, was the limit.

Placement: the worker (and its bridge thread) on one core, this process (the fake upstream,
tests/fake_openai.py) and loadgen on the other: ``STREAMER_BENCH_CORES=server,client``
(bench/run.py sets it), else the first two cores we may use. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from run import LOADGEN, build_loadgen, free_port  # noqa: E402  (bench/run.py)

from tests.fake_openai import FakeOpenAI, fake_model  # noqa: E402

KEY = "sk-bench-0123456789"
RATE_DELAY = 0.02  # 50 tokens/s
LADDER_TOKENS = 50  # one second per stream
LATE_P90_MS = 50.0  # 2.5 tokens behind
WORD = "tok"  # the fake echoes it: "tok", " tok", " tok", ...

_CHILD = r"""
import gevent.monkey; gevent.monkey.patch_all()
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/bench"]
mode, base_url, model, streams, key = *sys.argv[2:5], int(sys.argv[5]), sys.argv[6]
import gevent
from streamer.llm.openai_provider import OpenAIProvider
from streamer.llm import ChatRequest
from streamer.llm.events import TextDelta
from chat_sdk import SDKObjectsProvider

cls = SDKObjectsProvider if mode == "sdk" else OpenAIProvider
provider = cls(key, base_url, 60.0, 0)
def run(model=model):
    req = ChatRequest(messages=({"role": "user", "content": "bench"},), model=model)
    return sum(type(e) is TextDelta for e in provider.stream(req))
run(model.split("?")[0] + "?tokens=5")  # warm up: client, connection pool, imports
cpu0, wall0 = time.process_time(), time.monotonic()
counts = [g.value for g in gevent.joinall([gevent.spawn(run) for _ in range(streams)])]
cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
print(json.dumps({"tokens": sum(counts), "cpu": cpu, "wall": wall}), flush=True)
import os; os._exit(0)  # interpreter exit with the bridge thread running can hang (seen ~1 in 2)
"""


def bench_cores() -> tuple[int, int] | None:
    env = os.environ.get("STREAMER_BENCH_CORES")
    if env:
        srv, cli = env.split(",")
        return int(srv), int(cli)
    avail = sorted(os.sched_getaffinity(0))
    return (avail[0], avail[1]) if len(avail) >= 2 else None


CORES = bench_cores()


def on_server_core() -> list[str]:
    return ["taskset", "-c", str(CORES[0])] if CORES else []


def in_process_cpu(mode: str, base_url: str, tokens: int, streams: int, delay: float) -> float:
    """µs of CPU per token in one patched process: ``streams`` greenlets, provider.stream()."""
    out = subprocess.run(
        [
            *on_server_core(),
            sys.executable,
            "-c",
            _CHILD,
            str(ROOT),
            mode,
            base_url,
            fake_model(tokens=tokens, delay=delay),
            str(streams),
            KEY,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tokens"] == tokens * streams, result
    return float(result["cpu"]) / result["tokens"] * 1e6


def service_env(port: int, base_url: str) -> dict[str, str]:
    """The service's environment for a benchmark: one worker, the openai provider on
    ``base_url``, no retries, no Redis, no keys, no per-client limits (bench_gateway.py too)."""
    env = {
        **os.environ,
        "PORT": str(port),
        "STREAMER_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "PYTHONUNBUFFERED": "1",
        "STREAMER_CHAT_PROVIDER": "openai",
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": base_url,
        "STREAMER_UPSTREAM_RETRIES": "0",
        "STREAMER_MAX_STREAMS": "100000",
        "STREAMER_WORKER_CONNECTIONS": "100000",
        # One client address (loopback) opens every stream: no per-client limits.
        "STREAMER_MAX_STREAMS_PER_CLIENT": "0",
        "STREAMER_NEW_STREAMS_PER_CLIENT_S": "0",
    }
    for name in ("REDIS_URL", "STREAMER_API_KEYS", "STREAMER_TESTING"):
        env.pop(name, None)
    return env


def threads_cpu_s(pid: int) -> float:
    """CPU seconds of all of ``pid``'s threads, from /proc schedstat (ns resolution)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass  # a thread that just ended
    return total / 1e9


def stop_server(proc: subprocess.Popen, worker: int, grace_s: float) -> None:
    """SIGTERM a gunicorn master; if it is not gone within ``grace_s``, SIGKILL its worker
    ``worker``, then the master. Why: the worker logs "Worker exiting" and then may hang in
    interpreter exit (atexit joins asyncio's default-executor thread, a greenlet of the bridge
    thread's hub); gunicorn would SIGKILL it after graceful_timeout (20 s). Do it now."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Service:
    """One gunicorn gevent worker on the server core, with the raw or the SDK provider."""

    def __init__(self, mode: str, base_url: str, log: Path) -> None:
        self.port = free_port()
        app = ["--pythonpath", "bench", "chat_sdk:sdk_app()"] if mode == "sdk" else ["wsgi:app"]
        env = service_env(self.port, base_url)
        self._log = open(log, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [*on_server_core(), sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *app],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
        ).stdout.split()
        (self.worker,) = map(int, out)

    def cpu_s(self) -> float:
        """CPU time of all the worker's threads (the hub and the bridge loop), ns resolution."""
        return threads_cpu_s(self.worker)

    def stop(self) -> None:
        stop_server(self.proc, self.worker, grace_s=5)
        self._log.close()


def event_sizes(
    port: int, path: str, request: dict, tokens: int | None = None, expect: int | None = None
) -> tuple[int, int]:
    """(bytes up to the end of the first token's event, bytes of every later token's event)
    in a streamed answer to ``request`` on ``path``, read off one answer (the same model
    string, so the same sizes): the events before the first token (a role chunk) count
    with it. Every later token event must have one size (loadgen finds tokens by it).
    ``tokens``: stop after that many token events, else read the answer to its end;
    ``expect``: the answer must have that many token events."""
    spans: list[tuple[int, int]] = []
    body = b""
    with requests.post(
        f"http://127.0.0.1:{port}{path}", json=request, stream=True, timeout=30
    ) as response:
        response.raise_for_status()
        for part in response.iter_content(None):
            body += part
            base = start = spans[-1][1] if spans else 0
            for m in re.finditer(rb"\r?\n\r?\n", body[base:]):
                spans.append((start, base + m.end()))
                start = base + m.end()
            if tokens is not None and sum(_has_content(body[s:e]) for s, e in spans) >= tokens:
                break
    found = [(s, e) for s, e in spans if _has_content(body[s:e])]
    later = {e - s for s, e in found[1:]}
    if len(found) == 1:  # a one-token answer: no later token to time; its own size stands in
        later = {found[0][1] - found[0][0]}
    if not found or len(later) != 1 or expect not in (None, len(found)):
        raise RuntimeError(f"{len(found)} token events, later sizes {sorted(later)}")
    return found[0][1], later.pop()


def _has_content(event: bytes) -> bool:
    for line in event.splitlines():  # bytes.splitlines: only \r, \n (no U+2028 in bytes)
        if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
            choices = json.loads(line[5:]).get("choices") or [{}]
            return bool((choices[0].get("delta") or {}).get("content"))
    return False


#: The paths a ladder can use: /chat (plain text, one record per token) and the
#: OpenAI-compatible /v1/chat/completions (SSE, one chunk object per token).
PATHS = {"chat": "/chat?format=text", "v1": "/v1/chat/completions"}


def loadgen(
    port: int, streams: int, tokens: int, delay: float, deadline: float, path: str = "chat"
) -> dict:
    model = fake_model(tokens=tokens, delay=delay)
    request = {"messages": [{"role": "user", "content": WORD}], "model": model}
    if path == "v1":
        request["stream"] = True
        request["stream_options"] = {"include_obfuscation": False}
        first, size = event_sizes(port, PATHS["v1"], request, tokens=3)
    else:
        first, size = len(WORD), len(WORD) + 1
    out = subprocess.run(
        [
            str(LOADGEN),
            "many",
            str(port),
            PATHS[path],
            str(streams),
            str(size),
            str(tokens),
            str(delay * 1000),
            str(deadline),
            json.dumps(request),
            str(first),
        ],
        capture_output=True,
        text=True,
        timeout=deadline + 30,
        check=True,
    )
    result: dict = json.loads(out.stdout)
    result["record_size"] = size
    return result


def upstream_lag_p90_ms(upstream: FakeOpenAI, delay: float) -> float:
    """p90 over the streams of the fake's own drift: (last - first token) - (n - 1) x delay."""
    lags = sorted(
        (r.last_token_at - r.first_token_at) - (r.tokens_sent - 1) * delay
        for r in upstream.requests
        if r.first_token_at is not None and r.last_token_at is not None
    )
    upstream.clear()
    return lags[int(0.9 * (len(lags) - 1))] * 1e3 if lags else 0.0


def service_full_speed(svc: Service, upstream: FakeOpenAI, streams: int, tokens: int) -> float:
    cpu0 = svc.cpu_s()
    r = loadgen(svc.port, streams, tokens, 0.0, 120)
    cpu = svc.cpu_s() - cpu0
    upstream.clear()
    assert r["complete"] == streams, r
    return cpu / (streams * tokens) * 1e6


def ladder(
    svc: Service, upstream: FakeOpenAI, levels: list[int], path: str
) -> tuple[list[tuple[int, str]], int]:
    """Rows per level, and the highest sustained level (0: none)."""
    rows, sustained = [], 0
    for c in levels:
        row, ok = ladder_level(svc, upstream, c, path)
        rows.append((c, row))
        if not ok:  # once more: a failure can be another process's burst on the worker's core
            row, ok = ladder_level(svc, upstream, c, path)
            rows.append((c, row))
        if not ok:
            break
        sustained = c
    return rows, sustained


def ladder_level(svc: Service, upstream: FakeOpenAI, c: int, path: str) -> tuple[str, bool]:
    """One level: its table row, and whether it was sustained."""
    cpu0 = svc.cpu_s()
    r = loadgen(svc.port, c, LADDER_TOKENS, RATE_DELAY, 30 + c / 50, path)
    cpu = svc.cpu_s() - cpu0
    lag = upstream_lag_p90_ms(upstream, RATE_DELAY)
    pcts = r.get("late_pcts_ms") or [0.0] * 101
    late_p90 = pcts[90]
    ok = r["complete"] == c and late_p90 <= LATE_P90_MS
    per_token = cpu / max(r["body_bytes"] / r["record_size"], 1) * 1e6
    return (
        f"{r['complete']}/{c} | {late_p90:.0f} | {pcts[99]:.0f} | {lag:.0f} | "
        f"{per_token:.0f} | {'yes' if ok else '**no**'}"
    ), ok


def user_sys_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of all the worker's threads (clock ticks)."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a thread that just ended
        user, system = user + int(fields[11]), system + int(fields[12])
    return user / tick, system / tick


def split_costs(
    svc: Service,
    upstream: FakeOpenAI,
    streams: int = 100,
    opens: int = 4,
    tokens: int = 200,
    path: str = "chat",
) -> dict[str, float]:
    """Where a chat stream's worker CPU goes: per open (one-token answers, ``opens`` waves
    of ``streams``), and per token at 50 tokens/s (``streams`` answers of ``tokens``, the
    opens subtracted); user and system time apart."""
    u0, s0 = user_sys_s(svc.worker)
    for _ in range(opens):
        loadgen(svc.port, streams, 1, 0.0, 60, path)
        upstream.clear()
    u1, s1 = user_sys_s(svc.worker)
    loadgen(svc.port, streams, tokens, RATE_DELAY, 60 + tokens * RATE_DELAY, path)
    upstream.clear()
    u2, s2 = user_sys_s(svc.worker)
    open_user, open_sys = (u1 - u0) / (streams * opens), (s1 - s0) / (streams * opens)
    per = streams * (tokens - 1)
    return {
        "open_user_ms": open_user * 1e3,
        "open_sys_ms": open_sys * 1e3,
        "token_user_us": ((u2 - u1) / streams - open_user) * streams / per * 1e6,
        "token_sys_us": ((s2 - s1) / streams - open_sys) * streams / per * 1e6,
    }


def print_split(split: dict[str, dict[str, float]]) -> None:
    print(
        f"\nWhere a chat stream's worker CPU goes (service; opens: one-token answers; "
        f"tokens: {LADDER_TOKENS}-token-per-second streams, opens subtracted):\n"
    )
    print(
        "| mode, path | open, ms user + sys | per token, µs user + sys | "
        f"per stream-second ({LADDER_TOKENS} tokens), ms |"
    )
    print("| --- | ---: | ---: | ---: |")
    for mode, c in split.items():
        second = (
            c["open_user_ms"]
            + c["open_sys_ms"]
            + LADDER_TOKENS * (c["token_user_us"] + c["token_sys_us"]) / 1e3
        )
        print(
            f"| {mode} | {c['open_user_ms']:.2f} + {c['open_sys_ms']:.2f} | "
            f"{c['token_user_us']:.0f} + {c['token_sys_us']:.0f} | {second:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--modes", default="raw,sdk")
    parser.add_argument("--paths", default="chat,v1", help="ladders through /chat and /v1")
    parser.add_argument("--ladder-only", action="store_true", help="skip the CPU-per-token rows")
    parser.add_argument(
        "--split",
        action="store_true",
        help="only where a stream's CPU goes: per open and per token, user and "
        "system time, through /chat (~1 min)",
    )
    args = parser.parse_args()
    modes, paths = args.modes.split(","), args.paths.split(",")
    if CORES:
        os.sched_setaffinity(0, {CORES[1]})  # the fake upstream's thread and loadgen inherit it
    build_loadgen()
    tokens, streams = (50, 4) if args.smoke else (500, 40)
    slow_streams = 10 if args.smoke else 100
    levels = [20] if args.smoke else [10, 25, 50, 75, 100, 150, 200, 250, 300, 400, 600, 800]
    started = time.monotonic()
    cpu_rows: list[tuple[str, dict[str, float]]] = [
        ("in-process, as fast as the upstream sends", {}),
        ("in-process, 50 tokens/s", {}),
        ("service, as fast as the upstream sends", {}),
    ]
    ladders: dict[tuple[str, str], tuple[list[tuple[int, str]], int]] = {}
    if args.split:
        split: dict[str, dict[str, float]] = {}
        with FakeOpenAI(api_key=KEY) as upstream:
            for mode in modes:
                svc = Service(
                    mode, upstream.base_url, ROOT / "bench" / "out" / f"chat-gunicorn-{mode}.log"
                )
                try:
                    for path in paths:
                        loadgen(svc.port, 2, 5, 0.0, 30, path)  # warm up: client, pool, imports
                        upstream.clear()
                        split[f"{mode} {PATHS[path].split('?')[0]}"] = split_costs(
                            svc, upstream, path=path
                        )
                finally:
                    svc.stop()
        print_split(split)
        return
    with FakeOpenAI(api_key=KEY) as upstream:
        for mode in modes:
            if not args.ladder_only:
                cpu_rows[0][1][mode] = in_process_cpu(mode, upstream.base_url, tokens, streams, 0.0)
                cpu_rows[1][1][mode] = in_process_cpu(
                    mode, upstream.base_url, LADDER_TOKENS, slow_streams, RATE_DELAY
                )
            upstream.clear()
            log = ROOT / "bench" / "out" / f"chat-gunicorn-{mode}.log"
            svc = Service(mode, upstream.base_url, log)
            try:
                for path in paths:
                    loadgen(svc.port, 2, 5, 0.0, 30, path)  # warm up: client, pool, imports
                upstream.clear()
                if not args.ladder_only:
                    cpu_rows[2][1][mode] = service_full_speed(svc, upstream, streams, tokens)
                for path in paths:
                    ladders[mode, path] = ladder(svc, upstream, levels, path)
            finally:
                svc.stop()
    if not args.ladder_only:
        print_cpu_rows(cpu_rows, modes, streams, tokens, slow_streams)
    print(
        f"\nService, C concurrent streams of {LADDER_TOKENS} tokens at 50 tokens/s; sustained"
        f" = all complete and p90 token lateness ≤ {LATE_P90_MS:g} ms:\n"
    )
    print(
        "| mode | path | C | complete | lateness p90 ms | p99 ms | upstream lag p90 ms | "
        "worker CPU µs/token | sustained |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for (mode, path), (rows, _) in ladders.items():
        for c, row in rows:
            print(f"| {mode} | {PATHS[path].split('?')[0]} | {c} | {row} |")
    print()
    held = {
        key: f"{'≥ ' if best == levels[-1] else ''}{best}" for key, (_, best) in ladders.items()
    }
    if "raw" in modes:
        print(
            "- **For users: one worker holds "
            + " and ".join(
                f"{held['raw', path]} chat streams through {PATHS[path].split('?')[0]}"
                for path in paths
            )
            + f" at 50 tokens/s** (p90 token lateness ≤ {LATE_P90_MS:g} ms)."
        )
    for mode, path in ladders:
        print(
            f"- {mode} through {PATHS[path].split('?')[0]}: one worker holds "
            f"{held[mode, path]} chat streams at 50 tokens/s."
        )
    if "raw" in modes and "sdk" in modes:
        for path in paths:
            raw, sdk = ladders["raw", path][1], ladders["sdk", path][1]
            ratio = (
                f"{raw / sdk:.1f}x the streams"
                if sdk
                else f"no ratio (the SDK's objects did not hold {levels[0]})"
            )
            print(f"- raw / sdk through {PATHS[path].split('?')[0]}: {ratio} (goal ≥ 5x).")
    print(
        f"- took {time.monotonic() - started:.0f} s; cores (worker, upstream + loadgen): "
        f"{CORES or 'not pinned'}."
    )


def print_cpu_rows(
    cpu_rows: list[tuple[str, dict[str, float]]],
    modes: list[str],
    streams: int,
    tokens: int,
    slow_streams: int,
) -> None:
    print(
        f"Worker CPU per token (µs; {streams} streams x {tokens} tokens as fast as the "
        f"upstream sends; {slow_streams} x {LADDER_TOKENS} tokens at 50 tokens/s in-process):"
        "\n"
    )
    both = "raw" in modes and "sdk" in modes
    print(
        "| M7 chat: µs of CPU per token | "
        + " | ".join(modes)
        + (" | sdk / raw |" if both else " |")
    )
    print("| --- |" + " ---: |" * (len(modes) + both))
    for name, by in cpu_rows:
        cells = [f"{by[m]:.1f}" for m in modes]
        if both:
            cells.append(f"{by['sdk'] / by['raw']:.1f}x")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
