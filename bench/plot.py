"""Scaling plots of a benchmark (matplotlib, PNG): wall time per step against exchanges
(log-log, with the fitted power law) and throughput per core against exchanges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_scaling(
    points: dict[str, list[dict[str, Any]]], fits: dict[str, dict[str, float]], out: Path
) -> Path:
    """``points[step]`` = [{exchanges, median, lo, hi}] of the plain day; one line per step."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for step, pts in sorted(points.items()):
        pts = sorted(pts, key=lambda p: p["exchanges"])
        xs = [p["exchanges"] for p in pts]
        ys = [p["median"] for p in pts]
        err = [[p["median"] - p["lo"] for p in pts], [p["hi"] - p["median"] for p in pts]]
        label = step
        if step in fits:
            label += f"  (slope {fits[step]['exponent']:.2f})"
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("exchanges in the day")
    ax.set_ylabel("wall time per run (s), median and min-max")
    ax.set_title("distillwatch daily steps: cost against volume (log-log; slope 1 = linear)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_throughput(points: dict[str, list[dict[str, Any]]], out: Path, target: float | None = None) -> Path:
    """``points[engine]`` = [{exchanges, rate}] exchanges per second per core."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, pts in sorted(points.items()):
        pts = sorted(pts, key=lambda p: p["exchanges"])
        ax.plot([p["exchanges"] for p in pts], [p["rate"] for p in pts], marker="o", label=name)
    if target:
        ax.axhline(target, linestyle="--", color="grey", label=f"target {target:,.0f}/s/core")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("exchanges in the day")
    ax.set_ylabel("exchanges per second per core (median)")
    ax.set_title("throughput per core")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
