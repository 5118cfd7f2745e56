"""``distillwatch [--landing DIR] [--lakehouse DIR] [--env NAME] COMMAND [options]``.

Every command is a function pair in ``distillwatch.jobs`` (``jobs/``): one that adds its
arguments to a parser and one that runs it, ``run(ctx, args) -> int``; Airflow, Databricks
tasks and tests call the same functions. :data:`COMMANDS` is the explicit table; a
command's module is imported only when that command runs, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from distillwatch import logs
from distillwatch.config import ConfigError, load_config
from distillwatch.context import JobContext
from distillwatch.errors import UserError

if TYPE_CHECKING:
    AddArguments = Callable[[argparse.ArgumentParser], None]
    Run = Callable[[JobContext, argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    help: str
    # returns the command's (add_arguments, run), importing its job module
    load: Callable[[], tuple[AddArguments, Run]]
    # a daily step of one ``--date``: run with the session fitted to that day's size, as
    # the daily steps are (``jobs.daily.fitted_to_day``)
    one_day: bool = False


def _simulate() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import simulate

    return simulate.add_arguments, simulate.run


def _ingest() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import ingest

    return ingest.add_arguments, ingest.run


def _features() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import features

    return features.add_arguments, features.run


def _train() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import train

    return train.add_arguments, train.run


def _score() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import score

    return score.add_arguments, score.run


def _attribute() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import attribute

    return attribute.add_arguments, attribute.run


def _validate() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import validate

    return validate.add_arguments, validate.run


def _daily() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import daily

    return daily.add_daily_arguments, daily.run_daily


def _backfill() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import daily

    return daily.add_backfill_arguments, daily.run_backfill


def _report() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import report

    return report.add_arguments, report.run


def _sql() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import sql

    return sql.add_sql_arguments, sql.run_sql


def _serve_sql() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import sql

    return sql.add_serve_sql_arguments, sql.run_serve_sql


def _maintain() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import maintain

    return maintain.add_arguments, maintain.run


def _enforce() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import enforce

    return enforce.add_arguments, enforce.run


def _review() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import review

    return review.add_arguments, review.run


def _stix_export() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import sharing

    return sharing.add_export_arguments, sharing.run_export


def _run_local() -> tuple[AddArguments, Run]:
    from distillwatch.jobs import run_local

    return run_local.add_arguments, run_local.run


COMMANDS: dict[str, Command] = {
    "simulate": Command("write a synthetic world (landing data + ground truth)", _simulate),
    "ingest": Command("ingest one delivery date into bronze Delta tables", _ingest, one_day=True),
    "features": Command(
        "build silver_exchanges and account_daily_features for one event date", _features, one_day=True
    ),
    "train": Command("train the detectors and register them in MLflow", _train),
    "score": Command("score one date's accounts with the champion model", _score, one_day=True),
    "attribute": Command(
        "discover campaigns and publish the daily attribution table", _attribute, one_day=True
    ),
    "validate": Command("run one table's Great Expectations suite for one date", _validate, one_day=True),
    "daily": Command("run every daily step for one date", _daily),
    "backfill": Command("run the daily steps for a range of dates", _backfill),
    "report": Command("render the daily HTML report", _report, one_day=True),
    "sql": Command("run a SQL query against the lakehouse and print the result", _sql),
    "serve-sql": Command("serve the lakehouse over Thrift (HiveServer2) on localhost", _serve_sql),
    "maintain": Command("retention, OPTIMIZE and VACUUM", _maintain),
    "enforce": Command(
        "recommend an enforcement action for each suspect account of one date", _enforce, one_day=True
    ),
    "review": Command("record an analyst decision: confirm, dismiss, link, label, revoke", _review),
    "stix-export": Command("export a campaign's indicators as a STIX 2.1 bundle", _stix_export),
    "run-local": Command("the main job on the embedded default (what `make run` runs)", _run_local),
}


# Commands whose console is their answer: the log file's path is not printed.
QUIET_COMMANDS = frozenset({"sql"})


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distillwatch", description=__doc__.splitlines()[0])
    parser.add_argument("--landing", help="landing folder (default: conf paths.landing)")
    parser.add_argument("--lakehouse", help="lakehouse folder holding every table and the MLflow store")
    parser.add_argument("--env", default="local", help="configuration environment: conf/<env>.yaml")
    parser.add_argument("--log-level", default="INFO", help="level of the run's log (default INFO)")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="log to the console (Spark's lines too) and show tracebacks, instead of the run's log file",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Only the chosen command's module is imported (imports pull in Spark, MLflow...).
    chosen = next((a for a in (argv or []) if a in COMMANDS), None)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        if name == chosen:
            add_arguments, _ = command.load()
            add_arguments(p)
    return parser


def _sized(ctx: JobContext, args: argparse.Namespace) -> AbstractContextManager[bool]:
    """A one-day command's session fitted to its ``--date``'s delivery, as a daily step's is."""
    from distillwatch.jobs.daily import fitted_to_day

    return fitted_to_day(ctx, args.date)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.env)
    except ConfigError as exc:
        parser.error(str(exc))
    ctx = JobContext(
        cfg=cfg,
        landing=args.landing or cfg.paths.landing,
        lakehouse_root=args.lakehouse or cfg.paths.lakehouse,
    )
    log_file = logs.setup(args.command, ctx.lakehouse_root, args.verbose, args.log_level)
    if log_file is not None and args.command not in QUIET_COMMANDS:
        sys.stderr.write(f"distillwatch {args.command}: log at {log_file}\n")
    _, run = COMMANDS[args.command].load()
    try:
        with _sized(ctx, args) if COMMANDS[args.command].one_day else contextlib.nullcontext():
            return int(run(ctx, args) or 0)
    except UserError as exc:
        sys.stderr.write(f"distillwatch {args.command}: error: {exc}\n")
        return exc.exit_code
    except Exception as exc:
        if log_file is None:
            raise
        with log_file.open("a", encoding="utf-8") as fh:
            traceback.print_exc(file=fh)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        sys.stderr.write(
            f"distillwatch {args.command}: failed: {type(exc).__name__}: {first}\n"
            f"  the traceback is in {log_file}; rerun with --verbose to see it here\n"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
