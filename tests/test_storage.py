"""Where each artifact goes (``distillwatch.storage``), the day lease on a local folder
(``distillwatch.locks``), and three-level table names (``Config.catalog``).

The layout and lease tests need no Spark: on a local folder the lease is plain files. The
same lease on an S3 bucket is tested end to end in ``tests/test_object_storage.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from distillwatch import files, locks, tables
from distillwatch.config import Config, LocksConf, PathsConf, SparkConf
from distillwatch.errors import UserError
from distillwatch.lakehouse import Lakehouse
from distillwatch.storage import resolve_layout

DAY = dt.date(2026, 2, 1)
NO_SPARK: Any = None  # local lease files never touch the JVM


def _cfg(**paths: Any) -> Config:
    return replace(Config(), paths=replace(PathsConf(), **paths))


def test_the_local_default_keeps_everything_under_the_lakehouse(tmp_path: Path) -> None:
    lake = tmp_path / "lakehouse"
    layout = resolve_layout(Config(), str(lake), environ={})
    assert not layout.remote and layout.state == lake
    assert (layout.locks, layout.staging, layout.checkpoints) == (
        f"{lake}/_locks",
        f"{lake}/_staging",
        f"{lake}/_checkpoints",
    )
    assert (layout.data_docs, layout.reports) == (f"{lake}/dq/data_docs", f"{lake}/reports")
    assert (layout.metastore, layout.warehouse) == (lake / "_metastore", lake / "_warehouse")
    assert layout.mlflow_tracking_uri == f"sqlite:///{lake}/mlflow/mlflow.db"
    assert layout.mlflow_artifact_root == f"{lake}/mlflow/artifacts"
    assert not list(tmp_path.iterdir()), "resolving a layout creates nothing"


def test_a_remote_lakehouse_puts_files_in_the_bucket_and_posix_state_in_the_state_folder(
    tmp_path: Path,
) -> None:
    cfg = _cfg(state_dir=str(tmp_path / "state"))
    layout = resolve_layout(cfg, "s3a://bucket/lake/", environ={})
    assert layout.remote and layout.lakehouse == "s3a://bucket/lake"
    assert (layout.locks, layout.reports, layout.data_docs, layout.checkpoints) == (
        "s3a://bucket/lake/_locks",
        "s3a://bucket/lake/reports",
        "s3a://bucket/lake/dq/data_docs",
        "s3a://bucket/lake/_checkpoints",
    )
    assert layout.metastore == tmp_path / "state" / "_metastore"
    assert layout.mlflow_tracking_uri == f"sqlite:///{tmp_path}/state/mlflow/mlflow.db"
    assert layout.mlflow_artifact_root == f"{tmp_path}/state/mlflow/artifacts"
    # absolute locations are taken as they are
    moved = replace(
        cfg, report=replace(cfg.report, dir="gs://reports/dw"), locks=replace(cfg.locks, dir="/mnt/locks")
    )
    other = resolve_layout(moved, "s3a://bucket/lake", environ={})
    assert (other.reports, other.locks) == ("gs://reports/dw", "/mnt/locks")


@pytest.mark.parametrize(
    ("cfg", "environ", "setting"),
    [
        # the Derby metastore needs a local folder
        (_cfg(), {}, "paths.state_dir"),
        # so does the SQLite MLflow store, once the metastore is the platform's
        (replace(_cfg(), spark=SparkConf(local_metastore=False)), {}, "paths.mlflow_tracking_uri"),
        # a tracking server still needs somewhere for artifacts
        (
            replace(_cfg(mlflow_tracking_uri="http://mlflow:5000"), spark=SparkConf(local_metastore=False)),
            {},
            "paths.mlflow_artifact_root",
        ),
        # MLflow's name for S3 is s3://
        (
            _cfg(state_dir="/tmp/x", mlflow_artifact_root="s3a://bucket/mlflow"),
            {},
            "paths.mlflow_artifact_root",
        ),
        (_cfg(state_dir="s3a://bucket/state"), {}, "paths.state_dir"),
    ],
)
def test_a_remote_lakehouse_without_a_valid_place_refuses_naming_the_setting(
    cfg: Config, environ: dict[str, str], setting: str
) -> None:
    with pytest.raises(UserError, match=setting.replace(".", r"\.")):
        resolve_layout(cfg, "s3a://bucket/lake", environ=environ)


def test_a_remote_lakehouse_runs_with_servers_only() -> None:
    cfg = replace(_cfg(mlflow_tracking_uri="databricks"), spark=SparkConf(local_metastore=False))
    layout = resolve_layout(cfg, "s3://bucket/lake", environ={})
    assert (layout.state, layout.metastore, layout.mlflow_artifact_root) == (None, None, None)
    env = resolve_layout(
        replace(cfg, paths=PathsConf(mlflow_artifact_root="s3://bucket/mlflow")),
        "s3://b/l",
        {"MLFLOW_TRACKING_URI": "http://mlflow:5000"},
    )
    assert (env.mlflow_tracking_uri, env.mlflow_artifact_root) == ("http://mlflow:5000", "s3://bucket/mlflow")


@pytest.mark.parametrize("root", ["/Volumes/main/distillwatch/lakehouse", "dbfs:/Volumes/main/dw/lake"])
def test_tables_are_never_registered_on_volumes(root: str) -> None:
    with pytest.raises(UserError, match=r"paths\.lakehouse .*volume"):
        resolve_layout(_cfg(mlflow_tracking_uri="databricks"), root, environ={})


def test_a_remote_lakehouse_has_no_local_folder(spark: SparkSession) -> None:
    with pytest.raises(UserError, match="not a local folder"):
        Lakehouse(spark, "s3a://bucket/lake", "db").local_dir("reports")


# -- the day lease on a local folder ----------------------------------------------------------
def _plant(folder: Path, number: int, **held: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / locks.lease_name(number)).write_text(json.dumps(held))


def test_a_held_day_is_refused_and_a_released_one_taken_with_the_next_number(tmp_path: Path) -> None:
    conf = LocksConf()
    first = locks.acquire(NO_SPARK, str(tmp_path), DAY, conf)
    with pytest.raises(UserError, match="refusing to run the same day twice"):
        locks.acquire(NO_SPARK, str(tmp_path), DAY, conf)
    first.release()
    second = locks.acquire(NO_SPARK, str(tmp_path), DAY, conf)
    assert (first.number, second.number) == (0, 1)
    assert json.loads((tmp_path / locks.lease_name(0)).read_text())["released"] is True


def test_a_lease_of_another_host_blocks_until_it_expires(tmp_path: Path) -> None:
    conf = LocksConf()
    _plant(tmp_path, 0, host="elsewhere", pid=1, expires=time.time() + 600)
    with pytest.raises(UserError, match=r"elsewhere.*lease expires"):
        locks.acquire(NO_SPARK, str(tmp_path), DAY, conf)
    _plant(tmp_path, 1, host="elsewhere", pid=1, expires=time.time() - 1)
    assert locks.acquire(NO_SPARK, str(tmp_path), DAY, conf).number == 2


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    _plant(tmp_path, 0, host=socket.gethostname(), pid=int(dead.stdout), expires=time.time() + 600)
    assert locks.acquire(NO_SPARK, str(tmp_path), DAY, LocksConf()).number == 1
    _plant(tmp_path, 2, host=socket.gethostname(), pid=os.getpid(), expires=time.time() + 600)
    with pytest.raises(UserError, match="refusing"):
        locks.acquire(NO_SPARK, str(tmp_path), DAY, LocksConf())


def test_a_holder_whose_day_was_taken_over_stops(tmp_path: Path) -> None:
    lease = locks.acquire(NO_SPARK, str(tmp_path), DAY, LocksConf())
    lease.renew()
    lease.check()
    _plant(tmp_path, 1, owner="taker", host="elsewhere", pid=1, expires=time.time() + 600)
    lease.renew()
    with pytest.raises(UserError, match="took the day over"):
        lease.check()
    lease.release()  # a lost lease is not marked released: the taker's is current
    assert "released" not in json.loads((tmp_path / locks.lease_name(0)).read_text())


def test_the_lease_is_renewed_in_the_background(tmp_path: Path) -> None:
    lease = locks.acquire(NO_SPARK, str(tmp_path), DAY, LocksConf(lease_seconds=2, renew_seconds=1))
    expires = lease.record["expires"]
    lease.start()
    # wait for the renewal itself (the file's expiry moving), with a deadline
    deadline = time.monotonic() + 10
    renewed = json.loads((tmp_path / locks.lease_name(0)).read_text())
    while renewed["expires"] <= expires and time.monotonic() < deadline:
        time.sleep(0.1)
        renewed = json.loads((tmp_path / locks.lease_name(0)).read_text())
    lease.release()
    assert renewed["expires"] > expires and lease.lost is None


def test_a_renewal_interval_too_close_to_the_lease_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"locks\.renew_seconds"):
        locks.acquire(NO_SPARK, str(tmp_path), DAY, LocksConf(lease_seconds=60, renew_seconds=31))


def test_only_one_of_two_creators_creates_a_file(tmp_path: Path) -> None:
    where = str(tmp_path / "x" / "lease.json")
    assert files.create_new(NO_SPARK, where, "a") is True
    assert files.create_new(NO_SPARK, where, "b") is False
    assert files.read_text(NO_SPARK, where) == "a"


# -- Unity Catalog style names -------------------------------------------------------------------
def test_tables_register_under_three_level_names_when_a_catalog_is_set(
    spark: SparkSession, tmp_path: Path
) -> None:
    db = "t3_" + os.urandom(3).hex()
    lake = Lakehouse(spark, str(tmp_path / "lake"), db, catalog="spark_catalog")
    assert lake.qualified(tables.MODEL_RELEASES) == f"spark_catalog.{db}.{tables.MODEL_RELEASES}"
    rows = spark.createDataFrame([], tables.schema(tables.MODEL_RELEASES))
    lake.publish(rows, tables.MODEL_RELEASES)
    found = spark.sql(f"DESCRIBE DETAIL spark_catalog.{db}.{tables.MODEL_RELEASES}").first()
    assert found is not None and found["location"].rstrip("/").endswith(f"lake/{tables.MODEL_RELEASES}")
    assert Lakehouse(spark, str(tmp_path / "lake"), db).qualified("x") == f"{db}.x"  # no catalog: two levels
