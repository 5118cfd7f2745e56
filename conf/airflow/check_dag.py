"""Load DAG folders with Airflow's own DagBag and print the DAGs' shape as JSON.

Run with the Airflow venv's python (tests/test_schedulers.py does):
    AIRFLOW_HOME=$(mktemp -d) .venv-airflow/bin/python conf/airflow/check_dag.py \
        conf/airflow/dags conf/airflow/databricks_dags

Each task's templated commands and job parameters are rendered by the DAG's own Jinja for
the data interval from 2026-02-10 to 2026-02-11.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2 / early 3
    from airflow.models.dagbag import DagBag

SAMPLE_DAY = dt.datetime(2026, 2, 10, tzinfo=dt.timezone.utc)
SAMPLE_END = SAMPLE_DAY + dt.timedelta(days=1)


def _load(folder: str) -> DagBag:
    try:
        return DagBag(dag_folder=folder, include_examples=False)
    except TypeError:  # Airflow 3.1+: examples follow AIRFLOW__CORE__LOAD_EXAMPLES
        return DagBag(dag_folder=folder)


def main(folders: list[str]) -> int:
    import airflow

    errors: dict[str, str] = {}
    dags: dict[str, Any] = {}
    for folder in folders:
        bag = _load(folder)
        errors.update({k: str(v) for k, v in bag.import_errors.items()})
        for dag_id, dag in bag.dags.items():
            dags[dag_id] = _shape(dag) | {"folder": Path(folder).name}
    out = {"airflow": airflow.__version__, "import_errors": errors, "dags": dags}
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    return 1 if errors else 0


def _shape(dag: Any) -> dict[str, Any]:
    params = {k: dag.params[k] for k in dag.params}
    env = dag.get_template_env()

    def render(text: str) -> str:
        return str(
            env.from_string(text).render(
                data_interval_start=SAMPLE_DAY, data_interval_end=SAMPLE_END, params=params
            )
        )

    tasks = {}
    for task in dag.tasks:
        job_parameters = getattr(task, "job_parameters", None) or {}
        tasks[task.task_id] = {
            "operator": type(task).__name__,
            "upstream": sorted(task.upstream_task_ids),
            "retries": task.retries,
            "bash_command": getattr(task, "bash_command", None),
            "rendered": render(getattr(task, "bash_command", "") or ""),
            # DatabricksRunNowOperator: which job, with which parameters, through which connection
            "job_name": getattr(task, "job_name", None),
            "job_parameters": {k: render(str(v)) for k, v in job_parameters.items()},
            "databricks_conn_id": getattr(task, "databricks_conn_id", None),
        }
    return {
        "schedule": str(getattr(dag, "schedule", None) or getattr(dag, "schedule_interval", None)),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "params": params,
        "tasks": tasks,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
