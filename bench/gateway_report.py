"""bench/bench_gateway.py's figures and its markdown report: medians over rounds, ratios.

Per gateway and round, a ``Ladder``: its levels' rows and the highest sustained C. Per gateway
the report shows the median over rounds of the sustained C (``median_low``: a level that was
run) and of the worker CPU per stream at the reference level, and streamer / peer of both.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

TITLE = "Gateway peers (issue 25)"


@dataclass
class Ladder:
    rows: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    sustained: int = 0
    token_bytes: int = 0  # one token's SSE event on this gateway's wire
    cpu: dict[str, float] = field(default_factory=dict)  # the CPU wave at the reference C


@dataclass(frozen=True)
class Summary:
    sustained: int
    cpu_ms: float | None
    token_bytes: int


def summarize(rounds: list[Ladder]) -> Summary:
    cpus = [lad.cpu["cpu_ms"] for lad in rounds if lad.cpu]
    return Summary(
        statistics.median_low([lad.sustained for lad in rounds]),
        statistics.median(cpus) if cpus else None,
        rounds[0].token_bytes,
    )


def _ratios(ours: Summary | None, peer: Summary, top: int) -> tuple[str, str]:
    """streamer / peer: streams held (a lower bound when streamer held the top level), CPU."""
    if ours is None:
        return "-", "-"
    streams = "-"
    if peer.sustained:
        streams = f"{'≥ ' if ours.sustained == top else ''}{ours.sustained / peer.sustained:.2f}x"
    cpu = f"{ours.cpu_ms / peer.cpu_ms:.2f}x" if ours.cpu_ms and peer.cpu_ms else "-"
    return streams, cpu


def report(
    ladders: dict[str, list[Ladder]],
    skipped: dict[str, str],
    labels: dict[str, str],
    levels: list[int],
    ref: int,
    late_p90_ms: float,
    tokens: int,
    path: str,
) -> str:
    top = levels[-1]
    sums = {name: summarize(rounds) for name, rounds in ladders.items()}
    n_rounds = max((len(r) for r in ladders.values()), default=0)
    lines = [
        f"C concurrent streams of {tokens} tokens at 50 tokens/s through `POST {path}`, one "
        f"worker process per gateway on its own core; sustained = every stream complete and "
        f"p90 token lateness ≤ {late_p90_ms:g} ms (levels {', '.join(map(str, levels))}). "
        f"CPU: the serving process, all threads, per stream (its open included), in a wave of "
        f"C = {ref} after a warm-up wave of as many. "
        f"Medians of {n_rounds} round(s), gateways in rotating order. Ratios: streamer / peer "
        "(streams: above 1 streamer holds more; CPU: below 1 streamer spends less).",
        "",
        "| gateway | sustained streams | per round | worker CPU ms / stream "
        "| streamer / peer, streams | streamer / peer, CPU | bytes / token |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ours = sums.get("streamer")
    for name, s in sums.items():
        streams, cpu = _ratios(ours, s, top) if name != "streamer" else ("-", "-")
        held = f"≥ {s.sustained}" if s.sustained == top else str(s.sustained)
        cpu_cell = f"{s.cpu_ms:.1f}" if s.cpu_ms is not None else "-"
        each = ", ".join(str(lad.sustained) for lad in ladders[name])
        lines.append(
            f"| {name} | {held} | {each} | {cpu_cell} | {streams} | {cpu} | {s.token_bytes} |"
        )
    lines += [f"| {name} | not measured | - | - | - | - | - |" for name in skipped]
    lines += ["", "Gateways:", ""]
    lines += [f"- `{n}`: {labels[n]}." for n in [*ladders, *skipped]]
    lines += [f"- `{n}` not measured: {why}." for n, why in skipped.items()]
    lines += [
        "",
        "How each runs: bench/gateway_peers.py. The LiteLLM proxy is its own CLI with one "
        'uvicorn worker and a wildcard route (`model_name: "*"` to `openai/*`), without a '
        "master key (`LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY`: no gateway here "
        "checks a key), with its bundled model cost map and its access log on, as deployed. "
        "bytes / token: one token's SSE event as each gateway frames it (`model_dump_json()` "
        "writes every unset field as null; streamer's /v1 and LiteLLM write the fields that "
        "are set), measured from one answer per gateway. What bounds these figures: "
        "bench/ANALYSIS.md, 'Gateway peers'.",
    ]
    lines += [
        "",
        "Every ladder level (a failing level runs twice), after each round's CPU wave:",
        "",
        "| gateway | round | C | complete | lateness p90 ms | p99 ms | upstream lag p90 ms "
        "| worker CPU ms / stream | sustained |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, rounds in ladders.items():
        for i, lad in enumerate(rounds, 1):
            rows = [(ref, lad.cpu, "CPU wave"), *((c, r, "") for c, r in lad.rows)]
            for c, r, what in rows:
                verdict = what or ("yes" if r["ok"] else "**no**")
                lines.append(
                    f"| {name} | {i} | {c} | {r['complete']:.0f}/{c} | {r['late_p90']:.0f} | "
                    f"{r['late_p99']:.0f} | {r['lag_p90']:.0f} | {r['cpu_ms']:.1f} | "
                    f"{verdict} |"
                )
    return "\n".join(lines) + "\n"


def write_section(path: Path, body: str) -> None:
    """Put ``## TITLE`` with ``body`` into the markdown file, replacing the section if there."""
    text = path.read_text() if path.exists() else ""
    head = f"## {TITLE}\n"
    section = f"{head}\n{body.rstrip()}\n"
    if head in text:
        before, _, rest = text.partition(head)
        nxt = rest.find("\n## ")
        text = before + section + (rest[nxt:] if nxt >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)
