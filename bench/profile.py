"""Where a run's time went, from its Spark event log (``--profile`` runs).

Groups the completed stages by the job group the worker set for each step, and lists per
step the executor run time, shuffle and spill volumes, and the most expensive stages with
their operator names. Written to ``<run>/profile/eventlog-summary.md``; the Python side of
each step is in ``<run>/profile/<step>.prof`` (cProfile; ``python -m pstats`` or snakeviz)
and the physical plan of account_daily_features in ``<run>/plans/``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

METRICS = {
    "internal.metrics.executorRunTime": "run_ms",
    "internal.metrics.executorCpuTime": "cpu_ns",
    "internal.metrics.jvmGCTime": "gc_ms",
    "internal.metrics.shuffle.write.bytesWritten": "shuffle_write",
    "internal.metrics.shuffle.read.remoteBytesRead": "shuffle_read_remote",
    "internal.metrics.shuffle.read.localBytesRead": "shuffle_read_local",
    "internal.metrics.memoryBytesSpilled": "spill_mem",
    "internal.metrics.diskBytesSpilled": "spill_disk",
    "internal.metrics.input.bytesRead": "input_bytes",
}


def _files(path: Path) -> list[Path]:
    """The event files of one application: a plain file, or Spark 4's rolling folder
    (``eventlog_v2_<app>/events_<n>_<app>[.zstd]``) in index order."""
    if path.is_file():
        return [path]
    parts = [p for p in path.glob("events_*") if not p.name.startswith(".")]

    def index(p: Path) -> int:
        m = re.match(r"events_(\d+)_", p.name)
        return int(m.group(1)) if m else 0

    return sorted(parts, key=index)


def _lines(path: Path) -> Any:
    if path.suffix == ".zstd":
        if not shutil.which("zstd"):
            raise RuntimeError(f"{path} is zstd-compressed and no zstd binary is installed")
        out = subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
        yield from out.decode("utf-8", "replace").splitlines()
    else:
        with path.open() as fh:
            yield from fh


def _events(path: Path) -> Any:
    for part in _files(path):
        for line in _lines(part):
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def _job_label(props: dict[str, Any], group: str) -> str:
    """What a job did: its description when the code set one other than the step's own
    (``distillwatch.spark.materialise`` labels each checkpoint, ``Lakehouse`` each write), else
    its call site (``count at jobs/attribute.py:147``; repo-relative), else its SQL execution."""
    desc = props.get("spark.job.description")
    if desc and desc != group:
        return str(desc)
    site = props.get("callSite.short")
    if not site:  # adaptive execution's own jobs carry no call site: name the SQL execution
        execution = props.get("spark.sql.execution.id")
        return f"SQL execution {execution} (unlabelled)" if execution is not None else "(unlabelled)"
    return re.sub(r" at /\S*?/((?:jobs|pipelines|distillwatch|bench)/)", r" at \1", str(site))


def by_label(stages: list[dict[str, Any]], step: str) -> list[tuple[str, dict[str, float]]]:
    """The jobs of one step grouped by label, most executor time first."""
    out: dict[str, dict[str, float]] = {}
    for s in stages:
        if s["group"] != step:
            continue
        agg = out.setdefault(s["label"], defaultdict(float))
        agg["stages"] += 1
        for k in ("run_ms", "shuffle_write", "spill_disk"):
            agg[k] += s.get(k, 0.0)
    return sorted(out.items(), key=lambda kv: -kv[1]["run_ms"])


def parse_event_log(path: Path) -> dict[str, Any]:
    """Per step (job group): totals and the stages, from one Spark event log file."""
    stage_group: dict[int, str] = {}
    stage_label: dict[int, str] = {}
    stages: list[dict[str, Any]] = []
    for ev in _events(path):
        kind = ev.get("Event")
        if kind == "SparkListenerJobStart":
            props = ev.get("Properties") or {}
            group = props.get("spark.jobGroup.id") or "(none)"
            label = _job_label(props, group)
            for sid in ev.get("Stage IDs", []):
                stage_group[sid] = group
                stage_label[sid] = label
        elif kind == "SparkListenerStageCompleted":
            info = ev["Stage Info"]
            m: dict[str, float] = defaultdict(float)
            for acc in info.get("Accumulables", []):
                key = METRICS.get(acc.get("Name", ""))
                if key:
                    try:
                        m[key] += float(acc.get("Value", 0))
                    except (TypeError, ValueError):
                        pass
            ops = sorted({r.get("Name", "") for r in info.get("RDD Info", []) if r.get("Name")})
            wall = (info.get("Completion Time", 0) or 0) - (info.get("Submission Time", 0) or 0)
            stages.append(
                {
                    "stage": info["Stage ID"],
                    "group": stage_group.get(info["Stage ID"], "(none)"),
                    "label": stage_label.get(info["Stage ID"], "(none)"),
                    "name": info.get("Stage Name", ""),
                    "tasks": info.get("Number of Tasks", 0),
                    "wall_ms": wall,
                    "ops": ops[:6],
                    **m,
                }
            )
    by_step: dict[str, dict[str, Any]] = {}
    for s in stages:
        agg = by_step.setdefault(s["group"], defaultdict(float, stages=0, tasks=0))
        agg["stages"] += 1
        agg["tasks"] += s["tasks"]
        for k in ("run_ms", "gc_ms", "shuffle_write", "spill_disk", "spill_mem", "wall_ms"):
            agg[k] += s.get(k, 0.0)
    return {"by_step": by_step, "stages": stages}


def _mib(b: float) -> str:
    return f"{b / 2**20:,.1f}"


def summarise_event_log(run_dir: Path, top: int = 8) -> Path | None:
    """Write ``<run_dir>/profile/eventlog-summary.md``; None when the run has no event log."""
    folder = run_dir / "eventlog"
    logs = sorted(p for p in folder.glob("*") if not p.name.startswith(".")) if folder.is_dir() else []
    if not logs:
        return None
    parsed = parse_event_log(logs[-1])
    lines = [
        f"# Event-log profile of {run_dir.name}",
        "",
        "| step | stages | tasks | stage wall s | executor run s | GC s | shuffle write MiB | spill disk MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step, a in sorted(parsed["by_step"].items(), key=lambda kv: -kv[1]["run_ms"]):
        lines.append(
            f"| {step} | {int(a['stages'])} | {int(a['tasks'])} | {a['wall_ms'] / 1e3:,.1f} | "
            f"{a['run_ms'] / 1e3:,.1f} | {a['gc_ms'] / 1e3:,.1f} | {_mib(a['shuffle_write'])} | "
            f"{_mib(a['spill_disk'])} |"
        )
    lines += [
        "",
        f"## The {top} most expensive stages (executor run time)",
        "",
        "| step | stage | tasks | run s | shuffle write MiB | spill disk MiB | operators |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in sorted(parsed["stages"], key=lambda s: -s.get("run_ms", 0))[:top]:
        lines.append(
            f"| {s['group']} | {s['stage']} | {s['tasks']} | {s.get('run_ms', 0) / 1e3:,.1f} | "
            f"{_mib(s.get('shuffle_write', 0))} | {_mib(s.get('spill_disk', 0))} | "
            f"{', '.join(o[:80] for o in s['ops']).replace('|', '/')} |"
        )
    steps = sorted(parsed["by_step"].items(), key=lambda kv: -kv[1]["run_ms"])
    for step, total in steps[:2]:
        lines += [
            "",
            f"## {step}: where its executor time goes (jobs by description or call site)",
            "",
            "| job | stages | run s | share | shuffle write MiB | spill disk MiB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for label, a in by_label(parsed["stages"], step)[:top]:
            share = a["run_ms"] / total["run_ms"] if total["run_ms"] else 0.0
            lines.append(
                f"| {label.replace('|', '/')} | {int(a['stages'])} | {a['run_ms'] / 1e3:,.1f} | {share:.0%} | "
                f"{_mib(a['shuffle_write'])} | {_mib(a['spill_disk'])} |"
            )
    out = run_dir / "profile" / "eventlog-summary.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out
