"""Schedulers: the Airflow DAG loaded by real Airflow (its own venv), and the Databricks
bundle's structure. Every command either scheduler runs must parse with the real CLI."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml

from distillwatch.cli import COMMANDS, build_parser
from distillwatch.days import parse_day
from distillwatch.jobs.daily import STEP_NAMES, step_names

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_DIR = REPO / "conf" / "airflow"
AIRFLOW_VENV = REPO / ".venv-airflow"
BUNDLE = REPO / "conf" / "databricks" / "databricks.yml"
# The one step list (conf/schedule/daily_steps.yaml): the DAG's tasks and the bundle's.
DAILY_TASKS = list(step_names())


def _parses(argv: list[str]) -> Any:
    """Parse ``argv`` with the real CLI parser (the command's own arguments included)."""
    return build_parser(argv).parse_args(argv)


@pytest.fixture(scope="module")
def dag_shape(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Create (or reuse) .venv-airflow with the pinned Airflow, then load the DAG folder
    with Airflow's DagBag in that interpreter. Failing to build the venv fails the test."""
    setup = subprocess.run(
        ["bash", str(AIRFLOW_DIR / "setup_venv.sh"), str(AIRFLOW_VENV)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert setup.returncode == 0, (
        f"could not create {AIRFLOW_VENV}:\n{setup.stdout[-2000:]}\n{setup.stderr[-4000:]}"
    )
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYSPARK", "DISTILLWATCH"))
    } | {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run(
        [str(AIRFLOW_VENV / "bin" / "python"), str(AIRFLOW_DIR / "check_dag.py"), str(AIRFLOW_DIR / "dags")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=str(home),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_dag_loads_without_import_errors(dag_shape: dict[str, Any]) -> None:
    assert dag_shape["import_errors"] == {}
    assert dag_shape["airflow"].startswith("3.")
    assert list(dag_shape["dags"]) == ["distillwatch_daily"]


def test_dag_is_a_daily_catchup_chain_one_run_at_a_time(dag_shape: dict[str, Any]) -> None:
    dag = dag_shape["dags"]["distillwatch_daily"]
    assert dag["schedule"] == "@daily"
    assert dag["catchup"] is True
    assert dag["max_active_runs"] == 1
    tasks = dag["tasks"]
    assert sorted(tasks) == sorted(DAILY_TASKS)
    upstream = {t: v["upstream"] for t, v in tasks.items()}
    assert upstream == {t: ([DAILY_TASKS[i - 1]] if i else []) for i, t in enumerate(DAILY_TASKS)}
    for name, task in tasks.items():
        assert task["operator"] == "BashOperator", name
        assert task["retries"] >= 1, name


def test_dag_commands_are_real_cli_invocations_for_the_interval_day(dag_shape: dict[str, Any]) -> None:
    for name, task in dag_shape["dags"]["distillwatch_daily"]["tasks"].items():
        argv = task["rendered"].split()
        assert argv[0] == "distillwatch"
        args = _parses(argv[1:])
        assert args.env == "local"
        assert args.command == "daily"
        assert str(args.date) == "2026-02-10"  # the data interval's start, rendered by Airflow's Jinja
        assert args.steps == name and name in STEP_NAMES


def _bundle() -> dict[str, Any]:
    return yaml.safe_load(BUNDLE.read_text())  # type: ignore[no-any-return]


def _bundle_param(name: str) -> str:
    params = _bundle()["resources"]["jobs"]["distillwatch_daily"]["parameters"]
    return str(next(p["default"] for p in params if p["name"] == name))


def _render(param: str) -> str:
    return (
        param.replace("${var.env}", "databricks")
        .replace("{{job.start_time.iso_date}}", "2026-02-10")
        .replace("{{job.parameters.as_of}}", "2026-02-10")
        .replace("{{job.parameters.date}}", _bundle_param("date"))
    )


def test_bundle_has_dev_and_prod_targets_and_both_jobs() -> None:
    b = _bundle()
    assert b["bundle"]["name"] == "distillwatch"
    assert set(b["targets"]) == {"dev", "prod"}
    assert b["targets"]["dev"].get("default") is True
    assert b["targets"]["prod"]["mode"] == "production"
    jobs = b["resources"]["jobs"]
    assert set(jobs) == {"distillwatch_daily", "distillwatch_retrain"}
    assert jobs["distillwatch_daily"]["max_concurrent_runs"] == 1
    assert "schedule" not in jobs["distillwatch_retrain"]  # on demand


def test_bundle_daily_job_is_the_step_chain() -> None:
    tasks = _bundle()["resources"]["jobs"]["distillwatch_daily"]["tasks"]
    keys = [t["task_key"] for t in tasks]
    assert keys[: len(DAILY_TASKS)] == DAILY_TASKS
    for prev, task in zip(tasks, tasks[1:], strict=False):
        assert task["depends_on"] == [{"task_key": prev["task_key"]}]
    # every step task runs the entry point the Airflow tasks run: `daily --steps STEP`, so
    # both schedulers take the day lock and write the step's `runs` row
    for task in tasks[: len(DAILY_TASKS)]:
        args = _parses([_render(p) for p in task["python_wheel_task"]["parameters"]])
        assert (args.command, args.steps) == ("daily", task["task_key"])


def test_bundle_entry_points_and_commands_exist() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]
    seen = set()
    for job_name, job in _bundle()["resources"]["jobs"].items():
        for task in job["tasks"]:
            wheel = task["python_wheel_task"]
            assert wheel["package_name"] == project
            assert wheel["entry_point"] in scripts
            argv = [_render(p) for p in wheel["parameters"]]
            assert argv[:2] == ["--env", "databricks"]
            command = next(a for a in argv[2:] if not a.startswith("-"))
            assert command in COMMANDS, command
            args = _parses(argv)
            assert args.command == command
            seen.add(command)
            if hasattr(args, "date") and job_name == "distillwatch_daily":
                # the daily job processes the last complete day (UTC)
                assert args.date == dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    assert {"daily", "maintain", "train"} <= seen


def test_bundle_command_typo_would_be_caught() -> None:
    with pytest.raises(SystemExit):
        _parses(["--env", "databricks", "ingestt", "--date", "2026-02-10"])


def test_day_arguments_accept_iso_dates_and_relative_days() -> None:
    now = dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.timezone.utc)
    assert parse_day("2026-02-10") == dt.date(2026, 2, 10)
    assert parse_day("yesterday", now) == dt.date(2026, 2, 28)
    assert parse_day("Today", now) == dt.date(2026, 3, 1)
    with pytest.raises(argparse.ArgumentTypeError, match="not a day"):
        parse_day("2026-02-30")
