"""``distillwatch [--landing DIR] [--lakehouse DIR] [--env NAME] COMMAND [options]``.

Every command is a module in ``jobs/`` with ``add_arguments(parser)`` and
``run(ctx, args) -> int``; Airflow, Databricks wheel tasks and tests call the same
functions. Modules are imported only when their command runs, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from distillwatch.config import ConfigError, load_config
from distillwatch.context import JobContext
from distillwatch.errors import UserError

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("distillwatch.jobs.simulate", "write a synthetic world (landing data + ground truth)"),
    "ingest": ("distillwatch.jobs.ingest", "ingest one delivery date into bronze Delta tables"),
    "features": ("distillwatch.jobs.features", "build silver_exchanges and account_daily_features for one event date"),
    "train": ("distillwatch.jobs.train", "train the detectors and register them in MLflow"),
    "score": ("distillwatch.jobs.score", "score one date's accounts with the champion model"),
    "attribute": ("distillwatch.jobs.attribute", "discover campaigns and publish the daily attribution table"),
    "validate": ("distillwatch.jobs.validate", "run one table's Great Expectations suite for one date"),
    "daily": ("distillwatch.jobs.daily", "run every daily step for one date"),
    "backfill": ("distillwatch.jobs.daily", "run the daily steps for a range of dates"),
    "report": ("distillwatch.jobs.report", "render the daily HTML report"),
    "sql": ("distillwatch.jobs.sql", "run a SQL query against the lakehouse and print the result"),
    "serve-sql": ("distillwatch.jobs.sql", "serve the lakehouse over Thrift (HiveServer2) on localhost"),
    "maintain": ("distillwatch.jobs.maintain", "retention, OPTIMIZE and VACUUM"),
    "run-local": ("distillwatch.jobs.run_local", "the main job on the embedded default (what `make run` runs)"),
}


def _module(command: str) -> object:
    return importlib.import_module(COMMANDS[command][0])


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distillwatch", description=__doc__.splitlines()[0])
    parser.add_argument("--landing", help="landing folder (default: conf paths.landing)")
    parser.add_argument("--lakehouse", help="lakehouse folder holding every table and the MLflow store")
    parser.add_argument("--env", default="local", help="configuration environment: conf/<env>.yaml")
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Only the chosen command's module is imported (imports pull in Spark, MLflow...).
    chosen = next((a for a in (argv or []) if a in COMMANDS), None)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            mod = _module(name)
            adder = getattr(mod, f"add_{name.replace('-', '_')}_arguments", None) or mod.add_arguments  # type: ignore[attr-defined]
            adder(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "alembic", "urllib3", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        cfg = load_config(args.env)
    except ConfigError as exc:
        parser.error(str(exc))
    ctx = JobContext(
        cfg=cfg,
        landing=args.landing or cfg.paths.landing,
        lakehouse_root=args.lakehouse or cfg.paths.lakehouse,
    )
    mod = _module(args.command)
    runner = getattr(mod, f"run_{args.command.replace('-', '_')}", None) or mod.run  # type: ignore[attr-defined]
    try:
        return int(runner(ctx, args) or 0)
    except UserError as exc:
        sys.stderr.write(f"distillwatch {args.command}: error: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
