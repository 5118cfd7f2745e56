"""Load conf/airflow with Airflow's own DagBag and print the DAG's shape as JSON.

Run with the Airflow venv's python (tests/test_schedulers.py does):
    AIRFLOW_HOME=$(mktemp -d) .venv-airflow/bin/python conf/airflow/check_dag.py conf/airflow/dags
"""

from __future__ import annotations

import datetime as dt
import json
import sys

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2 / early 3
    from airflow.models.dagbag import DagBag

SAMPLE_DAY = dt.datetime(2026, 2, 10, tzinfo=dt.timezone.utc)


def main(folder: str) -> int:
    import airflow

    try:
        bag = DagBag(dag_folder=folder, include_examples=False)
    except TypeError:  # Airflow 3.1+: examples follow AIRFLOW__CORE__LOAD_EXAMPLES
        bag = DagBag(dag_folder=folder)
    out: dict[str, object] = {
        "airflow": airflow.__version__,
        "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
    }
    dags = {}
    for dag_id, dag in bag.dags.items():
        tasks = {}
        for task in dag.tasks:
            tasks[task.task_id] = {
                "operator": type(task).__name__,
                "upstream": sorted(task.upstream_task_ids),
                "retries": task.retries,
                "bash_command": getattr(task, "bash_command", None),
                # The command for the data interval starting 2026-02-10, rendered by the DAG's Jinja.
                "rendered": dag.get_template_env()
                .from_string(getattr(task, "bash_command", "") or "")
                .render(data_interval_start=SAMPLE_DAY, params={k: dag.params[k] for k in dag.params}),
            }
        dags[dag_id] = {
            "schedule": str(getattr(dag, "schedule", None) or getattr(dag, "schedule_interval", None)),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "start_date": dag.start_date.isoformat() if dag.start_date else None,
            "params": {k: dag.params[k] for k in dag.params},
            "tasks": tasks,
        }
    out["dags"] = dags
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    return 1 if bag.import_errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
