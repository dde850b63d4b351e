"""What the per-client counters cost on Redis (streamer/store/redis_counters.py): one admission
per stream, and the renewal each worker runs every ``STREAMER_LEASE_S / 3`` for all the
addresses it holds streams of. Starts its own redis-server.

    python bench/fairness_renew.py --addresses 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamer.config import Config
from streamer.store import open_store
from tests.redis_fixture import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addresses", type=int, default=10_000)
    args = parser.parse_args()
    server = RedisServer(Path(tempfile.mkdtemp(prefix="fairness-renew-")))
    server.start()
    try:
        counters = open_store(Config(redis_url=server.url)).client_counters()
        held = {}
        began = time.perf_counter()
        for i in range(args.addresses):
            address = f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}"
            counters.admit(address, f"m{i}", 64, 20)
            held[address] = [f"m{i}"]
        admitted = time.perf_counter()
        cpu = time.process_time()
        counters.renew(held)
        print(
            f"admit: {(admitted - began) / args.addresses * 1e6:.0f} us each; "
            f"renew {args.addresses} addresses: {time.perf_counter() - admitted:.2f} s wall, "
            f"{time.process_time() - cpu:.2f} s client CPU"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
