"""Gateway peers (issue 25): streamer's /v1/chat/completions against the gateways users write.

    .venv/bin/python bench/bench_gateway.py                  # ~7 min; prints a markdown report
    .venv/bin/python bench/bench_gateway.py --write-results  # and puts it in bench/RESULTS.md
    .venv/bin/python bench/bench_gateway.py --smoke          # ~30 s, small levels (CI)

Every gateway (bench/gateway_peers.py: streamer, FastAPI + AsyncOpenAI with StreamingResponse
and with sse-starlette, Flask + the sync OpenAI SDK on gevent, the LiteLLM proxy) relays the
same fake upstream (tests/fake_openai.py) at 50 tokens/s, 50-token answers, to the client as
data-only SSE chunk objects, one worker process each, one gateway at a time. The ladder is
bench_chat.py's: C concurrent streams (bench/loadgen.c), C stepped up until a level fails; a
level is sustained when every stream completes and the p90 token lateness is at most
LATE_P90_MS; a failing level runs once more (the machine is shared). Per gateway: the highest
sustained C, and the serving process's CPU (all threads, /proc schedstat) per 50-token stream,
opens included, in a wave of C = REF_C streams of its own after a warm-up wave (per-stream CPU
falls as C grows, so each gateway's own limit would not compare). ``--rounds`` rounds (5),
gateways in rotating order, each started fresh; the report (bench/gateway_report.py) gives
medians and streamer / peer ratios; every figure also goes to bench/out/gateway/results.json.

Each gateway frames its chunks its own way (field order, nulls, CRLF), so the record sizes
loadgen counts by are measured per gateway from one answer before its ladder (``sizes``).

Placement as bench_chat.py: the gateway on one core, this process (the fake upstream) and
loadgen on the other, ``STREAMER_BENCH_CORES=server,client`` or the first two cores. streamer
and the Flask peer run on this interpreter; the others on bench/.venv's, which is created or
completed from bench/requirements.txt unless ``--no-install``; a gateway whose packages are not
there is listed as not measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from bench_chat import (
    CORES,
    KEY,
    LADDER_TOKENS,
    LATE_P90_MS,
    RATE_DELAY,
    event_sizes,
    upstream_lag_p90_ms,
)
from gateway_peers import GATEWAYS, PATH, Gateway, Running, chat_request
from gateway_report import TITLE, Ladder, report, write_section
from run import BENCH, LOADGEN, OUT, VENV_PY, build_loadgen, ensure_venv

from tests.fake_openai import FakeOpenAI, fake_model

LEVELS = [10, 25, 50, 75, 100, 150, 200, 250, 300]
SMOKE_LEVELS = [5, 10]
REF_C = 50  # the wave whose CPU per stream is compared (smoke: the first level)


def sizes(port: int, model: str) -> tuple[int, int]:
    """:func:`bench_chat.event_sizes` of this gateway's whole answer for ``model``, which
    must have every one of its tokens."""
    return event_sizes(port, PATH, chat_request(model), expect=LADDER_TOKENS)


def level(srv: Running, upstream: FakeOpenAI, c: int, first: int, size: int) -> dict[str, float]:
    """One ladder level: C streams at once; its figures."""
    model = fake_model(tokens=LADDER_TOKENS, delay=RATE_DELAY)
    deadline = 30 + c / 50
    cpu0 = srv.cpu_s()
    argv = [str(LOADGEN), "many", str(srv.port), PATH, str(c), str(size), str(LADDER_TOKENS)]
    argv += [str(RATE_DELAY * 1000), str(deadline), json.dumps(chat_request(model)), str(first)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=deadline + 30, check=True)
    cpu = srv.cpu_s() - cpu0
    r = json.loads(out.stdout)
    pcts = r.get("late_pcts_ms") or [0.0] * 101
    ok = r["complete"] == c and pcts[90] <= LATE_P90_MS
    return {
        "complete": r["complete"],
        "late_p90": pcts[90],
        "late_p99": pcts[99],
        "lag_p90": upstream_lag_p90_ms(upstream, RATE_DELAY),
        "cpu_ms": cpu / c * 1e3,
        "ok": float(ok),
    }


def ladder(srv: Running, upstream: FakeOpenAI, levels: list[int], ref: int) -> Ladder:
    """Warm up, measure the CPU per stream at ``ref``, then climb ``levels``."""
    model = fake_model(tokens=LADDER_TOKENS, delay=RATE_DELAY)
    first, size = sizes(srv.port, model)
    # A fresh gateway's first wave is slow (imports, the upstream pool's connects, first-use
    # caches: LiteLLM's first 25 streams ran 0.5-1 s late in every round, its second wave
    # on time), and that is not what a running gateway pays: one wave at ``ref``, not counted.
    level(srv, upstream, ref, first, size)
    # The CPU figure in its own wave, so a gateway that fails below ``ref`` still has one.
    result = Ladder(token_bytes=size, cpu=level(srv, upstream, ref, first, size))
    for c in levels:
        row = level(srv, upstream, c, first, size)
        result.rows.append((c, row))
        if not row["ok"]:  # once more: a failure can be another process's burst on the core
            row = level(srv, upstream, c, first, size)
            result.rows.append((c, row))
        if not row["ok"]:
            break
        result.sustained = c
    return result


def ensure_deps(gateways: list[Gateway], install: bool) -> None:
    """bench/.venv with bench/requirements.txt, created or completed, as bench/run.py does."""
    wanted = [g for g in gateways if g.venv]
    if not install or not wanted:
        return
    ensure_venv(True)
    if not all(g.installed() for g in wanted):
        req = str(BENCH / "requirements.txt")
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "-r", req], check=True)


def run_round(
    gateways: list[Gateway],
    upstream: FakeOpenAI,
    levels: list[int],
    ref: int,
    ladders: dict[str, list[Ladder]],
    skipped: dict[str, str],
) -> None:
    """Each gateway, fresh, through the whole ladder; one that fails is not run again."""
    server_core = ["taskset", "-c", str(CORES[0])] if CORES else []
    work = OUT / "gateway"
    work.mkdir(parents=True, exist_ok=True)
    for gw in gateways:
        if gw.name in skipped:
            continue
        t0 = time.monotonic()
        try:
            srv = Running(gw, upstream.base_url, server_core, work)
        except RuntimeError as exc:
            skipped[gw.name] = f"did not start ({str(exc).splitlines()[0]})"
            ladders.pop(gw.name, None)
            continue
        try:
            ladders.setdefault(gw.name, []).append(ladder(srv, upstream, levels, ref))
        except (RuntimeError, subprocess.SubprocessError, requests.RequestException) as exc:
            skipped[gw.name] = f"failed: {exc}"
            ladders.pop(gw.name, None)
        finally:
            srv.stop()
            upstream.clear()
        print(f"  {gw.name}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="small levels, one round, ~30 s")
    ap.add_argument("--rounds", type=int, default=None, help="default 5 (smoke: 1)")
    ap.add_argument("--peers", default=",".join(g.name for g in GATEWAYS))
    ap.add_argument("--no-install", action="store_true", help="do not create bench/.venv")
    ap.add_argument("--out", type=Path, help="also write the report to this file")
    ap.add_argument("--write-results", action="store_true", help=f"'## {TITLE}' in RESULTS.md")
    args = ap.parse_args()
    started, load0 = time.monotonic(), os.getloadavg()
    levels = SMOKE_LEVELS if args.smoke else LEVELS
    ref = levels[0] if args.smoke else REF_C
    rounds = args.rounds or (1 if args.smoke else 5)
    chosen = [g for g in GATEWAYS if g.name in args.peers.split(",")]
    ensure_deps(chosen, not args.no_install)
    skipped = {g.name: "its packages are not installed" for g in chosen if not g.installed()}
    if CORES:
        os.sched_setaffinity(0, {CORES[1]})  # the fake upstream's thread and loadgen inherit it
    build_loadgen()
    ladders: dict[str, list[Ladder]] = {g.name: [] for g in chosen if g.name not in skipped}
    with FakeOpenAI(api_key=KEY) as upstream:
        for i in range(rounds):
            order = chosen[i % len(chosen) :] + chosen[: i % len(chosen)]
            print(f"round {i + 1}/{rounds}", file=sys.stderr, flush=True)
            run_round(order, upstream, levels, ref, ladders, skipped)
    labels = {g.name: g.label for g in GATEWAYS}
    body = report(ladders, skipped, labels, levels, ref, LATE_P90_MS, LADDER_TOKENS, PATH)
    cmd = " ".join(["bench/bench_gateway.py", *sys.argv[1:]])
    load = " / ".join(" ".join(f"{x:.2f}" for x in la) for la in (load0, os.getloadavg()))
    body += (
        f"\n- `.venv/bin/python {cmd}`, {time.strftime('%Y-%m-%d %H:%M %Z')}, took "
        f"{time.monotonic() - started:.0f} s; cores (gateway, upstream + loadgen): "
        f"{CORES or 'not pinned'}; load average before / after: {load}.\n"
    )
    print(body)
    raw = {name: [dataclasses.asdict(lad) for lad in rounds] for name, rounds in ladders.items()}
    (OUT / "gateway" / "results.json").write_text(json.dumps(raw, indent=1))
    if args.out:
        args.out.write_text(f"## {TITLE}\n\n{body}")
    if args.write_results:
        write_section(BENCH / "RESULTS.md", body)


if __name__ == "__main__":
    main()
