"""Benchmark streamer against its peers (issue 8): one command, a table in bench/RESULTS.md.

    .venv/bin/python bench/run.py            # everything, ~14 min on 2 cores; rewrites RESULTS.md
    .venv/bin/python bench/run.py --smoke    # everything tiny, ~1 min; writes bench/out/ only

Run it with the service's own interpreter (the venv that has Flask, gunicorn and gevent): it
serves streamer and the two Flask peers. It creates ``bench/.venv`` from
``bench/requirements.txt`` for the Starlette peer and the plot (``--no-install`` skips that,
and the peers that need it), and compiles the load client ``bench/loadgen.c`` with gcc into
``bench/out/``. Node.js 20 (``node`` on PATH) serves the Node peer.

Method: servers on core 0, the load client on core 1 (``taskset``; no pinning on one core).
One worker process per server. Peers are interleaved (the order rotates each round), every
measurement is repeated ``--rounds`` times, and the table shows medians. M3 starts a fresh
server per cell so that its peak RSS belongs to that cell. Options: ``--rounds``,
``--peers node,streamer,...``, ``--only M1,M3``, ``--out PATH``, ``--capacity PEERS``.

The capacity figure (the README's "streams one worker holds"): after M3, for streamer, the
number of M3 streams one worker holds with jitter p99 ≤ 100 ms and ≤ 1 s, narrowed from M3's
steps by a few more M3 runs (``capacity()``; about two minutes).

Sections M5 (adapter), M6 (client) and M7 (chat) are scripts of their own
(``bench/bench_adapter.py``, ``bench/bench_client.py``, ``bench/bench_chat.py``) that print a
markdown table and accept ``--smoke``; a section whose script or module is not there yet is
reported as skipped with a note. They get ``STREAMER_BENCH_URL``, a running streamer with the
benchmark endpoint, in their environment. M5 runs pinned to the server core; M6 and M7 start
servers of their own and place them themselves, on the two cores named in
``STREAMER_BENCH_CORES`` ("server,client").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
VENV = BENCH / ".venv"
VENV_PY = VENV / "bin" / "python"
LOADGEN = OUT / "loadgen"
PY = sys.executable


@dataclass(frozen=True)
class Sizes:
    m1_n: int = 200_000
    m1_size: int = 64
    m2_bytes: int = 1 << 30
    m2_chunk: int = 64 * 1024
    m3_cs: tuple[int, ...] = (1_000, 5_000, 10_000)
    m3_n: int = 20
    m3_size: int = 100
    m3_interval_ms: int = 500
    m4_count: int = 200
    sync_m3_cs: tuple[int, ...] = (1_000,)  # one request at a time: once is enough to show it
    # The capacity figure (capacity()): extra M3 runs per jitter limit, up to this many streams
    # (the peers' worker_connections is 12,000), within this many seconds in all (the whole
    # default run must stay under 20 minutes; a run near 10,000 streams takes ~60 s).
    capacity_probes: int = 2
    capacity_max: int = 12_000
    capacity_budget_s: float = 180.0


FULL = Sizes()
SMOKE = Sizes(
    m1_n=2_000,
    m2_bytes=8 << 20,
    m3_cs=(50,),
    m3_n=3,
    m3_interval_ms=50,
    m4_count=10,
    sync_m3_cs=(50,),
    capacity_probes=1,
    capacity_max=100,
)
# The capacity figure: streams one worker holds with M3's jitter p99 at most this (ms).
CAPACITY_P99_MS = (100, 1_000)


# -- servers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    path: str  # the streaming endpoint
    needs: str = ""  # "node" | "venv" | ""

    def argv(self, port: int) -> tuple[list[str], Path, dict[str, str]]:
        gunicorn_peer = [
            PY,
            "-m",
            "gunicorn",
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "--chdir",
            str(BENCH / "peers"),
        ]
        if self.name == "streamer":
            env = {
                "PORT": str(port),
                "STREAMER_HOST": "127.0.0.1",
                "WEB_CONCURRENCY": "1",
                "STREAMER_BENCH": "1",
                "STREAMER_WORKER_CONNECTIONS": "12000",
                "STREAMER_MAX_STREAMS": "12000",
                # One client address (loopback) opens every stream: no per-client limits.
                "STREAMER_MAX_STREAMS_PER_CLIENT": "0",
                "STREAMER_NEW_STREAMS_PER_CLIENT_S": "0",
            }
            return [PY, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], ROOT, env
        if self.name == "flask-gevent":
            return (
                [*gunicorn_peer, "-k", "gevent", "--worker-connections", "12000", "flask_app:app"],
                ROOT,
                {},
            )
        if self.name == "wsgi-gevent":
            return (
                [*gunicorn_peer, "-k", "gevent", "--worker-connections", "12000", "wsgi_app:app"],
                ROOT,
                {},
            )
        if self.name == "flask-sync":
            return [*gunicorn_peer, "-k", "sync", "flask_app:app"], ROOT, {}
        if self.name == "node":
            return ["node", str(BENCH / "peers" / "node_server.js"), str(port)], ROOT, {}
        if self.name == "starlette":
            return [str(VENV_PY), str(BENCH / "peers" / "starlette_app.py"), str(port)], ROOT, {}
        raise ValueError(self.name)


PEERS = [
    Peer("streamer", "streamer (gunicorn gevent)", "/stream/bench"),
    Peer("node", "Node 20 http", "/stream", needs="node"),
    Peer("starlette", "Starlette/uvicorn+uvloop", "/stream", needs="venv"),
    Peer("flask-gevent", "Flask on gunicorn gevent", "/stream"),
    Peer("flask-sync", "Flask on gunicorn sync", "/stream"),
    # Not a rival: the floor of streamer's own stack (gunicorn's gevent worker, no framework).
    Peer("wsgi-gevent", "bare WSGI on gunicorn gevent", "/stream"),
]


def cores() -> tuple[list[str], list[str]]:
    """taskset prefixes for the server and the client: core 0 and core 1 when there are two."""
    avail = sorted(os.sched_getaffinity(0))
    if len(avail) < 2 or not shutil.which("taskset"):
        return [], []
    return ["taskset", "-c", str(avail[0])], ["taskset", "-c", str(avail[1])]


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, peer: Peer, log_dir: Path) -> None:
        self.peer = peer
        self.port = free_port()
        argv, cwd, env = peer.argv(self.port)
        self.log_path = log_dir / f"{peer.name}-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        for name in ("OPENAI_API_KEY", "REDIS_URL", "STREAMER_API_KEYS", "STREAMER_TESTING"):
            full_env.pop(name, None)
        self.proc = subprocess.Popen(
            [*cores()[0], *argv],
            cwd=cwd,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_raise_nofile,
        )
        self._wait_ready()
        self.pid = self._serving_pid()

    def url(self, query: str) -> str:
        return f"{self.peer.path}?{query}"

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.peer.name} exited:\n{self.log()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}{self.url('n=2&size=8')}", timeout=2
                ) as r:
                    if r.status == 200 and r.read() == b"xxxxxxx\n" * 2:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.peer.name} did not start:\n{self.log()}")

    def _serving_pid(self) -> int:
        """The process that serves requests: gunicorn's worker, else the process itself."""
        if self.peer.name in ("streamer", "flask-gevent", "flask-sync", "wsgi-gevent"):
            out = subprocess.run(
                ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
            if len(out) == 1:
                return int(out[0])
            raise RuntimeError(f"expected one gunicorn worker, found {out}")
        return self.proc.pid

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) in KiB, and CPU ticks, of the serving process."""
        info: dict[str, int] = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    info[key] = int(value.split()[0])
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        info["cpu_ticks"] = int(fields[11]) + int(fields[12])
        return info

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


@contextmanager
def serving(peer: Peer) -> Iterator[Server]:
    srv = Server(peer, OUT / "logs")
    try:
        yield srv
    finally:
        srv.stop()


# -- the load client -------------------------------------------------------------------------


def build_loadgen() -> None:
    OUT.mkdir(exist_ok=True)
    src = BENCH / "loadgen.c"
    if LOADGEN.exists() and LOADGEN.stat().st_mtime >= src.stat().st_mtime:
        return
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise SystemExit("bench needs a C compiler (gcc) for the load client bench/loadgen.c")
    subprocess.run([gcc, "-O2", "-Wall", "-o", str(LOADGEN), str(src)], check=True)


def loadgen(*args: Any, timeout: float = 300) -> dict[str, Any]:
    argv = [*cores()[1], str(LOADGEN), *map(str, args)]
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=True, preexec_fn=_raise_nofile
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def stream_query(n: int, size: int, interval_ms: int = 0) -> str:
    return f"n={n}&size={size}&interval={interval_ms}"


# -- measurements ----------------------------------------------------------------------------

Results = dict[str, dict[str, list[Any]]]  # metric -> peer -> one value per round


def record(results: Results, metric: str, peer: str, value: Any) -> None:
    results.setdefault(metric, {}).setdefault(peer, []).append(value)


def cpu_s(before: dict[str, int], after: dict[str, int]) -> float:
    return (after["cpu_ticks"] - before["cpu_ticks"]) / os.sysconf("SC_CLK_TCK")


def m4_m1_m2(srv: Server, sz: Sizes, results: Results) -> None:
    name = srv.peer.name
    port = srv.port
    # M4: 200 sequential requests on new connections, after a short warm-up.
    loadgen("ttfb", port, srv.url(stream_query(1, 64)), 20)
    r = loadgen("ttfb", port, srv.url(stream_query(1, 64)), sz.m4_count)
    record(results, "M4 ttfb p50 ms", name, r["p50_ms"])
    # M1: one stream of small records, no delay.
    before = srv.status()
    r = loadgen(
        "many", port, srv.url(stream_query(sz.m1_n, sz.m1_size)), 1, sz.m1_size, sz.m1_n, 0, 300
    )
    after = srv.status()
    if r["complete"] == 1:
        record(results, "M1 records/s", name, sz.m1_n / r["busy_s"])
        record(results, "M1 server CPU µs/record", name, cpu_s(before, after) / sz.m1_n * 1e6)
    # M2: bulk.
    n = sz.m2_bytes // sz.m2_chunk
    r = loadgen("many", port, srv.url(stream_query(n, sz.m2_chunk)), 1, sz.m2_chunk, n, 0, 300)
    if r["complete"] == 1:
        record(results, "M2 MB/s", name, r["body_bytes"] / r["busy_s"] / 1e6)


def m3_run(peer: Peer, c: int, sz: Sizes) -> tuple[dict[str, Any], float, int, float]:
    """One M3 cell on a fresh server: the load client's result, the server's CPU seconds,
    its RSS before (KiB) and its peak RSS (KiB)."""
    with serving(peer) as srv:
        base = srv.status()["VmRSS"]
        deadline = sz.m3_n * sz.m3_interval_ms / 1000 + (10 if peer.name == "flask-sync" else 60)
        before = srv.status()
        r = loadgen(
            "many",
            srv.port,
            srv.url(stream_query(sz.m3_n, sz.m3_size, sz.m3_interval_ms)),
            c,
            sz.m3_size,
            sz.m3_n,
            sz.m3_interval_ms,
            deadline,
            timeout=deadline + 60,
        )
        after = srv.status()
    return r, cpu_s(before, after), base, after["VmHWM"]


def m3(peer: Peer, c: int, sz: Sizes, results: Results) -> None:
    r, cpu, base, peak = m3_run(peer, c, sz)
    key = f"M3 C={c}"
    record(results, f"{key} held", peer.name, r["held"])
    record(results, f"{key} complete", peer.name, r["complete"])
    record(results, f"{key} wall s", peer.name, r["busy_s"])
    record(results, f"{key} peak RSS MiB", peer.name, peak / 1024)
    record(results, f"{key} server CPU s", peer.name, cpu)
    if r["held"]:  # per-stream memory and jitter mean nothing when the streams took turns
        record(results, f"{key} KiB/stream", peer.name, (peak - base) / c)
        record(results, f"{key} jitter p50 ms", peer.name, r["jitter_p50_ms"])
        record(results, f"{key} jitter p99 ms", peer.name, r["jitter_p99_ms"])
        record(results, f"{key} jitter pcts", peer.name, r["jitter_pcts_ms"])


def capacity(peer: Peer, sz: Sizes, results: Results) -> None:
    """The user-facing figure: how many M3 streams (``m3_n`` records every
    ``m3_interval_ms``) one worker holds with jitter p99 at most each of
    :data:`CAPACITY_P99_MS`. Starts from M3's steps (medians over the rounds), then narrows
    the step that crosses the limit with ``capacity_probes`` more runs at the geometric
    middle (one run each: as noisy as one M3 cell), while ``capacity_budget_s`` lasts.
    Reports the largest count that met the limit, "≥ N" when even ``capacity_max`` did,
    "< N" when even the smallest did not."""
    seen: dict[int, float] = {}  # streams -> jitter p99 ms (inf: not all held)
    for c in sz.m3_cs:
        held = median(results.get(f"M3 C={c} held", {}).get(peer.name, []))
        p99 = median(results.get(f"M3 C={c} jitter p99 ms", {}).get(peer.name, []))
        if held is not None:
            seen[c] = p99 if held and p99 is not None else float("inf")
    started = time.monotonic()
    for limit in CAPACITY_P99_MS:
        for _ in range(sz.capacity_probes):
            probe = _next_probe(seen, limit, sz.capacity_max)
            if probe is None or time.monotonic() - started > sz.capacity_budget_s:
                break
            t0 = time.monotonic()
            r = m3_run(peer, probe, sz)[0]
            seen[probe] = r["jitter_p99_ms"] if r["held"] else float("inf")
            print(
                f"  capacity {peer.name} C={probe}: p99 {seen[probe]:.0f} ms, "
                f"{time.monotonic() - t0:.1f} s",
                flush=True,
            )
        ok, over = _bracket(seen, limit)
        text = f"≥ {ok:,}" if over is None else f"< {over:,}" if not ok else f"{ok:,}"
        record(results, f"M3 streams held at jitter p99 ≤ {limit:,} ms", peer.name, text)


def _bracket(seen: dict[int, float], limit: float) -> tuple[int, int | None]:
    """The fewest streams seen over ``limit``, and the most seen within it below that."""
    over = min((c for c, p in seen.items() if p > limit), default=None)
    ok = max((c for c, p in seen.items() if p <= limit and (over is None or c < over)), default=0)
    return ok, over


def _next_probe(seen: dict[int, float], limit: float, most: int) -> int | None:
    ok, over = _bracket(seen, limit)
    if over is None:
        return most if ok < most else None
    probe = _round2(((ok or over / 10) * over) ** 0.5)
    return probe if ok < probe < over and probe not in seen else None


def _round2(x: float) -> int:
    """``x`` to two significant digits (7,483 -> 7,500): a count that reads as a step."""
    digits = max(len(str(int(x))) - 2, 0)
    return int(round(x / 10**digits) * 10**digits)


def pair(sz: Sizes, results: Results) -> None:
    srv_core, cli_core = cores()
    send = srv_core[-1] if srv_core else "-1"
    recv = cli_core[-1] if cli_core else "-1"
    r = loadgen("pair", sz.m2_bytes, sz.m2_chunk, send, recv)
    record(results, "M2 MB/s", "loopback pair", r["mb_s"])


# -- pluggable sections (M5, M6, M7) ---------------------------------------------------------


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    script: str
    module: str  # the streamer module (or package) it measures
    # False for a script that starts servers of its own (M6's body server; M7's fake upstream
    # and gunicorn): pinned to one core, its server, its clients and the worker's bridge
    # thread took turns on it, and M7 hit the 600 s timeout. It gets the two cores in
    # STREAMER_BENCH_CORES ("server,client") and places its processes itself.
    pinned: bool = True


SECTIONS = [
    Section("M5", "M5 the async adapter", "bench_adapter.py", "streamer/adapter"),
    Section("M6", "M6 the client", "bench_client.py", "streamer/client", pinned=False),
    Section(
        "M7", "M7 chat on the OpenAI path", "bench_chat.py", "tests/fake_openai.py", pinned=False
    ),
]


def run_section(section: Section, smoke: bool, streamer_url: str | None) -> str:
    script = BENCH / section.script
    missing = [p for p in (script, ROOT / section.module) if not p.exists()]
    if missing:
        names = ", ".join(str(p.relative_to(ROOT)) for p in missing)
        return f"Skipped: {names} not on this branch yet.\n"
    env = {**os.environ}
    if streamer_url:
        env["STREAMER_BENCH_URL"] = streamer_url
    srv_core, cli_core = cores()
    if srv_core:
        env["STREAMER_BENCH_CORES"] = f"{srv_core[-1]},{cli_core[-1]}"
    argv = [*(srv_core if section.pinned else []), PY, str(script), *(["--smoke"] if smoke else [])]
    try:
        out = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=True
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        tail = (getattr(exc, "stderr", "") or "")[-1500:]
        return f"Failed: `{' '.join(argv[-2:])}`:\n\n```\n{tail}\n```\n"
    return out.stdout


# -- the report ------------------------------------------------------------------------------


def median(values: list[Any]) -> Any:
    if not values:
        return None
    if isinstance(values[0], bool):
        return all(values)
    if isinstance(values[0], list):
        return [statistics.median(col) for col in zip(*values, strict=True)]
    return statistics.median(values)


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


DIGITS = {
    "M4 ttfb p50 ms": 3,
    "M1 server CPU µs/record": 2,
    "wall s": 1,
    "peak RSS MiB": 0,
    "KiB/stream": 1,
    "jitter p50 ms": 1,
    "jitter p99 ms": 1,
    "server CPU s": 1,
}


def digits_for(metric: str) -> int:
    for suffix, d in DIGITS.items():
        if metric.endswith(suffix):
            return d
    return 0


def versions() -> dict[str, str]:
    found: dict[str, str] = {"python": platform.python_version()}
    code = (
        "import importlib.metadata as m, json\n"
        "def v(n):\n"
        "    try:\n        return m.version(n)\n"
        "    except m.PackageNotFoundError:\n        return 'absent'\n"
        "print(json.dumps({n: v(n) for n in %r}))"
    )
    for py, names in (
        (PY, ["flask", "gunicorn", "gevent", "greenlet", "werkzeug"]),
        (str(VENV_PY), ["starlette", "uvicorn", "uvloop", "httptools"]),
    ):
        if not Path(py).exists():
            continue
        try:
            out = subprocess.run(
                [py, "-c", code % names], capture_output=True, text=True, check=True
            ).stdout
            found.update(json.loads(out))
        except (subprocess.CalledProcessError, json.JSONDecodeError):
            pass
    if shutil.which("node"):
        found["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True
        ).stdout.strip()
    return found


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
        f"{mem:.0f} GiB RAM"
    )


@dataclass
class Goal:
    text: str
    check: Callable[[dict[str, dict[str, Any]]], tuple[str, bool | None]]


def _get(med: dict[str, dict[str, Any]], metric: str, peer: str) -> Any:
    return med.get(metric, {}).get(peer)


def goals(sz: Sizes) -> list[Goal]:
    big = max(sz.m3_cs)

    def ratio(metric: str, a: str, b: str, need: float, higher: bool = True) -> Goal:
        def check(med: dict[str, dict[str, Any]]) -> tuple[str, bool | None]:
            x, y = _get(med, metric, a), _get(med, metric, b)
            if x is None or y is None or not y:
                return "not measured", None
            r = x / y
            return f"{r:.2f}x", (r >= need) if higher else (r <= need)

        verb = "≥" if higher else "≤"
        return Goal(f"{metric}: {a} / {b} {verb} {need:g}", check)

    return [
        ratio("M1 records/s", "streamer", "node", 2.0),
        ratio("M2 MB/s", "streamer", "loopback pair", 0.9),
        ratio(f"M3 C={big} server CPU s", "streamer", "flask-gevent", 1.0, higher=False),
        ratio(f"M3 C={big} jitter p99 ms", "streamer", "flask-gevent", 1.0, higher=False),
        ratio(f"M3 C={big} KiB/stream", "streamer", "flask-gevent", 1.0, higher=False),
        ratio("M4 ttfb p50 ms", "streamer", "flask-gevent", 1.0, higher=False),
    ]


def write_report(
    path: Path,
    results: Results,
    sz: Sizes,
    args: argparse.Namespace,
    peers: list[Peer],
    skipped: dict[str, str],
    sections: dict[str, str],
    started: float,
    load: tuple[tuple[float, ...], tuple[float, ...]],
    plot: str | None,
) -> None:
    order = sorted(results, key=lambda m: m.split(" ", 1)[0])  # M1, M2, M3 ..., M4 (stable)
    med = {m: {p: median(v) for p, v in results[m].items()} for m in order}
    names = [p.name for p in peers]
    ver = versions()
    lines = [
        "# streamer benchmark results",
        "",
        f"Written by `bench/run.py{' --smoke' if args.smoke else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} in {(time.monotonic() - started) / 60:.1f} min "
        f"(commit {_git_rev()}). Medians of {args.rounds} round(s); peers interleaved.",
        "",
        f"- Machine: {machine()}. Load average before/after: "
        f"{' '.join(f'{x:.2f}' for x in load[0])} / {' '.join(f'{x:.2f}' for x in load[1])}.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items()) + ".",
        "- Pinning: "
        + (
            f"servers `{' '.join(cores()[0])}`, load client `{' '.join(cores()[1])}`"
            if cores()[0]
            else "none (one core)"
        )
        + ". One worker process per server; streamer runs with its own `gunicorn.conf.py`.",
        f"- Settings: M1 {sz.m1_n:,} records x {sz.m1_size} B, no delay; M2 "
        f"{sz.m2_bytes / 2**20:,.0f} MiB in {sz.m2_chunk // 1024} KiB records; M3 "
        f"C = {', '.join(f'{c:,}' for c in sz.m3_cs)} streams x {sz.m3_n} records x "
        f"{sz.m3_size} B every {sz.m3_interval_ms} ms, fresh server per cell; M4 "
        f"{sz.m4_count} sequential requests on new connections, time to the first body byte.",
        f'- Capacity ("M3 streams held at jitter p99 ≤ ..."): the M3 steps, then '
        f"{sz.capacity_probes} more M3 runs per limit at the geometric middle of the step "
        f"that crosses it (up to {sz.capacity_max:,} streams, {sz.capacity_budget_s:.0f} s in "
        f"all); the largest count that met it.",
        "- Load client: `bench/loadgen.c` (epoll, raw sockets, chunked parser), "
        "`Connection: close`. Jitter = arrival - (the stream's first arrival + k x interval).",
    ]
    for peer, why in skipped.items():
        lines.append(f"- {peer} not measured: {why}.")
    lines += [
        "",
        "## Results (medians)",
        "",
        "| metric | " + " | ".join(names) + (" | loopback pair |" if "M2 MB/s" in med else " |"),
        "| --- |" + " ---: |" * (len(names) + (1 if "M2 MB/s" in med else 0)),
    ]
    for metric, by in med.items():
        if metric.endswith("pcts") or metric.endswith("complete"):
            continue
        cells = [fmt(by.get(n), digits_for(metric)) for n in names]
        if "M2 MB/s" in med:
            cells.append(fmt(by.get("loopback pair"), 0) if metric == "M2 MB/s" else "")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    others = [n for n in names if n != "streamer"]
    lines += ["", "## streamer against each peer (ratio of medians)", ""] if others else []
    lines += (
        []
        if not others
        else [
            "Higher is better for records/s and MB/s; lower is better for ttfb, jitter and memory.",
            "",
            "| metric | " + " | ".join(f"vs {n}" for n in names if n != "streamer") + " |",
            "| --- |" + " ---: |" * (len(names) - 1),
        ]
    )
    for metric, by in med.items() if others else []:
        if not any(
            metric.endswith(s)
            for s in (
                "records/s",
                "MB/s",
                "ttfb p50 ms",
                "server CPU s",
                "jitter p99 ms",
                "KiB/stream",
            )
        ):
            continue
        s = by.get("streamer")
        cells = []
        for n in names:
            if n == "streamer":
                continue
            o = by.get(n)
            cells.append(f"{s / o:.2f}x" if s is not None and o else "-")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Goals (issue 17; M7's is in its own section below)",
        "",
        "| goal | measured | met |",
        "| --- | --- | --- |",
    ]
    for goal in goals(sz):
        text, ok = goal.check(med)
        lines.append(f"| {goal.text} | {text} | {'-' if ok is None else fmt(ok)} |")
    if plot:
        lines += ["", f"![M3 jitter and memory]({plot})"]
    analysis = BENCH / "ANALYSIS.md"
    if analysis.exists() and not args.smoke:
        lines += ["", analysis.read_text().rstrip()]
    for key, body in sections.items():
        lines += ["", f"## {key}", "", body.rstrip()]
    lines.append("")
    path.write_text("\n".join(lines))


def _git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def plot_m3(results: Results, sz: Sizes, names: list[str], path: Path) -> bool:
    """M3 jitter and memory per stream, drawn by matplotlib in bench/.venv."""
    if not VENV_PY.exists():
        return False
    data = {"cs": list(sz.m3_cs), "names": names, "series": {}}
    for c in sz.m3_cs:
        for n in names:
            pcts = median(results.get(f"M3 C={c} jitter pcts", {}).get(n, []))
            kib = median(results.get(f"M3 C={c} KiB/stream", {}).get(n, []))
            data["series"].setdefault(n, {})[str(c)] = {"pcts": pcts, "kib": kib}
    script = BENCH / "plot.py"
    r = subprocess.run(
        [str(VENV_PY), str(script), str(path)],
        input=json.dumps(data),
        text=True,
        capture_output=True,
    )
    if r.returncode:
        print(r.stderr, file=sys.stderr)
    return r.returncode == 0


# -- main ------------------------------------------------------------------------------------


def ensure_venv(install: bool) -> bool:
    if VENV_PY.exists():
        return True
    if not install:
        return False
    print("creating bench/.venv from bench/requirements.txt", flush=True)
    subprocess.run([PY, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV_PY), "-m", "pip", "install", "-q", "-r", str(BENCH / "requirements.txt")],
        check=True,
    )
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="everything tiny, in seconds")
    ap.add_argument("--rounds", type=int, default=None, help="repeats (default 3; smoke 1)")
    ap.add_argument("--peers", default=",".join(p.name for p in PEERS))
    ap.add_argument(
        "--only",
        default="M1,M2,M3,M4,M5,M6,M7",
        help="measurements to run (M1, M2 and M4 share a server)",
    )
    ap.add_argument(
        "--capacity",
        default="streamer",
        metavar="PEERS",
        help="peers to find the M3 capacity figure for (extra M3 runs; '' for none)",
    )
    ap.add_argument("--no-install", action="store_true", help="do not create bench/.venv")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report path (default bench/RESULTS.md; smoke: bench/out/)",
    )
    args = ap.parse_args()
    started = time.monotonic()
    load0 = os.getloadavg()
    sz = SMOKE if args.smoke else FULL
    args.rounds = args.rounds or (1 if args.smoke else 3)
    out = args.out or (OUT / "RESULTS-smoke.md" if args.smoke else BENCH / "RESULTS.md")
    only = set(args.only.split(","))
    OUT.mkdir(exist_ok=True)
    (OUT / "logs").mkdir(exist_ok=True)
    build_loadgen()
    have_venv = ensure_venv(not args.no_install)

    skipped: dict[str, str] = {}
    peers = []
    for peer in PEERS:
        if peer.name not in args.peers.split(","):
            continue
        if peer.needs == "node" and not shutil.which("node"):
            skipped[peer.name] = "`node` is not on PATH"
        elif peer.needs == "venv" and not have_venv:
            skipped[peer.name] = "bench/.venv is absent (run without --no-install)"
        else:
            peers.append(peer)

    results: Results = {}
    for rnd in range(args.rounds):
        order = peers[rnd % len(peers) :] + peers[: rnd % len(peers)]
        print(f"round {rnd + 1}/{args.rounds}: {', '.join(p.name for p in order)}", flush=True)
        if only & {"M1", "M2", "M4"}:
            if "M2" in only:
                pair(sz, results)
            for peer in order:
                t0 = time.monotonic()
                with serving(peer) as srv:
                    m4_m1_m2(srv, sz, results)
                print(f"  M4/M1/M2 {peer.name}: {time.monotonic() - t0:.1f} s", flush=True)
        if "M3" in only:
            for c in sz.m3_cs:
                for peer in order:
                    if peer.name == "flask-sync" and (c not in sz.sync_m3_cs or rnd > 0):
                        continue
                    t0 = time.monotonic()
                    m3(peer, c, sz, results)
                    print(f"  M3 C={c} {peer.name}: {time.monotonic() - t0:.1f} s", flush=True)
    if "M3" in only:
        for peer in peers:
            if peer.name in args.capacity.split(","):
                capacity(peer, sz, results)

    sections: dict[str, str] = {}
    wanted = [s for s in SECTIONS if s.key in only]
    if wanted:
        streamer = next(p for p in PEERS if p.name == "streamer")
        with serving(streamer) as srv:
            for section in wanted:
                print(f"  {section.key}", flush=True)
                sections[section.title] = run_section(
                    section, args.smoke, f"http://127.0.0.1:{srv.port}"
                )

    plot = None
    if "M3" in only and have_venv:
        png = out.with_name(out.stem + "-m3.png")
        if plot_m3(results, sz, [p.name for p in peers], png):
            plot = png.name
    (OUT / ("results-smoke.json" if args.smoke else "results.json")).write_text(
        json.dumps(results, indent=1)
    )
    write_report(
        out, results, sz, args, peers, skipped, sections, started, (load0, os.getloadavg()), plot
    )
    print(f"wrote {out} in {(time.monotonic() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
