"""Run a simulated world through the documented CLI the way a scheduler does: one process per task.

    .venv/bin/python -m bench.scheduled_run --world /tmp/w --lakehouse /tmp/lake --train-after 4 [--days 10]

Runs ``distillwatch --landing WORLD/landing --lakehouse LAKE backfill`` of days 1..N, then
``train --as-of`` day N, then ``backfill`` of days N+1..M, each as its own process (every
Airflow or Databricks task is a fresh interpreter), with

- a working directory that is not the repository (a fresh folder under ``--workdir``), so
  state a command leaves in or reads from the cwd (an ``mlflow.db``, ``mlruns/``,
  ``metastore_db/``, ``spark-warehouse/``) does not silently carry over from the repo, and
  whatever does land there is listed at the end;
- every ``MLFLOW_*`` variable removed from the environment, so each process must find the
  lakehouse's own MLflow store by itself.

``--snapshot REV`` runs the CLI from the committed tree at REV (``git archive`` into
``WORKDIR/code/src``, installed as the wheel would install it into ``WORKDIR/code/site``, which
goes on ``PYTHONPATH`` ahead of the editable install) instead of the working tree, so edits
others have not committed yet do not change what is measured; a deployed wheel is a commit too.

``--train-failure continue`` goes on with the daily backfill after a failed ``train`` (the
champion, or the fallback scorer, stays: in the schedulers the retrain is a job of its own
and does not hold back the daily one); the run still exits 1. ``--resume`` reruns, in the same
``--workdir`` and code snapshot, only the tasks that have not succeeded yet.

``--granularity day`` runs one ``daily --date D`` process per day, ``step`` one
``daily --date D --steps S`` per step as the Airflow DAG in ``conf/airflow/`` does.

Each process's wall time and exit status are printed and written to ``WORKDIR/steps.json``
(with the per-step lines the CLI printed), its stderr and stdout to ``WORKDIR/logs/``. The first
failing process stops the run (exit 2; exit 1 only when nothing but a retrain failed and
``--train-failure continue`` went on). Dates come from the world's ``truth/world.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn

from distillwatch.jobs.daily import STEP_NAMES

REPO = Path(__file__).resolve().parent.parent
# The daily job's steps, in order: the one list jobs/daily.py runs.
DAILY_STEPS = STEP_NAMES
# "[2026-02-01] ingest           ok        66.6s bronze_exchanges=9586" (jobs/daily.py)
_STEP_LINE = re.compile(r"^\[(\d{4}-\d{2}-\d{2})\] (\w+)\s+(ok|failed)\s+([\d.]+)s\s*(.*)$")


@dataclass
class Task:
    """One scheduled task: a name, the CLI arguments after the global options, and its outcome."""

    name: str
    args: list[str]
    rc: int | None = None
    wall_s: float | None = None
    log: str | None = None
    steps: list[dict[str, object]] = field(default_factory=list)
    resumed: bool = False  # succeeded in an earlier run of the same workdir; not rerun


def _refuse(message: str) -> NoReturn:
    """Stop before any process ran, with exit 2 (exit 1 means: only a retrain failed)."""
    sys.stderr.write(message + "\n")
    raise SystemExit(2)


def world_dates(world: Path) -> tuple[dt.date, int]:
    """First day and number of days of a simulated world (``truth/world.json``)."""
    meta = json.loads((world / "truth" / "world.json").read_text())
    return dt.date.fromisoformat(str(meta["start"])), int(meta["days"])


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _range_tasks(start: dt.date, end: dt.date, granularity: str) -> list[Task]:
    if end < start:
        return []
    if granularity == "backfill":
        return [Task(f"backfill {start}..{end}", ["backfill", "--start", str(start), "--end", str(end)])]
    if granularity == "day":
        return [Task(f"daily {d}", ["daily", "--date", str(d)]) for d in _days(start, end)]
    return [
        Task(f"daily {d} {s}", ["daily", "--date", str(d), "--steps", s])
        for d in _days(start, end)
        for s in DAILY_STEPS
    ]


def plan(start: dt.date, days: int, train_after: int, granularity: str) -> list[Task]:
    """Backfill days 1..N, train as of day N, backfill days N+1..days."""
    if not 1 <= train_after <= days:
        raise SystemExit(f"--train-after {train_after} must be between 1 and --days {days}")
    as_of = start + dt.timedelta(days=train_after - 1)
    last = start + dt.timedelta(days=days - 1)
    return [
        *_range_tasks(start, as_of, granularity),
        Task(f"train --as-of {as_of}", ["train", "--as-of", str(as_of)]),
        *_range_tasks(as_of + dt.timedelta(days=1), last, granularity),
    ]


def scheduler_env() -> dict[str, str]:
    """The caller's environment without any MLflow setting (a fresh worker has none)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}


def snapshot(rev: str, dest: Path) -> Path:
    """The committed tree at ``rev`` extracted into ``dest/src`` and installed (no dependencies)
    into ``dest/site`` with the repo's Delta jars linked; returns the folder for ``PYTHONPATH``."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if dest.exists():
        shutil.rmtree(dest)
    src, site = dest / "src", dest / "site"
    src.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(REPO), "archive", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(src)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive {commit} failed")
    # The package-dir mapping (distillwatch.jobs <- jobs/ ...) exists only once installed.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(src),
        ],
        check=True,
    )
    (site / ".jars").symlink_to(REPO / ".jars")  # fetched once by `make jars`, not in git
    (dest / "COMMIT").write_text(commit + "\n")
    return site


def _working_tree() -> str:
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    changed = sorted(line[3:] for line in dirty if line.strip())
    return f"working tree at {head.strip()[:12]}" + (
        f" with uncommitted edits to {', '.join(changed)}" if changed else ""
    )


def _run(task: Task, cmd: list[str], cwd: Path, env: dict[str, str], logs: Path, echo: bool) -> list[str]:
    """Run one task's process; stdout is echoed and kept, stderr goes to the task's log."""
    slug = re.sub(r"[^\w.-]+", "_", task.name).strip("_")
    log_path = logs / f"{slug}.log"  # stderr; stdout beside it as .out
    task.log = str(log_path)
    out: list[str] = []
    t0 = time.perf_counter()
    with log_path.open("w") as log:
        log.write("$ " + " ".join(cmd) + f"\n# cwd {cwd}\n")
        log.flush()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            out.append(line)
            if echo:
                sys.stdout.write(f"    {line}\n")
                sys.stdout.flush()
            m = _STEP_LINE.match(line)
            if m:
                task.steps.append(
                    {"day": m[1], "step": m[2], "status": m[3], "seconds": float(m[4]), "counts": m[5]}
                )
        task.rc = proc.wait()
    task.wall_s = round(time.perf_counter() - t0, 1)
    log_path.with_suffix(".out").write_text("".join(line + "\n" for line in out))
    return out


def _tail(path: str | None, n: int = 30) -> str:
    """The last lines of a task's stderr log and of its stdout."""
    if not path:
        return ""
    err = Path(path).read_text(errors="replace").splitlines()[-n:]
    out_path = Path(path).with_suffix(".out")
    out = out_path.read_text(errors="replace").splitlines()[-5:] if out_path.is_file() else []
    return "\n".join([*err, "# stdout:", *out])


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.iterdir())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", required=True, help="a simulated world (WORLD/landing, WORLD/truth)")
    p.add_argument("--lakehouse", required=True, help="the lakehouse the run builds (should not exist yet)")
    p.add_argument("--train-after", type=int, required=True, help="train as of the N-th day")
    p.add_argument("--days", type=int, help="process the first M days (default: all the world's days)")
    p.add_argument("--granularity", choices=("backfill", "day", "step"), default="backfill")
    p.add_argument("--env", default="local", help="conf environment passed as --env")
    p.add_argument("--bin", default=str(REPO / ".venv" / "bin" / "distillwatch"), help="the CLI")
    p.add_argument("--snapshot", metavar="REV", help="run the code committed at REV, not the working tree")
    p.add_argument("--workdir", help="folder for the cwd, logs and steps.json (default: a new temp folder)")
    p.add_argument("--allow-existing", action="store_true", help="run on a lakehouse that already exists")
    p.add_argument("--train-failure", choices=("stop", "continue"), default="stop")
    p.add_argument(
        "--resume", action="store_true", help="skip the tasks that succeeded in --workdir's last run"
    )
    p.add_argument("--quiet", action="store_true", help="do not echo each process's stdout")
    args = p.parse_args(argv)

    world = Path(args.world).resolve()
    lake = Path(args.lakehouse).resolve()
    if args.resume and not args.workdir:
        _refuse("--resume needs the --workdir of the run to resume")
    if lake.exists() and any(lake.iterdir()) and not (args.allow_existing or args.resume):
        # A second run would train v2 against v1 and skew every figure; a new deployment starts empty.
        _refuse(f"{lake} already holds a lakehouse; remove it or pass --allow-existing")
    start, world_days = world_dates(world)
    days = args.days or world_days
    if days > world_days:
        _refuse(f"--days {days}: the world has only {world_days} days")
    tasks = plan(start, days, args.train_after, args.granularity)

    work = Path(args.workdir).resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="dw-sched-"))
    cwd, logs = work / "cwd", work / "logs"
    cwd.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    env = scheduler_env()
    dropped = sorted(k for k in os.environ if k.startswith("MLFLOW_"))
    before = (
        json.loads((work / "steps.json").read_text())
        if args.resume and (work / "steps.json").is_file()
        else {}
    )
    done = {t["name"]: t for t in before.get("tasks", []) if t.get("rc") == 0}
    for task in tasks:
        if task.name in done:
            prev = done[task.name]
            task.rc, task.wall_s, task.log, task.steps, task.resumed = (
                0,
                prev["wall_s"],
                prev["log"],
                prev["steps"],
                True,
            )
    if args.snapshot:
        # A resumed run keeps the code it started with, wherever HEAD has moved since.
        site = work / "code" / "site" if before.get("commit") else snapshot(args.snapshot, work / "code")
        commit = (work / "code" / "COMMIT").read_text().strip()
        code = f"commit {commit} (snapshot in {work / 'code'})"
        env["PYTHONPATH"] = str(site)
        if not (site / "distillwatch" / "conf").is_dir():
            # commits before the configuration shipped as package data read it from conf/
            env["DISTILLWATCH_CONF_DIR"] = str(work / "code" / "src" / "conf")
        cli = [str(REPO / ".venv" / "bin" / "python"), "-m", "distillwatch.cli"]
    else:
        commit, code, cli = None, _working_tree(), [args.bin]
    base = [*cli, "--env", args.env, "--landing", str(world / "landing"), "--lakehouse", str(lake)]
    sys.stdout.write(
        f"scheduled run: {len(tasks)} processes, days {start}..{start + dt.timedelta(days=days - 1)}, "
        f"train after day {args.train_after}, granularity {args.granularity}\n"
        f"  cwd {cwd} (not the repo), logs {logs}, MLFLOW_* removed: {', '.join(dropped) or 'none set'}\n"
        f"  code: {code}\n"
    )

    failed: list[Task] = []
    train_out: list[str] = []
    t0 = time.perf_counter()
    for task in tasks:
        if task.resumed:
            sys.stdout.write(f"= {task.name}: succeeded in the earlier run ({task.wall_s:.1f}s), not rerun\n")
            if task.args[0] == "train":
                train_out = Path(str(task.log)).with_suffix(".out").read_text().splitlines()
            continue
        sys.stdout.write(f"> {task.name}\n")
        sys.stdout.flush()
        out = _run(task, base + task.args, cwd, env, logs, echo=not args.quiet)
        if task.args[0] == "train":
            train_out = out
        sys.stdout.write(f"< {task.name}: exit {task.rc} in {task.wall_s:.1f}s\n")
        if task.rc != 0:
            failed.append(task)
            if not (task.args[0] == "train" and args.train_failure == "continue"):
                break
            sys.stdout.write("  train failed: the daily backfill goes on with the scorer it has\n")
    total = round(time.perf_counter() - t0, 1)

    leaked = _listing(cwd)
    summary = {
        "world": str(world),
        "lakehouse": str(lake),
        "train_after": args.train_after,
        "days": days,
        "granularity": args.granularity,
        "cwd": str(cwd),
        "code": code,
        "commit": commit,
        "mlflow_env_removed": dropped,
        "total_wall_s": total,
        "failed": [t.name for t in failed],
        "left_in_cwd": leaked,
        "tasks": [asdict(t) for t in tasks],
    }
    (work / "steps.json").write_text(json.dumps(summary, indent=2) + "\n")

    sys.stdout.write("\nprocess                              exit   wall s\n")
    for t in tasks:
        shown = "-" if t.rc is None else str(t.rc)
        wall = "-" if t.wall_s is None else f"{t.wall_s:.1f}"
        sys.stdout.write(f"{t.name:<36} {shown:>4} {wall:>8}{'  (earlier run)' if t.resumed else ''}\n")
    sys.stdout.write(f"{'total (this run)':<36} {'':>4} {total:>8.1f}\n")
    sys.stdout.write(
        "\ntrain output:\n" + ("".join(f"  {line}\n" for line in train_out) or "  (train did not run)\n")
    )
    sys.stdout.write(f"left in the cwd: {', '.join(leaked)}\n" if leaked else "left in the cwd: nothing\n")
    sys.stdout.write(f"steps: {work / 'steps.json'}\n")
    for t in failed:
        sys.stdout.write(f"\nFAILED: {t.name} exited {t.rc}; last lines of {t.log}:\n")
        sys.stdout.write(_tail(t.log) + "\n")
    # 1: only a retrain failed and the days went on (--train-failure continue); 2: a daily step
    # failed, so the lakehouse misses days and nothing measured on it is whole
    if any(t.args[0] != "train" for t in failed):
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
