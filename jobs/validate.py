"""``distillwatch validate --date D --table T``: run one table's expectation suite on a
published day, record the results in ``dq_results`` and Data Docs (``--data-docs``), and exit non-zero
when a critical expectation fails.
"""

from __future__ import annotations

import argparse
import logging

from distillwatch.config import repo_conf_dir
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.quality import available_suites, validate_table

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="event date to validate (YYYY-MM-DD)")
    parser.add_argument(
        "--table", required=True, choices=available_suites(repo_conf_dir()), help="table to validate"
    )
    parser.add_argument(
        "--data-docs",
        choices=("all", "failures", "none"),
        default="all",
        help="render a Data Docs page: always (default), only when an expectation fails, never",
    )


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    day = args.date if isinstance(args.date, str) else args.date.isoformat()
    result = validate_table(ctx, args.table, day, getattr(args, "data_docs", "all"))
    emit(f"{result.table} {result.day}: {result.row_count} rows, run {result.run_id}")
    emit(f"volume baseline: {result.baseline}")
    for outcome in result.outcomes:
        if not outcome.success:
            emit(outcome.line())
    passed = len(result.outcomes) - len(result.failed_critical) - len(result.failed_warnings)
    emit(
        f"{passed} passed, {len(result.failed_critical)} critical failed, "
        f"{len(result.failed_warnings)} warning(s) failed"
    )
    if result.data_docs:
        emit(f"data docs: {result.data_docs}")
    return 0 if result.passed else 1
