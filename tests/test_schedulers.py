"""Schedulers: the Airflow DAGs (local and Databricks variants) loaded by real Airflow (its
own venv), and the Databricks bundle: its structure, its runtime and access mode, and the
published bundle JSON schema. Every command either scheduler runs must parse with the real
CLI."""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pyspark
import pytest
import tomllib
import yaml
from jsonschema import Draft202012Validator

from distillwatch.cli import COMMANDS, build_parser
from distillwatch.days import parse_day
from distillwatch.jobs.daily import STEP_NAMES, step_names

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_DIR = REPO / "conf" / "airflow"
AIRFLOW_VENV = REPO / ".venv-airflow"
DAG_FOLDERS = (AIRFLOW_DIR / "dags", AIRFLOW_DIR / "databricks_dags")
BUNDLE = REPO / "databricks.yml"
# The one step list (conf/schedule/daily_steps.yaml): the DAG's tasks and the bundle's.
DAILY_TASKS = list(step_names())
# Apache Spark of each Databricks Runtime (its release notes): the bundle's runtime must ship
# the Spark line the code is tested on, the installed pyspark's.
DBR_SPARK = {"17.3": "4.0", "18": "4.1", "19": "4.2"}
# Access modes of classic compute with a single user (dedicated): the code needs the Spark
# Context, which standard (shared) access mode and serverless do not give.
DEDICATED = {"SINGLE_USER", "DATA_SECURITY_MODE_DEDICATED"}
# The bundle JSON schema published with the Databricks CLI (bundle/schema/jsonschema.json of
# its Go module), fetched once into .cache/ at this pinned version; not committed (its
# license is not ours). DISTILLWATCH_BUNDLE_SCHEMA may name a schema file instead (e.g. the
# output of `databricks bundle schema`).
CLI_MODULE, CLI_VERSION = "github.com/databricks/cli", "v1.13.0"
SCHEMA_CACHE = REPO / ".cache" / "databricks-cli" / CLI_VERSION / "jsonschema.json"
SCHEMA_ENV = "DISTILLWATCH_BUNDLE_SCHEMA"


def _parses(argv: list[str]) -> Any:
    """Parse ``argv`` with the real CLI parser (the command's own arguments included)."""
    return build_parser(argv).parse_args(argv)


@pytest.fixture(scope="module")
def dag_shape(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Create (or reuse) .venv-airflow with the pinned Airflow and Databricks provider, then
    load both DAG folders with Airflow's DagBag in that interpreter. Failing to build the venv
    fails the test."""
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
        [str(AIRFLOW_VENV / "bin" / "python"), str(AIRFLOW_DIR / "check_dag.py"), *map(str, DAG_FOLDERS)],
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
    folders = {dag_id: dag["folder"] for dag_id, dag in dag_shape["dags"].items()}
    assert folders == {
        "distillwatch_daily": "dags",
        "distillwatch_maintain": "dags",
        "distillwatch_databricks_daily": "databricks_dags",
        "distillwatch_databricks_maintain": "databricks_dags",
    }


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


def test_maintain_dag_runs_maintain_weekly_as_of_its_day(dag_shape: dict[str, Any]) -> None:
    dag = dag_shape["dags"]["distillwatch_maintain"]
    assert dag["schedule"] == "0 12 * * 0"  # Sundays 12:00 UTC, clear of the daily run
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    (task,) = dag["tasks"].values()
    assert task["operator"] == "BashOperator"
    argv = task["rendered"].split()
    args = _parses(argv[1:])
    assert (argv[0], args.env, args.command) == ("distillwatch", "local", "maintain")
    assert str(args.date) == "2026-02-11"  # the end of the interval: the run's own day


def test_databricks_dags_trigger_the_bundle_jobs_with_their_parameters(dag_shape: dict[str, Any]) -> None:
    jobs = _bundle()["resources"]["jobs"]
    expected = {
        "distillwatch_databricks_daily": ("distillwatch_daily", "@daily", True, "2026-02-10"),
        "distillwatch_databricks_maintain": ("distillwatch_maintain", "0 12 * * 0", False, "2026-02-11"),
    }
    for dag_id, (job_key, schedule, catchup, day) in expected.items():
        dag = dag_shape["dags"][dag_id]
        assert (dag["schedule"], dag["catchup"], dag["max_active_runs"]) == (schedule, catchup, 1)
        (task,) = dag["tasks"].values()
        assert task["operator"] == "DatabricksRunNowOperator"
        assert task["databricks_conn_id"] == "databricks_default"
        # the job the prod target deploys, under its name, with the job's own parameters
        assert task["job_name"] == jobs[job_key]["name"]
        assert set(task["job_parameters"]) == {p["name"] for p in jobs[job_key]["parameters"]}
        assert parse_day(task["job_parameters"]["date"]) == dt.date.fromisoformat(day)


def _bundle() -> dict[str, Any]:
    return yaml.safe_load(BUNDLE.read_text())  # type: ignore[no-any-return]


def _render(param: str, job: dict[str, Any]) -> str:
    """A task parameter as the job passes it, with each job parameter at its default."""
    out = param.replace("${var.env}", "databricks")
    for p in job.get("parameters", []):
        out = out.replace("{{job.parameters." + p["name"] + "}}", str(p["default"]))
    return out.replace("{{job.start_time.iso_date}}", "2026-02-10")


def test_bundle_has_dev_and_prod_targets_and_its_jobs() -> None:
    b = _bundle()
    assert b["bundle"]["name"] == "distillwatch"
    assert set(b["targets"]) == {"dev", "prod"}
    assert b["targets"]["dev"].get("default") is True
    assert b["targets"]["dev"]["mode"] == "development"
    assert b["targets"]["prod"]["mode"] == "production"
    jobs = b["resources"]["jobs"]
    assert set(jobs) == {"distillwatch_daily", "distillwatch_maintain", "distillwatch_retrain"}
    assert all(job["max_concurrent_runs"] == 1 for job in jobs.values())
    assert "schedule" not in jobs["distillwatch_retrain"]  # on demand


def test_bundle_runs_days_daily_and_maintain_weekly() -> None:
    jobs = _bundle()["resources"]["jobs"]
    # Quartz: seconds minutes hours day-of-month month day-of-week
    daily = jobs["distillwatch_daily"]["schedule"]["quartz_cron_expression"].split()
    weekly = jobs["distillwatch_maintain"]["schedule"]["quartz_cron_expression"].split()
    assert daily[3:] == ["*", "*", "?"]
    assert weekly[3:5] == ["?", "*"] and weekly[5] in {"SUN", "1"}
    assert (daily[2], weekly[2]) != ("12", "12")
    for job in ("distillwatch_daily", "distillwatch_maintain"):
        assert jobs[job]["schedule"]["timezone_id"] == "UTC"
        # paused by a variable when Airflow triggers the jobs instead
        assert jobs[job]["schedule"]["pause_status"] == "${var.schedule_pause_status}"
    assert _bundle()["variables"]["schedule_pause_status"]["default"] == "UNPAUSED"


def test_bundle_daily_job_is_the_step_chain() -> None:
    job = _bundle()["resources"]["jobs"]["distillwatch_daily"]
    tasks = job["tasks"]
    assert [t["task_key"] for t in tasks] == DAILY_TASKS  # maintain is its own weekly job
    assert "depends_on" not in tasks[0]
    for prev, task in zip(tasks, tasks[1:], strict=False):
        assert task["depends_on"] == [{"task_key": prev["task_key"]}]
    # every step task runs the entry point the Airflow tasks run: `daily --steps STEP`, so
    # both schedulers take the day lock and write the step's `runs` row
    for task in tasks:
        args = _parses([_render(p, job) for p in task["python_wheel_task"]["parameters"]])
        assert (args.command, args.steps) == ("daily", task["task_key"])


def test_bundle_builds_the_wheel_of_this_repository() -> None:
    b = _bundle()
    (artifact,) = b["artifacts"].values()
    assert artifact["type"] == "whl"
    assert (BUNDLE.parent / artifact["path"]).resolve() == REPO
    build = artifact["build"].split()
    assert build[:5] == ["python3", "-m", "pip", "wheel", "--no-deps"]
    assert (BUNDLE.parent / build[-1]).resolve() == REPO  # the project pip builds
    out = Path(build[build.index("--wheel-dir") + 1])
    for job in b["resources"]["jobs"].values():
        for task in job["tasks"]:
            (lib,) = task["libraries"]
            assert (BUNDLE.parent / lib["whl"]).parent.resolve() == (BUNDLE.parent / out).resolve()
            assert Path(lib["whl"]).name == "*.whl"


def test_bundle_clusters_are_classic_dedicated_on_the_tested_spark() -> None:
    b = _bundle()
    runtime = b["variables"]["spark_version"]["default"]
    dbr = runtime.split("-")[0].removesuffix(".x")
    assert runtime.endswith("-scala2.13")
    assert DBR_SPARK[dbr] == ".".join(pyspark.__version__.split(".")[:2]), (runtime, pyspark.__version__)
    for name, job in b["resources"]["jobs"].items():
        assert "environments" not in job, name  # serverless
        for cluster in job["job_clusters"]:
            spec = cluster["new_cluster"]
            assert spec["spark_version"] == "${var.spark_version}", name
            assert spec["data_security_mode"] in DEDICATED, name
            assert spec["num_workers"] == "${var.workers}", name
        assert {t["job_cluster_key"] for t in job["tasks"]} == {
            c["job_cluster_key"] for c in job["job_clusters"]
        }


def _python_patterns(node: Any) -> Any:
    """The schema with its ``\\p{L}``/``\\p{N}`` classes (Go regexp) spelled for Python's ``re``."""
    if isinstance(node, dict):
        return {
            k: (
                v.replace(r"[\p{L}\p{N}]", r"[^\W_]").replace(r"\p{L}", r"[^\W\d_]")
                if k == "pattern" and isinstance(v, str)
                else _python_patterns(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


def _fetch_bundle_schema(work: Path) -> Path:
    """bundle/schema/jsonschema.json of the pinned Databricks CLI module, through the Go
    module proxy (`go mod download`), into the cache; skips when it cannot be had."""
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"no `go` command to download {CLI_MODULE}@{CLI_VERSION}; set {SCHEMA_ENV}")
    (work / "go.mod").write_text("module scratch\n\ngo 1.21\n")
    try:
        done = subprocess.run(
            [go, "mod", "download", "-json", f"{CLI_MODULE}@{CLI_VERSION}"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"the Go module proxy did not answer for {CLI_MODULE}@{CLI_VERSION} within 600 s")
    info = json.loads(done.stdout or "{}")
    if info.get("Error") or not info.get("Zip"):
        why = info.get("Error") or done.stderr.strip()[-500:]
        pytest.skip(
            f"the Go module proxy did not serve {CLI_MODULE}@{CLI_VERSION} ({why}); "
            f"set {SCHEMA_ENV} to a bundle schema file (`databricks bundle schema > FILE`)"
        )
    with zipfile.ZipFile(info["Zip"]) as z:
        data = z.read(f"{CLI_MODULE}@{CLI_VERSION}/bundle/schema/jsonschema.json")
    SCHEMA_CACHE.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_CACHE.write_bytes(data)
    return SCHEMA_CACHE


@pytest.fixture(scope="module")
def bundle_schema(tmp_path_factory: pytest.TempPathFactory) -> Draft202012Validator:
    given = os.environ.get(SCHEMA_ENV)
    if given:
        path = Path(given)
    elif SCHEMA_CACHE.is_file():
        path = SCHEMA_CACHE
    else:
        path = _fetch_bundle_schema(tmp_path_factory.mktemp("go_module"))
    return Draft202012Validator(_python_patterns(json.loads(path.read_text())))


def _schema_errors(validator: Draft202012Validator, doc: dict[str, Any]) -> list[str]:
    def leaves(e: Any) -> Any:
        yield from (x for c in e.context for x in leaves(c)) if e.context else [e]

    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for top in validator.iter_errors(doc)
        for e in leaves(top)
    ]


def test_bundle_satisfies_the_published_bundle_schema(bundle_schema: Draft202012Validator) -> None:
    assert _schema_errors(bundle_schema, _bundle()) == []


def test_bundle_schema_catches_a_wrong_access_mode_and_an_unknown_key(
    bundle_schema: Draft202012Validator,
) -> None:
    wrong = copy.deepcopy(_bundle())
    wrong["resources"]["jobs"]["distillwatch_daily"]["job_clusters"][0]["new_cluster"][
        "data_security_mode"
    ] = "SHARED"
    assert any("data_security_mode" in e for e in _schema_errors(bundle_schema, wrong))
    typo = copy.deepcopy(_bundle())
    typo["resources"]["jobs"]["distillwatch_maintain"]["tasks"][0]["python_wheel_task"]["entrypoint"] = "x"
    assert any("entrypoint" in e for e in _schema_errors(bundle_schema, typo))


def test_bundle_entry_points_and_commands_exist() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]
    seen = set()
    for job_name, job in _bundle()["resources"]["jobs"].items():
        for task in job["tasks"]:
            wheel = task["python_wheel_task"]
            assert wheel["package_name"] == project
            assert wheel["entry_point"] in scripts
            argv = [_render(p, job) for p in wheel["parameters"]]
            assert argv[:2] == ["--env", "databricks"]
            command = next(a for a in argv[2:] if not a.startswith("-"))
            assert command in COMMANDS, command
            args = _parses(argv)
            assert args.command == command
            seen.add(command)
            if hasattr(args, "date") and job_name == "distillwatch_daily":
                # the daily job processes the last complete day (UTC)
                assert args.date == dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    assert seen == {"daily", "maintain", "train"}


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
