"""Airflow DAG ``distillwatch_maintain``: ``distillwatch maintain`` once a week.

Raw-text retention (scrubs prompts older than ``retention.raw_text_days``), OPTIMIZE and
VACUUM of every table. Weekly, not after every day: each run rewrites only the partitions
that aged out since the last one, and VACUUM's retention window is a week anyway. Sundays
at 12:00 UTC, clear of the daily run; no catch-up (the run is as of its own day, a missed
week is covered by the next run). The same parse-time environment as ``distillwatch_daily``:
``DISTILLWATCH_BIN``, ``DISTILLWATCH_ENV``, ``DISTILLWATCH_START``.
"""

from __future__ import annotations

import datetime as dt
import os

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

DAG_ID = "distillwatch_maintain"
BIN = os.environ.get("DISTILLWATCH_BIN", "distillwatch")
START = dt.datetime.fromisoformat(os.environ.get("DISTILLWATCH_START", "2026-02-01")).replace(
    tzinfo=dt.timezone.utc
)

with DAG(
    dag_id=DAG_ID,
    description="distillwatch maintain: raw-text retention, OPTIMIZE, VACUUM",
    schedule="0 12 * * 0",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "distillwatch", "retries": 1, "retry_delay": dt.timedelta(minutes=30)},
    params={"env": os.environ.get("DISTILLWATCH_ENV", "local")},
    tags=["distillwatch"],
) as dag:
    BashOperator(
        task_id="maintain",
        # as of the day the run is for (the end of its weekly interval)
        bash_command=f"{BIN} --env {{{{ params.env }}}} maintain --date {{{{ data_interval_end | ds }}}}",
        execution_timeout=dt.timedelta(hours=8),
    )
