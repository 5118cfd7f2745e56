"""The pipeline on a real Spark cluster: a standalone master and two workers started from
the installed pyspark, on loopback, so every executor is a JVM of its own (closures and
pandas UDFs are shipped to it, checkpoints are written by it). Two simulated days run
through ``spark-submit`` with the ``cluster`` environment, and every catalog table must
hold the same rows as the same days run in ``local[*]``.

``make deploy-test`` runs it (``.ci/run`` calls it after ``make test``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest

REPO = Path(__file__).resolve().parent.parent
SPARK_HOME = Path(pyspark.__file__).resolve().parent
BIN = Path(sys.executable).parent
DAYS = ("2026-02-01", "2026-02-02")

pytestmark = pytest.mark.deploy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISTILLWATCH_", "MLFLOW_"))}
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        **extra,
    )
    return env


def _workers_alive(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as r:
            return int(json.load(r).get("aliveworkers", 0))
    except OSError:
        return 0


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``spark://127.0.0.1:PORT``: a master and two one-core workers, stopped after the module."""
    root = tmp_path_factory.mktemp("standalone")
    port, ui = _free_port(), _free_port()
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    env = _env(SPARK_LOG_DIR=str(root / "logs"), SPARK_WORKER_DIR=str(root / "work"))
    logs = []
    procs = []

    def start(name: str, *args: str) -> None:
        log = open(root / f"{name}.log", "w")  # noqa: SIM115 - closed in the teardown
        logs.append(log)
        procs.append(subprocess.Popen([spark_class, *args], env=env, stdout=log, stderr=subprocess.STDOUT))

    url = f"spark://127.0.0.1:{port}"
    start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
          "--webui-port", str(ui))  # fmt: skip
    for i in (1, 2):
        start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1", "--cores", "1",
              "--memory", "2g", "--webui-port", str(_free_port()), "--work-dir", str(root / f"work{i}"))  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while _workers_alive(ui) < 2:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"standalone cluster did not start: see {root}/*.log")
            time.sleep(1)
        yield url
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()


def _run(cmd: list[str], cwd: Path, env: dict[str, str], name: str) -> None:
    """Run ``cmd``, its output in ``cwd/<name>.log`` (read it when the test fails)."""
    log = cwd / f"{name}.log"
    with open(log, "w") as out:
        done = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=2400)
    assert done.returncode == 0, f"{name} failed, see {log}: {log.read_text()[-4000:]}"


def test_two_days_on_a_standalone_cluster_match_local(standalone: str, tmp_path: Path) -> None:
    cli = str(BIN / "distillwatch")
    env = _env()
    _run(
        [cli, "simulate", "--out", "world", "--days", "2", "--scale", "0.0005", "--seed", "5"],
        tmp_path,
        env,
        "simulate",
    )
    backfill = ["--landing", "world/landing", "--lakehouse"]
    days = ["backfill", "--start", DAYS[0], "--end", DAYS[1]]
    _run([cli, *backfill, "local", *days], tmp_path, env, "local")

    jars = ",".join(str(p) for p in sorted((REPO / ".jars").glob("*.jar")))
    events = tmp_path / "events"
    events.mkdir()
    submit = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master", standalone,
        "--jars", jars,
        "--driver-memory", "3g",
        "--executor-memory", "1g",
        "--total-executor-cores", "2",
        "--conf", f"spark.executorEnv.PYSPARK_PYTHON={sys.executable}",
        "--conf", "spark.eventLog.enabled=true",
        "--conf", "spark.eventLog.compress=false",
        "--conf", f"spark.eventLog.dir={events}",
        str(REPO / "distillwatch" / "__main__.py"),
        "--env", "cluster",
    ]  # fmt: skip
    _run([*submit, *backfill, "cluster", *days], tmp_path, env, "cluster")

    # The application really ran on the workers: two executors, neither the driver.
    executors = set()
    for log in events.rglob("events_*"):  # Spark 4: rolling logs, events_N_<app> in a folder per app
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event.get("Event") == "SparkListenerExecutorAdded":
                executors.add(event["Executor ID"])
    assert len(executors) >= 2 and "driver" not in executors, executors
    assert any((tmp_path / "cluster" / "_checkpoints").iterdir()), "reliable checkpoints were not written"

    compare = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.compare_lakehouses",
            str(tmp_path / "local"),
            str(tmp_path / "cluster"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert compare.returncode == 0, compare.stdout + compare.stderr[-2000:]
