"""Draw M3: jitter distribution and memory per stream. Run by bench/run.py in bench/.venv.

python bench/plot.py OUT.png  < data.json
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    data = json.load(sys.stdin)
    cs, names, series = data["cs"], data["names"], data["series"]
    big = str(max(cs))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in names:
        pcts = series[name].get(big, {}).get("pcts")
        if pcts:
            ax1.plot(pcts, [q / 100 for q in range(101)], label=name)
    ax1.set_xscale("symlog", linthresh=1)
    ax1.set_xlabel("jitter, ms (arrival - own first arrival - k x interval)")
    ax1.set_ylabel("fraction of records")
    ax1.set_title(f"M3 jitter CDF at C = {int(big):,}")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        ys = [series[name].get(str(c), {}).get("kib") or 0 for c in cs]
        ax2.bar([j + i * width for j in range(len(cs))], ys, width, label=name)
    ax2.axhline(12, color="k", linestyle="--", linewidth=1)
    ax2.set_xticks([j + 0.4 - width / 2 for j in range(len(cs))], [f"{c:,}" for c in cs])
    ax2.set_xlabel("concurrent streams C")
    ax2.set_ylabel("peak RSS growth per stream, KiB")
    ax2.set_title("M3 memory per stream (dashed: 12 KiB goal)")
    ax2.grid(alpha=0.3, axis="y")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[1], dpi=100)


if __name__ == "__main__":
    main()
