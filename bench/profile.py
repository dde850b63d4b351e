"""Profile one peer's serving process under one load with py-spy (from bench/.venv).

    .venv/bin/python bench/profile.py streamer m3 5000     # or: m1, m2, m4
Writes bench/out/profile-PEER-LOAD.txt: collapsed stacks, plus the top functions by own
and by total samples. Used for the hot-path notes in RESULTS.md.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import threading

import run

peer = next(p for p in run.PEERS if p.name == sys.argv[1])
load, c = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1
run.OUT.mkdir(exist_ok=True)
(run.OUT / "logs").mkdir(exist_ok=True)
run.build_loadgen()
sz = run.FULL
raw = run.OUT / f"profile-{peer.name}-{load}{c}.raw"
with run.serving(peer) as srv:
    if load == "m3":
        args = [
            "many",
            srv.port,
            srv.url(run.stream_query(sz.m3_n, sz.m3_size, sz.m3_interval_ms)),
            c,
            sz.m3_size,
            sz.m3_n,
            sz.m3_interval_ms,
            60,
        ]
        dur = 10
    elif load == "m4":  # sequential short requests: the per-request path
        args = ["ttfb", srv.port, srv.url(run.stream_query(1, 64)), 20_000]
        dur = 5
    elif load == "m1":
        n = sz.m1_n * 5
        args = ["many", srv.port, srv.url(run.stream_query(n, sz.m1_size)), 1, sz.m1_size, n, 0, 60]
        dur = 2
    else:
        n = 4 * sz.m2_bytes // sz.m2_chunk
        args = [
            "many",
            srv.port,
            srv.url(run.stream_query(n, sz.m2_chunk)),
            1,
            sz.m2_chunk,
            n,
            0,
            60,
        ]
        dur = 2
    result: dict[str, object] = {}
    t = threading.Thread(target=lambda: result.update(run.loadgen(*args)))
    t.start()
    subprocess.run(
        [
            str(run.VENV / "bin" / "py-spy"),
            "record",
            "-p",
            str(srv.pid),
            "-d",
            str(dur),
            "-r",
            "200",
            "-f",
            "raw",
            "-o",
            str(raw),
            "--nonblocking",
        ],
        check=True,
        capture_output=True,
    )
    t.join()
own: collections.Counter[str] = collections.Counter()
total: collections.Counter[str] = collections.Counter()
samples = 0
for line in raw.read_text().splitlines():
    stack, _, count = line.rpartition(" ")
    frames = stack.split(";")
    samples += int(count)
    own[frames[-1]] += int(count)
    for f in set(frames):
        total[f] += int(count)
out = [f"{peer.name} {load} c={c}: {samples} samples; load {result}", "", "## own"]
out += [f"{v / samples:6.1%}  {k}" for k, v in own.most_common(40)]
out += ["", "## total"]
out += [f"{v / samples:6.1%}  {k}" for k, v in total.most_common(60)]
txt = run.OUT / f"profile-{peer.name}-{load}{c}.txt"
txt.write_text("\n".join(out) + "\n")
print(txt)
