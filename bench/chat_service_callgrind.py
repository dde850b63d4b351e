"""M7: instructions per token in one gunicorn worker (hub and bridge thread) serving chat from
the fake upstream, under callgrind with collection on only around the measured streams (opens
included); several trees side by side, deterministic.

    .venv/bin/python bench/chat_service_callgrind.py --trees /work/main,. --paths chat,v1
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_chat import KEY, build_loadgen, free_port, loadgen  # noqa: E402

from tests.fake_openai import FakeOpenAI  # noqa: E402


def per_token(
    tree: Path, base_url: str, path: str, streams: int, tokens: int, delay: float
) -> float:
    out = Path(tempfile.mkdtemp(prefix="chatcg."))
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "STREAMER_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": base_url,
        "STREAMER_UPSTREAM_RETRIES": "0",
        # One client address (loopback) opens every stream: no per-client limits.
        "STREAMER_MAX_STREAMS_PER_CLIENT": "0",
        "STREAMER_NEW_STREAMS_PER_CLIENT_S": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GUNICORN_CMD_ARGS": "--timeout 600 --graceful-timeout 5",
    }
    for name in ("REDIS_URL", "STREAMER_API_KEYS", "STREAMER_TESTING"):
        env.pop(name, None)
    vg = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--trace-children=yes",
        f"--callgrind-out-file={out}/cg.%p",
    ]
    proc = subprocess.Popen(
        [*vg, sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start under valgrind")
            time.sleep(1)
        (worker,) = map(
            int,
            subprocess.run(
                ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
            ).stdout.split(),
        )
        loadgen(port, 2, 5, 0.0, 120, path)  # warm up: client, pool, imports
        ctl = ["callgrind_control"]
        subprocess.run([*ctl, "-i", "on", str(worker)], check=True, capture_output=True)
        result = loadgen(port, streams, tokens, delay, 600, path)
        subprocess.run([*ctl, "-i", "off", str(worker)], check=True, capture_output=True)
        subprocess.run([*ctl, "-d", str(worker)], check=True, capture_output=True)
        assert result["complete"] == streams, result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    total = 0
    for cg in out.glob(f"cg.{worker}*"):
        for line in cg.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    shutil.rmtree(out, ignore_errors=True)
    return total / (streams * tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", default=str(ROOT))
    parser.add_argument("--paths", default="chat,v1")
    parser.add_argument("--streams", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    build_loadgen()
    with FakeOpenAI(api_key=KEY) as upstream:
        for path in args.paths.split(","):
            for tree in args.trees.split(","):
                n = per_token(
                    Path(tree).resolve(),
                    upstream.base_url,
                    path,
                    args.streams,
                    args.tokens,
                    args.delay,
                )
                print(f"/{path} {tree}: {n / 1e3:.0f}k instructions per token", flush=True)
                upstream.clear()


if __name__ == "__main__":
    main()
