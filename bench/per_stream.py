"""streamer's own cost per request and per held stream, next to plain Flask on gevent (issue 8).

    .venv/bin/python bench/per_stream.py                  # streamer and flask-gevent
    .venv/bin/python bench/per_stream.py --peers streamer --requests 3000 --streams 2000

Deterministic-ish counts instead of wall-clock on a noisy machine:
- per request: ``--requests`` sequential requests on new connections (``loadgen ttfb``, one
  64-byte record each); the serving worker's CPU time from ``/proc/PID/task/*/schedstat``
  (nanoseconds, all threads) divided by the count, and with ``--callgrind N`` the worker's
  instructions per request over N requests under valgrind (deterministic). Also the TTFB p50
  (wall-clock, noisy).
- per held stream: ``--streams`` concurrent streams of 20 records x 100 B every 500 ms (M3's
  shape); (peak RSS - RSS before) / streams, and the worker CPU per record.
Each peer gets a fresh server per measurement, as M3 does in bench/run.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
from pathlib import Path

import run


def cpu_ns(pid: int) -> int:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass
    return total


def instructions(peer: run.Peer, count: int, held: bool = False) -> float:
    """Instructions (thousands) per request in the worker, under valgrind's callgrind, with
    collection on only around ``count`` requests: deterministic, unlike CPU time on a shared
    machine. Slow (~50x), so keep ``count`` small. ``held``: ``count`` concurrent M3-shaped
    streams (20 records of 100 B every 500 ms) instead of sequential one-record requests."""
    out = run.OUT / "callgrind"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    vg = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--trace-children=yes",
        f"--callgrind-out-file={out}/cg.%p",
    ]

    class Under(run.Peer):
        def argv(self, port: int) -> tuple[list[str], Path, dict[str, str]]:
            argv, cwd, env = peer.argv(port)
            return [*vg, *argv], cwd, env

    wrapped = Under(peer.name, peer.label, peer.path, peer.needs)
    srv = run.Server(wrapped, run.OUT / "logs")
    try:
        url = srv.url(run.stream_query(1, 64))
        run.loadgen("ttfb", srv.port, url, 20)  # warm-up
        ctl = ["callgrind_control"]
        subprocess.run([*ctl, "-i", "on", str(srv.pid)], check=True, capture_output=True)
        if held:
            run.loadgen(
                "many",
                srv.port,
                srv.url(run.stream_query(20, 100, 500)),
                count,
                100,
                20,
                500,
                300,
                timeout=600,
            )
        else:
            run.loadgen("ttfb", srv.port, url, count, timeout=600)
        subprocess.run([*ctl, "-i", "off", str(srv.pid)], check=True, capture_output=True)
        subprocess.run([*ctl, "-d", str(srv.pid)], check=True, capture_output=True)
    finally:
        srv.stop()
    total = 0
    for path in out.glob(f"cg.{srv.pid}*"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total / count / 1e3


def per_request(peer: run.Peer, count: int) -> tuple[float, float, float]:
    with run.serving(peer) as srv:
        url = srv.url(run.stream_query(1, 64))
        run.loadgen("ttfb", srv.port, url, 200)  # warm-up
        before = cpu_ns(srv.pid)
        r = run.loadgen("ttfb", srv.port, url, count)
        used = cpu_ns(srv.pid) - before
    return used / count / 1e3, float(r["p50_ms"])


def held(
    peer: run.Peer, streams: int, n: int = 20, size: int = 100, interval_ms: int = 500
) -> tuple[float, float, float]:
    with run.serving(peer) as srv:
        base = srv.status()["VmRSS"]
        before = cpu_ns(srv.pid)
        r = run.loadgen(
            "many",
            srv.port,
            srv.url(run.stream_query(n, size, interval_ms)),
            streams,
            size,
            n,
            interval_ms,
            120,
            timeout=200,
        )
        used = cpu_ns(srv.pid) - before
        peak = srv.status()["VmHWM"]
    if r["complete"] != streams:
        print(f"  {peer.name}: only {r['complete']} of {streams} streams complete")
    return (peak - base) / streams, used / (streams * n) / 1e3, float(r["jitter_p99_ms"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peers", default="flask-gevent,streamer")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--skip", default="", help="req or held")
    ap.add_argument(
        "--callgrind",
        type=int,
        default=0,
        metavar="N",
        help="also count instructions per request over N requests (valgrind)",
    )
    ap.add_argument(
        "--callgrind-held",
        type=int,
        default=0,
        metavar="C",
        help="only count instructions per stream over C held M3-shaped streams",
    )
    args = ap.parse_args()
    run.OUT.mkdir(exist_ok=True)
    (run.OUT / "logs").mkdir(exist_ok=True)
    run.build_loadgen()
    peers = [p for name in args.peers.split(",") for p in run.PEERS if p.name == name]
    if args.callgrind_held:
        for peer in peers:
            k = instructions(peer, args.callgrind_held, held=True)
            print(f"{peer.name}: {k:,.0f}k instructions per held stream of 20 records")
        return
    rows: dict[str, list[tuple[float, ...]]] = {p.name: [] for p in peers}
    for _ in range(args.rounds):
        for peer in peers:
            req = (0.0, 0.0) if args.skip == "req" else per_request(peer, args.requests)
            req = (req[0], instructions(peer, args.callgrind) if args.callgrind else 0.0, req[1])
            hld = (0.0, 0.0, 0.0) if args.skip == "held" else held(peer, args.streams)
            rows[peer.name].append((*req, *hld))
    print(
        f"| peer | CPU µs/request | k instructions/request | TTFB p50 ms | KiB/held stream "
        f"(C={args.streams}) | CPU µs/record | jitter p99 ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, values in rows.items():
        med = [statistics.median(col) for col in zip(*values, strict=True)]
        print(
            f"| {name} | {med[0]:.0f} | {med[1]:.0f} | {med[2]:.3f} | {med[3]:.1f} "
            f"| {med[4]:.1f} | {med[5]:.0f} |"
        )


if __name__ == "__main__":
    main()
