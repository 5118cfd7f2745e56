"""Airflow DAGs for a deployment on Databricks: they trigger the bundle's jobs
(``databricks.yml``) with ``DatabricksRunNowOperator`` and wait for them.

- ``distillwatch_databricks_daily``: one run per day, the job ``distillwatch-daily`` with
  ``date`` = the start of the data interval; the job's tasks run
  ``distillwatch daily --steps STEP --date D`` on the job cluster, so every step takes the
  day lock and writes its ``runs`` row. ``catchup=True`` backfills missed days oldest first,
  ``max_active_runs=1`` keeps days in order (the job itself also allows one run at a time).
- ``distillwatch_databricks_maintain``: the job ``distillwatch-maintain`` on Sundays at
  12:00 UTC, as of the end of its weekly interval.

Deploy the bundle with its own schedules paused (``--var schedule_pause_status=PAUSED``), so
that only Airflow starts the jobs. Parse-time environment: ``DISTILLWATCH_DATABRICKS_CONN``
(the Airflow connection to the workspace, default ``databricks_default``),
``DISTILLWATCH_DAILY_JOB`` / ``DISTILLWATCH_MAINTAIN_JOB`` (job names, default the prod
target's ``distillwatch-daily`` / ``distillwatch-maintain``; a dev deployment prefixes them
with ``[dev <user>] ``), ``DISTILLWATCH_START`` (first day, default 2026-02-01).
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.providers.databricks.operators.databricks import DatabricksRunNowOperator

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

CONN = os.environ.get("DISTILLWATCH_DATABRICKS_CONN", "databricks_default")
DAILY_JOB = os.environ.get("DISTILLWATCH_DAILY_JOB", "distillwatch-daily")
MAINTAIN_JOB = os.environ.get("DISTILLWATCH_MAINTAIN_JOB", "distillwatch-maintain")
START = dt.datetime.fromisoformat(os.environ.get("DISTILLWATCH_START", "2026-02-01")).replace(
    tzinfo=dt.timezone.utc
)

with DAG(
    dag_id="distillwatch_databricks_daily",
    description="distillwatch on Databricks: the bundle's daily job for the interval's day",
    schedule="@daily",
    start_date=START,
    catchup=True,
    max_active_runs=1,
    # A failed job is run again whole: every step is idempotent.
    default_args={"owner": "distillwatch", "retries": 1, "retry_delay": dt.timedelta(minutes=15)},
    tags=["distillwatch", "databricks"],
) as daily:
    DatabricksRunNowOperator(
        task_id="distillwatch_daily",
        databricks_conn_id=CONN,
        job_name=DAILY_JOB,
        job_parameters={"date": "{{ data_interval_start | ds }}"},
    )

with DAG(
    dag_id="distillwatch_databricks_maintain",
    description="distillwatch on Databricks: the bundle's weekly maintenance job",
    schedule="0 12 * * 0",
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "distillwatch", "retries": 1, "retry_delay": dt.timedelta(minutes=30)},
    tags=["distillwatch", "databricks"],
) as maintain:
    DatabricksRunNowOperator(
        task_id="distillwatch_maintain",
        databricks_conn_id=CONN,
        job_name=MAINTAIN_JOB,
        job_parameters={"date": "{{ data_interval_end | ds }}"},
    )
