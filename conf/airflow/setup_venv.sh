#!/usr/bin/env bash
# Create .venv-airflow: Airflow in its own virtual environment, kept out of the
# pipeline's runtime dependencies (Airflow pins SQLAlchemy, Flask, ... that clash with MLflow).
#
# Usage: conf/airflow/setup_venv.sh [VENV_DIR]     (default: <repo>/.venv-airflow)
#
# Only PyPI is needed. Airflow's official constraints file lives on GitHub, which is not
# reachable from every build machine, so conf/airflow/constraints.txt is our own: the
# versions `pip freeze` reported in a venv where the DAG test passed. Regenerate it with
#   AIRFLOW_RESOLVE=1 conf/airflow/setup_venv.sh && .venv-airflow/bin/pip freeze > conf/airflow/constraints.txt
# Idempotent: an existing venv with the pinned Airflow is left alone.
set -euo pipefail

AIRFLOW_VERSION="3.3.2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${1:-$REPO/.venv-airflow}"
PY="${PY:-python3}"
CONSTRAINTS="$HERE/constraints.txt"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import airflow, sys; sys.exit(airflow.__version__ != '$AIRFLOW_VERSION')" 2>/dev/null; then
  echo "airflow $AIRFLOW_VERSION already in $VENV"
  exit 0
fi

"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
if [ -s "$CONSTRAINTS" ] && [ -z "${AIRFLOW_RESOLVE:-}" ]; then
  "$VENV/bin/pip" install -q "apache-airflow==$AIRFLOW_VERSION" -c "$CONSTRAINTS"
else
  "$VENV/bin/pip" install -q "apache-airflow==$AIRFLOW_VERSION"
fi
"$VENV/bin/python" -c "import airflow; print('airflow', airflow.__version__, 'in $VENV')"
