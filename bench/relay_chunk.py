"""Issue 25: a relayed chunk against a rebuilt one, in process (µs of CPU per chunk).

    .venv/bin/python bench/relay_chunk.py

- ``rebuilt``: what /v1 did before the pass-through and still does for a provider without
  ``relay``: the upstream's chunk parsed (orjson), turned into answer events
  (``ChatAnswer``), built back into a chunk object (``openai_chunks``) and serialized
  (``ChunkSSE``);
- ``relayed``: the pass-through (``streamer.service.openai_api.relay``): the chunk's JSON
  text searched for ``usage``, its ``"usage":null`` cut (a client that did not ask for the
  usage), and sent as it is.

The chunk is one content token of the fake upstream (tests/fake_openai.py). Best of 5
rounds of 20,000 chunks each; the ratio is the figure.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamer.llm.formats import openai_chunks
from streamer.llm.openai_chunks import Answer, ChunkSSE
from streamer.llm.openai_events import ChatAnswer
from streamer.service.openai_api.relay import relayed
from streamer.service.openai_api.usage import UsageMeter

CHUNK = orjson.dumps(
    {
        "id": "chatcmpl-" + "x" * 28,
        "object": "chat.completion.chunk",
        "created": 1765000000,
        "model": "fake",
        "service_tier": "default",
        "system_fingerprint": "fp_f4ke0c0ffe",
        "choices": [
            {"index": 0, "delta": {"content": " tok"}, "logprobs": None, "finish_reason": None}
        ],
        "usage": None,
    }
).decode()
N = 20_000


def rebuilt() -> None:
    answer = ChatAnswer()

    def events():  # type: ignore[no-untyped-def]
        for _ in range(N):
            yield from answer.feed(orjson.loads(CHUNK))

    for chunk in openai_chunks(events(), Answer("fake")):
        ChunkSSE.data(1, chunk)


def relay() -> None:
    meter = UsageMeter(None, "/v1/chat/completions", "fake", None)
    for chunk in relayed(iter([[CHUNK]] * N), meter, include_usage=False):
        ChunkSSE.data(1, chunk)


def main() -> None:
    best = {
        f.__name__: min(timeit.repeat(f, number=1, repeat=5)) / N * 1e6 for f in (rebuilt, relay)
    }
    print("| path | µs per chunk |\n| --- | ---: |")
    for name, us in best.items():
        print(f"| {name} | {us:.2f} |")
    print(f"\nrelayed / rebuilt: {best['relay'] / best['rebuilt']:.2f}")


if __name__ == "__main__":
    main()
