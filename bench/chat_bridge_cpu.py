"""M7: CPU per token of OpenAIProvider.stream() in one gevent-patched process, against the
fake upstream in another process; interleaved A/B of two worktrees (``--trees A,B``), medians.

    .venv/bin/python bench/chat_bridge_cpu.py --trees /work/main,. --rounds 5

Each child: ``streams`` greenlets x ``tokens`` tokens at ``delay`` s per token (opens included).
``--callgrind``: instructions per token (valgrind, slow), from two children per tree, with
``streams`` and ``streams // 4`` streams: their difference leaves out imports and warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_chat import _CHILD, KEY, on_server_core  # noqa: E402

from tests.fake_openai import FakeOpenAI, fake_model  # noqa: E402


def child(
    tree: str, base_url: str, tokens: int, streams: int, delay: float, callgrind: bool = False
) -> float:
    cmd = [
        sys.executable,
        "-c",
        _CHILD,
        tree,
        "raw",
        base_url,
        fake_model(tokens=tokens, delay=delay),
        str(streams),
        KEY,
    ]
    if callgrind:
        with tempfile.TemporaryDirectory() as tmp:
            out_file = Path(tmp) / "cg.out"
            cmd = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out_file}",
                "--dump-instr=no",
                *cmd,
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800)
            summary = next(
                line
                for line in out_file.read_text().splitlines()
                if line.startswith(("summary:", "totals:"))
            )
            return int(summary.split()[1])
    out = subprocess.run(
        [*on_server_core(), *cmd], capture_output=True, text=True, check=True, timeout=300
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["tokens"] == tokens * streams, result
    return float(result["cpu"]) / result["tokens"] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", default=str(ROOT))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--callgrind", action="store_true")
    args = parser.parse_args()
    trees = [str(Path(t).resolve()) for t in args.trees.split(",")]
    results: dict[str, list[float]] = {t: [] for t in trees}
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    with FakeOpenAI(api_key=KEY) as upstream:
        for _ in range(args.rounds):
            for tree in trees:
                if args.callgrind:  # the difference of two sizes: no imports, no warm-up
                    small, big = (
                        child(tree, upstream.base_url, args.tokens, n, args.delay, True)
                        for n in (args.streams // 4, args.streams)
                    )
                    tokens = args.tokens * (args.streams - args.streams // 4)
                    results[tree].append((big - small) / tokens)
                else:
                    results[tree].append(
                        child(tree, upstream.base_url, args.tokens, args.streams, args.delay)
                    )
                upstream.clear()
    unit = "instructions" if args.callgrind else "µs of CPU"
    for tree, values in results.items():
        print(
            f"{tree}: {unit} per token, median {statistics.median(values):.1f} "
            f"({', '.join(f'{v:.1f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
