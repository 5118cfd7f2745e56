"""The wheel as a user installs it: one top-level package with its configuration inside,
installed into a fresh virtual environment, running a day from a folder outside the checkout.

The fresh environment gets the wheel itself (``pip install --no-deps``); its third-party
dependencies come from the project's ``.venv`` through a ``.pth`` line, which adds that
folder to ``sys.path`` without running the editable install's hook, so ``distillwatch`` can
only be imported from the wheel. Nothing of the checkout is on the path: no
``DISTILLWATCH_CONF_DIR``, no ``PYTHONPATH``, the working directory a temp folder. Without
``.jars`` there, Spark fetches the Delta jars from Maven Central (``distillwatch.spark``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from distillwatch import tables

REPO = Path(__file__).resolve().parent.parent

CONF_FILES = (
    "distillwatch/conf/local.yaml",
    "distillwatch/conf/patterns/v2.yaml",
    "distillwatch/conf/expectations/silver_exchanges.yaml",
    "distillwatch/conf/schedule/daily_steps.yaml",
    "distillwatch/conf/simulate/world.yaml",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        cwd=out,
    )
    (whl,) = out.glob("distillwatch-*.whl")
    return whl


def test_wheel_installs_one_namespace_with_its_configuration(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert z.read(top_level).decode().split() == ["distillwatch"]
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"distillwatch"}
    missing = [f for f in CONF_FILES if f not in names]
    assert not missing, f"configuration missing from the wheel: {missing}"
    # every expectation suite the catalog names ships with it
    suites = {t.suite for t in tables.CATALOG.values() if t.suite}
    assert {f"distillwatch/conf/expectations/{s}.yaml" for s in suites} <= set(names)


@pytest.mark.deploy  # make deploy-test: a Spark day in a subprocess, minutes
def test_installed_wheel_runs_a_day_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "v"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "project_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        check=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DISTILLWATCH_", "MLFLOW_", "PYTHONPATH"))
    }
    env.update(PYSPARK_PYTHON=str(python), SPARK_LOCAL_IP="127.0.0.1")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=work, env=env, capture_output=True, text=True, timeout=900)

    where = run(
        str(python), "-c", "import distillwatch.conf as c, importlib.resources as r; print(r.files(c))"
    )
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(site)), where.stdout
    cli = str(env_dir / "bin" / "distillwatch")
    sim = run(cli, "simulate", "--out", "world", "--days", "2", "--scale", "0.0005", "--seed", "3")
    assert sim.returncode == 0, sim.stderr[-3000:]
    day = run(cli, "--landing", "world/landing", "--lakehouse", "lake", "daily", "--date", "2026-02-01")
    assert day.returncode == 0, day.stderr[-3000:]
    for table in ("silver_exchanges", "account_scores", "campaign_attribution_daily"):
        assert (work / "lake" / table / "_delta_log").is_dir(), table
    assert not (work / "mlflow.db").exists() and not (work / "conf").exists()
