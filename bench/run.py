"""``make bench ARGS="..."`` = ``python -m bench.run``: simulate days of several sizes, run
every daily step on each in a fresh process and lakehouse, time the DuckDB peer, and
summarise (table, scaling plots, fitted exponents, hub ratios, core projection).

Layout under ``--out`` (default ``bench/out``, gitignored):
  worlds/n<size>/           the simulated day (reused while seed/date/size match)
  worlds/n<size>-hub/       the same day with the hub rewrite (``--hub``)
  runs/<bench_id>/<run>/    one run: lake/ (deleted unless --keep-lakes), plans/, profile/, eventlog/
  results.jsonl             one JSON line per measured step of every run, appended
  summary.md, *.png         written by the summarise step

Examples:
  make bench ARGS="--sizes 20000 --repeats 1"                       # smoke test (minutes)
  make bench ARGS="--sizes 1e6,3e6,1e7 --repeats 3 --hub --update-docs"
  .venv/bin/python -m bench.run --summarise-only --update-docs      # re-summarise the latest bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from distillwatch.console import emit
from distillwatch.jobs.daily import STEP_NAMES
from distillwatch.simulate.settings import load_settings

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DAILY_STEPS = STEP_NAMES  # the steps `distillwatch daily` runs, in order


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(float(s)) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--sizes: {exc}") from exc
    if not sizes or min(sizes) < 1000:
        raise argparse.ArgumentTypeError(
            "--sizes: give exchanges per day, each at least 1000 (e.g. 1e6,3e6,1e7)"
        )
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=_sizes("1e6,3e6,1e7"),
        help="exchanges per simulated day, comma-separated (1e6 = scale 1.0)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per size (median and spread are reported)"
    )
    parser.add_argument("--steps", default=",".join(DAILY_STEPS), help="daily steps to run, comma-separated")
    parser.add_argument("--hub", action="store_true", help="also run each size with the hub rewrite")
    parser.add_argument("--hub-accounts", type=int, default=20_000)
    parser.add_argument(
        "--warm",
        action="store_true",
        help="run every step on the day before first, unmeasured, in the same Spark session (variant"
        " 'warm': the cost of a day inside a scheduled backfill or make run, JVM warm, earlier state present)",
    )
    parser.add_argument("--no-peer", dest="peer", action="store_false", help="skip the DuckDB peer")
    parser.add_argument(
        "--no-gx", dest="gx", action="store_false", help="skip the per-table GX validation timings"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="event log, cProfile and explain plans for the first repeat of every size",
    )
    parser.add_argument("--out", default=str(REPO / "bench" / "out"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--date",
        default=None,
        help="the benchmarked day (default: the day after the simulator's start, conf/simulate/world.yaml)",
    )
    parser.add_argument(
        "--keep-lakes", action="store_true", help="keep each run's lakehouse (disk: ~GBs at 10M)"
    )
    parser.add_argument("--run-timeout", type=int, default=4 * 3600, help="seconds before one run is killed")
    parser.add_argument("--summarise-only", action="store_true", help="only summarise results.jsonl")
    parser.add_argument(
        "--bench-id",
        default=None,
        help="summarise this bench id, or several comma-separated (default: the latest)",
    )
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="write the table into docs/benchmarks.md and the plots into docs/img/",
    )


def _python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", _python())
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _call(cmd: list[str], log_file: Path, timeout: int) -> tuple[int, float]:
    """Run one subprocess with its output in ``log_file``; returns (exit status, seconds)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with log_file.open("w") as fh:
        try:
            rc = subprocess.run(
                cmd, cwd=REPO, env=_env(), stdout=fh, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, time.perf_counter() - t0


def _append(results: Path, row: dict) -> None:  # type: ignore[type-arg]
    row = {**row, "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat()}
    with results.open("a") as fh:
        fh.write(json.dumps(row, default=str) + "\n")


def ensure_world(
    out: Path, size: int, seed: int, day: str, results: Path, common: dict, timeout: int
) -> Path:  # type: ignore[type-arg]
    """The simulated day of ``size`` exchanges, simulated once and then reused."""
    world = out / "worlds" / f"n{size}"
    # The simulator needs two days at least (a model is released mid-window): the world
    # starts the day before the benchmarked one, and only the benchmarked day is ingested.
    start = _day_before(day)
    want = {"size": size, "seed": seed, "date": day, "days": 2}
    marker = world / "bench-world.json"
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return world
    shutil.rmtree(world, ignore_errors=True)
    world.mkdir(parents=True)
    emit(f"simulating {size:,} exchanges for {day} into {world} ...")
    cmd = [
        _python(),
        "-m",
        "distillwatch.cli",
        "--lakehouse",
        str(world / "_scratch"),
        "simulate",
        "--out",
        str(world),
        "--start",
        start,
        "--days",
        "2",
        "--scale",
        repr(size / 1e6),
        "--seed",
        str(seed),
    ]
    rc, wall = _call(cmd, world / "simulate.log", timeout)
    _append(
        results,
        {
            **common,
            "size_target": size,
            "variant": "base",
            "step": "simulate",
            "kind": "setup",
            "status": "ok" if rc == 0 else "failed",
            "wall_s": round(wall, 3),
        },
    )
    if rc != 0:
        raise SystemExit(f"simulate failed (exit {rc}); see {world / 'simulate.log'}")
    shutil.rmtree(world / "_scratch", ignore_errors=True)
    marker.write_text(json.dumps(want))
    return world


def ensure_hub_world(world: Path, n_accounts: int, day: str, timeout: int) -> tuple[Path, int]:
    hub = world.parent / f"{world.name}-hub"
    marker = hub / "bench-hub.json"
    want = {"source": json.loads((world / "bench-world.json").read_text()), "accounts": n_accounts}
    if not (marker.is_file() and json.loads(marker.read_text()) == want):
        shutil.rmtree(hub, ignore_errors=True)
        hub.mkdir(parents=True)
        emit(f"building the hub variant of {world.name} ({n_accounts:,} accounts) ...")
        cmd = [
            _python(),
            "-m",
            "bench.hub",
            "--world",
            str(world),
            "--out",
            str(hub),
            "--date",
            day,
            "--accounts",
            str(n_accounts),
        ]
        rc, _ = _call(cmd, hub / "hub.log", timeout)
        if rc != 0:
            raise SystemExit(f"hub rewrite failed (exit {rc}); see {hub / 'hub.log'}")
        marker.write_text(json.dumps(want))
    return hub, int(json.loads((hub / "hub.json").read_text())["hub_accounts"])


def run_peer(run_dir: Path, results: Path, meta: dict, timeout: int) -> None:  # type: ignore[type-arg]
    """DuckDB over the same silver Parquet files, then check it agrees with Spark."""
    from bench.peer_duckdb import compare_outputs

    files = run_dir / "silver_files.txt"
    spark_row = _last_row(results, meta["bench_id"], meta["run"], "peer_spark")
    if not files.is_file() or spark_row is None:
        log.warning("no Spark peer output in %s: DuckDB peer skipped", run_dir)
        return
    out = run_dir / "peer_duckdb.parquet"
    result_file = run_dir / "peer_duckdb.json"
    cores = len(os.sched_getaffinity(0))
    cmd = [
        _python(),
        "-m",
        "bench.peer_duckdb",
        "--files-from",
        str(files),
        "--out",
        str(out),
        "--threads",
        str(cores),
        "--result",
        str(result_file),
    ]
    if spark_row.get("newest_model"):
        cmd += ["--newest-model", spark_row["newest_model"]]
    rc, _ = _call(cmd, run_dir / "peer_duckdb.log", timeout)
    row = {
        **meta,
        "step": "peer_duckdb",
        "kind": "peer",
        "cores": cores,
        "exchanges": spark_row.get("exchanges"),
    }
    if rc != 0:
        _append(
            results, {**row, "status": "failed", "error": f"exit {rc}, see {run_dir / 'peer_duckdb.log'}"}
        )
        return
    res = json.loads(result_file.read_text())
    agree = compare_outputs(str(run_dir / "peer_spark"), str(out))
    ex = spark_row.get("exchanges")
    _append(
        results,
        {
            **row,
            "status": "ok",
            "wall_s": res["wall_s"],
            "py_peak_mib": res["python_peak_mib"],
            "ex_per_s_per_core": round(ex / res["wall_s"] / cores, 1) if ex and res["wall_s"] else None,
            "duckdb_version": res["duckdb_version"],
            "agreement": agree,
        },
    )
    if not agree["agree"]:
        log.warning("Spark and DuckDB peer outputs differ: %s", agree)


def _last_row(results: Path, bench_id: str, run: str, step: str) -> dict | None:  # type: ignore[type-arg]
    found = None
    with results.open() as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("bench_id") == bench_id and r.get("run") == run and r.get("step") == step:
                found = r
    return found


CODE_DIRS = ("jobs", "pipelines", "distillwatch", "models", "conf", "bench")


def code_version() -> str | None:
    """The checkout's commit, ``+dirty`` when tracked code differs from it: benches of
    different code must not be summarised as repeats of one another."""
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short=7", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--", *CODE_DIRS],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout (an sdist, a Databricks repo export)
    return f"{head}+dirty" if dirty else head


def _day_before(day: str) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


def bench(args: argparse.Namespace) -> str:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    day = args.date or (dt.date.fromisoformat(load_settings().start) + dt.timedelta(days=1)).isoformat()
    bench_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    common = {"bench_id": bench_id, "commit": code_version()}
    emit(
        f"bench {bench_id}: sizes {args.sizes}, {args.repeats} repeat(s), steps {args.steps}, "
        f"hub={args.hub}, peer={args.peer}, gx={args.gx}; results -> {results}"
    )
    t_all = time.perf_counter()
    for size in args.sizes:
        world = ensure_world(out, size, args.seed, day, results, common, args.run_timeout)
        variants: list[tuple[str, Path, int | None]] = [("warm" if args.warm else "base", world, None)]
        if args.hub:
            hub_world, n_hub = ensure_hub_world(world, args.hub_accounts, day, args.run_timeout)
            variants.append(("hub", hub_world, n_hub))
        # variants interleaved within a repeat, so load on the machine hits both alike
        for repeat in range(args.repeats):
            for variant, wdir, n_hub in variants:
                run = f"n{size}-{variant}-r{repeat}"
                run_dir = out / "runs" / bench_id / run
                meta = {
                    **common,
                    "run": run,
                    "size_target": size,
                    "variant": variant,
                    "repeat": repeat,
                    "hub_accounts": n_hub,
                }
                profile = args.profile and repeat == 0
                cmd = [
                    _python(),
                    "-m",
                    "bench.worker",
                    "--landing",
                    str(wdir / "landing"),
                    "--lakehouse",
                    str(run_dir / "lake"),
                    "--date",
                    day,
                    "--steps",
                    args.steps,
                    "--results",
                    str(results),
                    "--meta",
                    json.dumps(meta),
                ]
                cmd += ["--warm-up-date", _day_before(day)] if variant == "warm" else []
                cmd += ["--gx"] if args.gx else []
                cmd += ["--peer"] if args.peer else []
                cmd += ["--profile"] if profile else []
                emit(f"  run {run} ...")
                rc, wall = _call(cmd, run_dir / "worker.log", args.run_timeout)
                emit(f"  run {run}: exit {rc} in {wall:.0f}s (log {run_dir / 'worker.log'})")
                _append(
                    results,
                    {
                        **meta,
                        "step": "run_process",
                        "kind": "setup",
                        "status": "ok" if rc == 0 else "failed",
                        "wall_s": round(wall, 3),
                    },
                )
                if args.peer:
                    run_peer(run_dir, results, meta, args.run_timeout)
                if profile:
                    from bench.profile import summarise_event_log

                    summarise_event_log(run_dir)
                if not args.keep_lakes:
                    shutil.rmtree(run_dir / "lake", ignore_errors=True)
                    shutil.rmtree(run_dir / "peer_spark", ignore_errors=True)
                    (run_dir / "peer_duckdb.parquet").unlink(missing_ok=True)
    emit(f"bench {bench_id}: all runs done in {time.perf_counter() - t_all:.0f}s")
    return bench_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="distillwatch benchmarks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    from bench.summarise import summarise

    bench_id = args.bench_id
    if not args.summarise_only:
        bench_id = bench(args)
    summarise(Path(args.out).resolve(), bench_id, update_docs=args.update_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
