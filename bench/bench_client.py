"""Records per second parsed by streamer's client, against a hand-rolled requests loop.

A child process serves one pre-encoded NDJSON body (N data records and an ``end`` record,
chunked in 64 KiB chunks as the service's coalescing writes them) on a loopback port, as fast as
the socket takes it, so the server's cost stays out of the client's figures. Then, over the same
bytes, each reader runs ``--repeat`` times and the best run counts:

- ``streamer``: ``Client.records(url)``: typed records, ids checked, the end record required;
- ``iter_lines``: ``for line in r.iter_lines(): json.loads(line)``, the loop people write (and
  which cannot tell a complete stream from a cut one);
- ``iter_lines(64k)``: the same with ``chunk_size=65536`` (the default is 512 bytes).

    python bench/bench_client.py            # 500k records, best of 3
    python bench/bench_client.py --smoke    # seconds
    python bench/bench_client.py --url 'http://127.0.0.1:8000/stream/data?count=200000&interval=0&format=ndjson'
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamer.client import Client
from streamer.wire.framing import NDJSON
from streamer.wire.records import Data

CHUNK = 64 * 1024


def build_body(count: int) -> bytes:
    records = b"".join(NDJSON.data(i, f"data chunk {i}\n") for i in range(1, count + 1))
    records += NDJSON.end(count)
    out = bytearray()
    for i in range(0, len(records), CHUNK):
        piece = records[i : i + CHUNK]
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
    return bytes(out + b"0\r\n\r\n")


def serve(count: int) -> None:
    """Child process: print the port, then answer every connection with the body."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    body = head + build_body(count)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        print(listener.getsockname()[1], flush=True)
        while True:
            conn, _ = listener.accept()
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    got = conn.recv(4096)
                    if not got:
                        break
                    request += got
                try:
                    conn.sendall(body)
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass


def read_streamer(url: str) -> int:
    with Client(timeout=30) as client, client.records(url) as stream:
        n = 0
        for record in stream:
            if type(record) is Data:
                n += 1
        assert stream.end is not None and stream.end.count == n, "incomplete stream"
    return n


def read_iter_lines(url: str, chunk_size: int = 512) -> int:
    with requests.get(url, stream=True, timeout=30) as response:
        n = 0
        for line in response.iter_lines(chunk_size=chunk_size):
            if line:
                obj = json.loads(line)
                if obj.get("event") == "data":
                    n += 1
    return n


def timed(reader: Callable[[str], int], url: str, repeat: int) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        n = reader(url)
        best = min(best, time.perf_counter() - start)
    return best, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--count", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="20k records, one run each")
    parser.add_argument("--url", help="read this stream instead of the built-in server")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0
    if args.smoke:
        args.count, args.repeat = 20_000, 1

    child = None
    url = args.url
    if url is None:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(args.count)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        url = f"http://127.0.0.1:{child.stdout.readline().strip()}/"
    try:
        readers: list[tuple[str, Callable[[str], int]]] = [
            ("streamer", read_streamer),
            ("iter_lines", read_iter_lines),
            ("iter_lines(64k)", lambda u: read_iter_lines(u, 65536)),
        ]
        results = [(name, *timed(reader, url, args.repeat)) for name, reader in readers]
    finally:
        if child is not None:
            child.kill()
            child.wait()
            if child.stdout:
                child.stdout.close()
    base = results[0][1]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), "
        f"{'built-in server' if args.url is None else url}, best of {args.repeat}"
    )
    print("| reader | records | seconds | records/s | vs streamer |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds, n in results:
        print(f"| {name} | {n} | {seconds:.3f} | {n / seconds:,.0f} | {base / seconds:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
