"""Airflow DAG ``distillwatch_daily``: one task per daily step, one run per data interval.

Each task is a BashOperator calling the same CLI the lead's ``distillwatch daily`` runs
(``distillwatch --env ENV daily --date DAY --steps STEP``), so a step's status, duration
and row counts land in the ``runs`` table and the per-day lock guards against a manual
run of the same day. DAY is the start of the data interval (the day the data is about).

- ``catchup=True``: enabling the DAG with an earlier ``start_date`` (or ``airflow dags
  backfill``) runs every missed day, oldest first.
- ``max_active_runs=1``: days run one after another (attribution continues yesterday's
  campaigns, so day D+1 must see day D published).
- retries: a failed step is retried; every step is idempotent (Delta replaceWhere/MERGE).

The tasks are the daily steps of ``conf/schedule/daily_steps.yaml``, the one list
``distillwatch daily`` and the Databricks bundle also follow. It is found at
``$DISTILLWATCH_STEPS_FILE``, else in the installed ``distillwatch`` package
(``distillwatch.conf``), else beside this DAG in a checkout (``conf/schedule/``).

Environment variables read at parse time: ``DISTILLWATCH_BIN`` (the CLI, default
``distillwatch`` on PATH), ``DISTILLWATCH_ENV`` (conf environment, default ``local``),
``DISTILLWATCH_START`` (first day, default 2026-02-01), ``DISTILLWATCH_STEPS_FILE``. A
manual trigger may override ``env`` through the DAG params.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import yaml

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

DAG_ID = "distillwatch_daily"


def _steps_file() -> Path:
    env = os.environ.get("DISTILLWATCH_STEPS_FILE")
    if env:
        return Path(env)
    try:
        from importlib import resources

        installed = Path(str(resources.files("distillwatch.conf"))) / "schedule" / "daily_steps.yaml"
        if installed.is_file():
            return installed
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "schedule" / "daily_steps.yaml"


# The daily steps in run order; each is one task running `distillwatch daily --steps STEP`.
STEPS: tuple[str, ...] = tuple(yaml.safe_load(_steps_file().read_text(encoding="utf-8"))["daily"])

BIN = os.environ.get("DISTILLWATCH_BIN", "distillwatch")
START = dt.datetime.fromisoformat(os.environ.get("DISTILLWATCH_START", "2026-02-01")).replace(
    tzinfo=dt.timezone.utc
)

default_args = {
    "owner": "distillwatch",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=10),
    "retry_exponential_backoff": True,
    "execution_timeout": dt.timedelta(hours=4),
}

with DAG(
    dag_id=DAG_ID,
    description="distillation-campaign detection: ingest -> features -> score -> attribute -> publish -> report",
    schedule="@daily",
    start_date=START,
    catchup=True,
    max_active_runs=1,
    default_args=default_args,
    params={"env": os.environ.get("DISTILLWATCH_ENV", "local")},
    tags=["distillwatch"],
) as dag:
    previous = None
    for step in STEPS:
        task = BashOperator(
            task_id=step,
            bash_command=(
                f"{BIN} --env {{{{ params.env }}}} daily "
                f"--date {{{{ data_interval_start | ds }}}} --steps {step}"
            ),
        )
        if previous is not None:
            previous >> task
        previous = task
