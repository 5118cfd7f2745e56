#!/usr/bin/env bash
# Create .venv-airflow: Airflow and its Databricks provider (the DAG that triggers the
# bundle's jobs) in their own virtual environment, kept out of the pipeline's runtime
# dependencies (Airflow pins SQLAlchemy, Flask, ... that clash with MLflow).
#
# Usage: conf/airflow/setup_venv.sh [VENV_DIR]     (default: <repo>/.venv-airflow)
#
# Only PyPI is needed. Airflow's official constraints file lives on GitHub, which is not
# reachable from every build machine, so conf/airflow/constraints.txt is our own: the
# versions `pip freeze` reported in a venv where the DAG test passed. Regenerate it with
#   AIRFLOW_RESOLVE=1 conf/airflow/setup_venv.sh && .venv-airflow/bin/pip freeze > conf/airflow/constraints.txt
# Idempotent: an existing venv with the pinned Airflow and provider is left alone.
set -euo pipefail

AIRFLOW_VERSION="3.3.2"
DATABRICKS_PROVIDER_VERSION="7.23.0"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${1:-$REPO/.venv-airflow}"
PY="${PY:-python3}"
CONSTRAINTS="$HERE/constraints.txt"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "
import sys
from importlib.metadata import version
sys.exit(version('apache-airflow') != '$AIRFLOW_VERSION'
         or version('apache-airflow-providers-databricks') != '$DATABRICKS_PROVIDER_VERSION')" 2>/dev/null; then
  echo "airflow $AIRFLOW_VERSION (databricks provider $DATABRICKS_PROVIDER_VERSION) already in $VENV"
  exit 0
fi

"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
PACKAGES=("apache-airflow==$AIRFLOW_VERSION" "apache-airflow-providers-databricks==$DATABRICKS_PROVIDER_VERSION")
if [ -s "$CONSTRAINTS" ] && [ -z "${AIRFLOW_RESOLVE:-}" ]; then
  "$VENV/bin/pip" install -q "${PACKAGES[@]}" -c "$CONSTRAINTS"
else
  "$VENV/bin/pip" install -q "${PACKAGES[@]}"
fi
"$VENV/bin/python" -c "import airflow, airflow.providers.databricks as d; print('airflow', airflow.__version__, '+ databricks provider', d.__version__, 'in $VENV')"
