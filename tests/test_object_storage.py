"""A lakehouse on object storage, end to end: two days of ``daily`` against an S3 server.

The test starts moto's S3 server on 127.0.0.1, simulates a tiny world in-process and uploads
its landing folder to the bucket. Then one fresh process (as a scheduler runs it, with the
S3A connector on its class path, which the shared test session does not have) runs
``distillwatch --env s3 backfill`` over two days with the lakehouse and the landing on
``s3a://``, and checks the day lease on the bucket: a live lease of another host refuses
``daily``, an expired one is taken over, a lost lease stops its holder, and of two racing
conditional creates exactly one wins. Afterwards delta-rs reads the tables back from the
same bucket, and every artifact is where the layout says: tables, leases, Data Docs, reports
and checkpoints in the bucket; the SQLite MLflow store and the Derby metastore in the
configured state folder; nothing in the working directory (no folder named ``s3a:``).

Run as a script (``python tests/test_object_storage.py RESULT.json LANDING_URI``), this file
is that fresh process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
S3A_JARS = REPO / ".jars" / "s3a"
BUCKET = "dw-lake"
DAY = dt.date(2026, 2, 1)
END = DAY + dt.timedelta(days=1)
KEY, SECRET, REGION = "testing", "testing", "us-east-1"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


# -- the fresh process ------------------------------------------------------------------
def _lease_checks(ctx: Any) -> dict[str, Any]:
    """The day lease on the bucket, through the same code and session as the run."""
    from py4j.protocol import Py4JJavaError

    from distillwatch import files, locks
    from distillwatch.errors import UserError
    from distillwatch.jobs import daily

    spark, conf, root = ctx.spark, ctx.cfg.locks, ctx.layout.locks
    out: dict[str, Any] = {}
    probe = f"{root}/probe/once.json"
    out["create_first"] = files.create_new(spark, probe, "first")
    out["create_again"] = files.create_new(spark, probe, "second")
    out["probe_content"] = files.read_text(spark, probe)

    # Two creators that both pass the existence check: the store decides at the PUT.
    fs, path = files._fs_path(spark, f"{root}/probe/race.json")
    streams = [
        fs.createFile(path).overwrite(False).must(files.CONDITIONAL_CREATE, True).build() for _ in "ab"
    ]
    for stream, text in zip(streams, (b"a", b"b"), strict=True):
        stream.write(bytearray(text))
    streams[0].close()
    try:
        streams[1].close()
        out["race_second"] = "created"
    except Py4JJavaError as exc:
        out["race_second"] = "refused" if files._already_exists(exc) else f"error: {exc}"[:500]
    out["race_content"] = files.read_text(spark, f"{root}/probe/race.json")

    def plant(day: dt.date, number: int, expires_in: float) -> None:
        held = {"day": day.isoformat(), "owner": "elsewhere-run", "host": "elsewhere", "pid": 1}
        held["expires"] = time.time() + expires_in
        where = f"{root}/daily-{day.isoformat()}/{locks.lease_name(number)}"
        assert files.create_new(spark, where, json.dumps(held))

    # A live lease of another host: `daily` of that day refuses before its first step.
    plant(DAY, 1, 600)
    try:
        daily.run_day(ctx, DAY)
        out["refused"] = None
    except UserError as exc:
        out["refused"] = str(exc)
    # An expired lease of another host is taken over with the next number, then released.
    other = dt.date(2026, 3, 1)
    plant(other, 0, -1)
    with locks.day_lock(ctx.lake, other, conf) as lease:
        out["takeover_number"] = lease.number
    released = json.loads(files.read_text(spark, lease.path) or "{}")
    out["takeover_released"] = released.get("released")
    # A holder whose lease was taken over (it expired while the holder stalled) notices.
    third = dt.date(2026, 3, 2)
    lease = locks.acquire(spark, f"{root}/daily-{third.isoformat()}", third, conf)
    lease.renew()
    plant(third, lease.number + 1, 600)
    lease.renew()
    try:
        lease.check()
        out["lost"] = None
    except UserError as exc:
        out["lost"] = str(exc)
    return out


# Day-partitioned tables compared between Spark (the writer) and delta-rs (a reader).
COMPARED = (
    "bronze_exchanges",
    "silver_exchanges",
    "account_daily_features",
    "account_scores",
    "campaign_attribution_daily",
    "campaign_members",
    "dq_results",
)


def _spark_rows(ctx: Any) -> dict[str, Any]:
    """What Spark reads back: rows per day of each compared table (one row per day: bounded),
    and the scored accounts (a tiny world's few hundred)."""
    counts = {
        t: {str(r[0]): int(r[1]) for r in ctx.lake.read(t).groupBy("event_date").count().collect()}
        for t in COMPARED
    }
    scores = ctx.lake.read("account_scores").select("event_date", "account_id", "flagged").collect()
    return {"counts": counts, "scores": sorted([str(r[0]), r[1], bool(r[2])] for r in scores)}


def _driver(result: Path, landing: str) -> int:
    """Two days through the CLI entry point, then the lease checks, in one process."""
    from distillwatch import cli
    from distillwatch.config import load_config
    from distillwatch.context import JobContext

    rc = cli.main(["--env", "s3", "--landing", landing, "backfill", "--start", str(DAY), "--end", str(END)])
    out: dict[str, Any] = {"backfill_rc": rc}
    if rc == 0:
        cfg = load_config("s3")
        ctx = JobContext(cfg=cfg, landing=landing, lakehouse_root=cfg.paths.lakehouse)
        out["layout"] = ctx.layout.lines()
        out["spark_rows"] = _spark_rows(ctx)
        out.update(_lease_checks(ctx))
    result.write_text(json.dumps(out, default=str))
    return 0


# -- the test ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _s3_conf(endpoint: str, state: Path) -> str:
    """conf/s3.yaml of the run: the lakehouse in the bucket, the state folder local."""
    per_bucket = f"spark.hadoop.fs.s3a.bucket.{BUCKET}"
    extra = {
        # The S3A connector of `make jars`: on the class path, not in spark.jars (which
        # would copy the 600 MB SDK bundle into every executor's work folder).
        "spark.driver.extraClassPath": f"{S3A_JARS}/*",
        f"{per_bucket}.endpoint": endpoint,
        f"{per_bucket}.endpoint.region": REGION,
        f"{per_bucket}.path.style.access": "true",
        f"{per_bucket}.access.key": KEY,
        f"{per_bucket}.secret.key": SECRET,
        "spark.ui.enabled": "false",
        "spark.default.parallelism": "2",
        "spark.databricks.delta.snapshotPartitions": "1",
    }
    conf = {
        "spark": {
            "master": "local[2]",
            "jars_dir": str(REPO / ".jars"),
            "driver_memory": "2g",
            "shuffle_partitions": 1,
            # checkpoints to the bucket (Spark writes them through S3A)
            "lineage": "reliable",
            "extra_conf": extra,
        },
        "paths": {"lakehouse": f"s3a://{BUCKET}/lakehouse", "state_dir": str(state)},
        # renewals happen during the run, not only at its ends
        "locks": {"lease_seconds": 60, "renew_seconds": 5},
        # a Data Docs page for every gate run, copied to the bucket (the default renders
        # only runs with a failed expectation)
        "quality": {"data_docs": "all"},
    }
    return json.dumps(conf, indent=2)  # JSON is YAML


@pytest.fixture(scope="module")
def s3_endpoint() -> Any:
    if not list(S3A_JARS.glob("hadoop-aws-*.jar")) or not list(S3A_JARS.glob("bundle-*.jar")):
        pytest.skip(
            f"no S3A connector in {S3A_JARS}: run `make jars` (fetches hadoop-aws and the AWS SDK bundle "
            "from Maven Central)"
        )
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name=REGION
    )


def _keys(s3: Any, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


@pytest.fixture(scope="module")
def s3_run(s3_endpoint: str, ctx: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from dataclasses import replace

    from distillwatch.context import JobContext
    from distillwatch.jobs import simulate

    root = tmp_path_factory.mktemp("s3")
    sim = JobContext(
        cfg=replace(ctx.cfg, database="s3sim_" + os.urandom(3).hex()),
        landing=str(root / "world" / "landing"),
        lakehouse_root=str(root / "sim"),
    )
    sim.__dict__["spark"] = ctx.spark  # the one session of this test run writes the world
    simulate.run(
        sim, argparse.Namespace(out=str(root / "world"), start=DAY.isoformat(), days=2, scale=0.001, seed=5)
    )
    s3 = _client(s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    landing = root / "world" / "landing"
    for file in sorted(p for p in landing.rglob("*") if p.is_file()):
        s3.upload_file(str(file), BUCKET, f"landing/{file.relative_to(landing).as_posix()}")

    conf_dir, state, cwd = root / "conf", root / "state", root / "cwd"
    shutil.copytree(REPO / "conf", conf_dir)
    (conf_dir / "s3.yaml").write_text(_s3_conf(s3_endpoint, state))
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        DISTILLWATCH_CONF_DIR=str(conf_dir),
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    result = root / "result.json"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(result), f"s3a://{BUCKET}/landing"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    (root / "run.log").write_text(proc.stdout + proc.stderr)  # step lines and timings, kept for a look
    assert proc.returncode == 0 and result.is_file(), proc.stdout[-4000:] + proc.stderr[-8000:]
    out = json.loads(result.read_text())
    assert out["backfill_rc"] == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    return {"out": out, "stdout": proc.stdout, "root": root, "state": state, "cwd": cwd, "s3": s3}


def test_two_days_on_s3_read_back_by_delta_rs(s3_run: dict[str, Any], s3_endpoint: str) -> None:
    from deltalake import DeltaTable

    from distillwatch import tables
    from distillwatch.jobs import daily

    options = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": REGION,
        "AWS_ALLOW_HTTP": "true",
    }

    def read(table: str) -> Any:
        return DeltaTable(f"s3://{BUCKET}/lakehouse/{table}", storage_options=options).to_pyarrow_table()

    runs = read(tables.RUNS).to_pylist()
    by_day: dict[str, set[str]] = {}
    for r in runs:
        assert r["status"] == "ok", r
        by_day.setdefault(str(r["run_date"]), set()).add(r["step"])
    assert by_day == {str(DAY): set(daily.STEP_NAMES), str(END): set(daily.STEP_NAMES)}
    # delta-rs, reading the bucket, sees exactly the rows Spark wrote
    spark_rows = s3_run["out"]["spark_rows"]
    for table in COMPARED:
        days = [str(d) for d in read(table).column("event_date").to_pylist()]
        assert {d: days.count(d) for d in set(days)} == spark_rows["counts"][table], table
    for table in (tables.BRONZE_EXCHANGES, tables.SILVER_EXCHANGES, tables.ACCOUNT_SCORES):
        assert set(spark_rows["counts"][table]) == {str(DAY), str(END)}, table
    scores = read(tables.ACCOUNT_SCORES).select(["event_date", "account_id", "flagged"]).to_pylist()
    assert (
        sorted([str(r["event_date"]), r["account_id"], r["flagged"]] for r in scores) == spark_rows["scores"]
    )


def test_every_artifact_is_where_the_layout_says(s3_run: dict[str, Any]) -> None:
    s3, state, cwd = s3_run["s3"], s3_run["state"], s3_run["cwd"]
    lake = "lakehouse/"
    for day in (DAY, END):
        assert f"{lake}reports/report-{day}.html" in _keys(s3, f"{lake}reports/")
        leases = _keys(s3, f"{lake}_locks/daily-{day}/")
        assert f"{lake}_locks/daily-{day}/lease-000000.json" in leases
    first = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"{lake}_locks/daily-{END}/lease-000000.json")["Body"].read()
    )
    assert first["released"] is True and first["renewed"] > first["acquired"]  # renewed during the run
    docs = _keys(s3, f"{lake}dq/data_docs/")
    assert f"{lake}dq/data_docs/index.html" in docs
    assert any("/validations/" in k and k.endswith(".html") for k in docs)
    assert _keys(s3, f"{lake}_checkpoints/"), "reliable checkpoints go to the bucket"
    # what needs a POSIX file system is in the state folder, and only there
    assert (state / "mlflow" / "mlflow.db").is_file()
    assert (state / "_metastore" / "metastore_db").is_dir()
    assert not _keys(s3, f"{lake}mlflow/") and not _keys(s3, f"{lake}_metastore/")
    # nothing lands in the working directory, and no folder is named after the scheme
    assert sorted(p.name for p in cwd.iterdir()) == []
    for where in (cwd, REPO, state, s3_run["root"]):
        assert not (where / "s3a:").exists(), where


def test_the_day_lease_holds_on_object_storage(s3_run: dict[str, Any]) -> None:
    out = s3_run["out"]
    assert (out["create_first"], out["create_again"], out["probe_content"]) == (True, False, "first")
    assert (out["race_second"], out["race_content"]) == ("refused", "a")
    assert out["refused"] and "refusing to run the same day twice" in out["refused"], out
    assert "elsewhere" in out["refused"] and "lease-000001.json" in out["refused"]
    assert (out["takeover_number"], out["takeover_released"]) == (1, True)
    assert out["lost"] and "took the day over" in out["lost"], out


if __name__ == "__main__":
    sys.exit(_driver(Path(sys.argv[1]), sys.argv[2]))
