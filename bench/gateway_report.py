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

    def cpu_ms_at(self, c: int) -> float | None:
        runs = [r["cpu_ms"] for level, r in self.rows if level == c]
        return statistics.median(runs) if runs else None


@dataclass(frozen=True)
class Summary:
    sustained: int
    cpu_ms: float | None


def summarize(rounds: list[Ladder], ref: int) -> Summary:
    cpus = [c for c in (lad.cpu_ms_at(ref) for lad in rounds) if c is not None]
    return Summary(
        statistics.median_low([lad.sustained for lad in rounds]),
        statistics.median(cpus) if cpus else None,
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
    sums = {name: summarize(rounds, ref) for name, rounds in ladders.items()}
    n_rounds = max((len(r) for r in ladders.values()), default=0)
    lines = [
        f"C concurrent streams of {tokens} tokens at 50 tokens/s through `POST {path}`, one "
        f"worker process per gateway on its own core; sustained = every stream complete and "
        f"p90 token lateness ≤ {late_p90_ms:g} ms (levels {', '.join(map(str, levels))}). "
        f"CPU: the serving process, all threads, per stream (its open included) at C = {ref}. "
        f"Medians of {n_rounds} round(s), gateways in rotating order. Ratios: streamer / peer "
        "(streams: above 1 streamer holds more; CPU: below 1 streamer spends less).",
        "",
        "| gateway | sustained streams | worker CPU ms / stream | streamer / peer, streams "
        "| streamer / peer, CPU |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    ours = sums.get("streamer")
    for name, s in sums.items():
        streams, cpu = _ratios(ours, s, top) if name != "streamer" else ("-", "-")
        held = f"≥ {s.sustained}" if s.sustained == top else str(s.sustained)
        cpu_cell = f"{s.cpu_ms:.1f}" if s.cpu_ms is not None else "-"
        lines.append(f"| {name} | {held} | {cpu_cell} | {streams} | {cpu} |")
    lines += [f"| {name} | not measured | - | - | - |" for name in skipped]
    lines += ["", "Gateways:", ""]
    lines += [f"- `{n}`: {labels[n]}." for n in [*ladders, *skipped]]
    lines += [f"- `{n}` not measured: {why}." for n, why in skipped.items()]
    lines += [
        "",
        "Every ladder level (a failing level runs twice):",
        "",
        "| gateway | round | C | complete | lateness p90 ms | p99 ms | upstream lag p90 ms "
        "| worker CPU ms / stream | sustained |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, rounds in ladders.items():
        for i, lad in enumerate(rounds, 1):
            for c, r in lad.rows:
                lines.append(
                    f"| {name} | {i} | {c} | {r['complete']:.0f}/{c} | {r['late_p90']:.0f} | "
                    f"{r['late_p99']:.0f} | {r['lag_p90']:.0f} | {r['cpu_ms']:.1f} | "
                    f"{'yes' if r['ok'] else '**no**'} |"
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
