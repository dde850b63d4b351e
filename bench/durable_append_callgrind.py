"""Instructions per Durable Streams append in process: the service's WSGI app (memory store,
no keys) answering 64-byte ``POST /v1/stream/<path>`` calls, counted by callgrind, so two
trees compare on a loaded machine where appends/s (bench/bench_durable.py) do not. The count
is the difference of a run of N appends and a run of none (imports and warm-up cancel out);
no HTTP server: the app's own share of an append.

    .venv/bin/python bench/durable_append_callgrind.py --trees /path/to/base,.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BODY = b"x" * 64


def appends(n: int) -> None:
    """In the tree at the working directory: warm up, then ``n`` appends."""
    sys.path.insert(0, os.getcwd())
    from werkzeug.test import EnvironBuilder

    from app import create_app

    app = create_app({"STREAMER_DURABLE": "1", "STREAMER_LOG_LEVEL": "warning"})
    app.test_client().put("/v1/stream/bench", headers={"Content-Type": "text/plain"})
    environ = EnvironBuilder(
        path="/v1/stream/bench", method="POST", data=BODY, headers={"Content-Type": "text/plain"}
    ).get_environ()
    environ["REMOTE_ADDR"] = "127.0.0.1"

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        return None

    def run(count: int) -> None:
        for _ in range(count):
            request = {**environ, "wsgi.input": io.BytesIO(BODY)}
            body = app(request, start_response)
            for _ in body:
                pass
            getattr(body, "close", lambda: None)()

    run(200)
    run(n)


def instructions(tree: Path, n: int) -> int:
    out = Path(tempfile.mkdtemp(prefix="dscg.")) / "callgrind.out"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "STREAMER_API_KEYS")}
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--appends",
            str(n),
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : ([\d,]+)", done.stderr)
    assert found, done.stderr[-2000:]
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", default=".", help="comma-separated trees to compare")
    parser.add_argument("--n", type=int, default=1000, help="appends counted per tree")
    parser.add_argument("--appends", type=int, help=argparse.SUPPRESS)  # the inner run
    args = parser.parse_args()
    if args.appends is not None:
        appends(args.appends)
        return
    print("| tree | instructions per append |")
    print("| --- | --- |")
    for tree in args.trees.split(","):
        path = Path(tree).resolve()
        per = (instructions(path, args.n) - instructions(path, 0)) / args.n
        print(f"| {tree} | {per:,.0f} |")


if __name__ == "__main__":
    main()
