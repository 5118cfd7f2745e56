"""SQL warehouse: registered tables, analyst views (no raw prompts), the `sql` command,
other engines reading gold Delta tables, and the Thrift server queried by a real client."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from distillwatch import tables
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.jobs.sql import create_views, format_table, run_sql, wait_for_port
from distillwatch.pipelines.views import FORBIDDEN_COLUMNS, view_statements

REPO = Path(__file__).resolve().parent.parent
D1, D2 = dt.date(2026, 2, 10), dt.date(2026, 2, 11)

DAILY_SCHEMA = tables.schema(tables.CAMPAIGN_ATTRIBUTION_DAILY)
CAMPAIGNS_SCHEMA = tables.schema(tables.CAMPAIGNS)


def _daily(day: dt.date, cid: str, actor: str | None, n_ex: int) -> tuple:
    return (
        day,
        cid,
        actor,
        0.8 if actor else None,
        4,
        n_ex,
        D1,
        "new" if day == D1 else "active",
        "coding",
        json.dumps({"coding": 0.9, "other": 0.1}),
        0.5,
        0.1,
        0.0,
        0.7,
        0.1,
        True,
        json.dumps({"payment_fp": [{"value": "pf1", "n_accounts": 4}]}),
        json.dumps({"signals": ["content"]}),
    )


def write_gold(spark: SparkSession, root: Path) -> None:
    """Small literal gold, score, feature and silver tables (silver holds prompts) at ``root``."""

    def save(df, name: str) -> None:  # type: ignore[no-untyped-def]
        df.write.format("delta").mode("overwrite").save(str(root / name))

    save(
        spark.createDataFrame(
            [_daily(D1, "c1", "ACME", 40), _daily(D2, "c1", "ACME", 55), _daily(D2, "c2", None, 12)],
            DAILY_SCHEMA,
        ),
        tables.CAMPAIGN_ATTRIBUTION_DAILY,
    )
    save(
        spark.createDataFrame(
            [("c1", D1, D2, "ACME", "active", None, None, D2), ("c2", D2, D2, None, "new", None, "c1", D2)],
            CAMPAIGNS_SCHEMA,
        ),
        tables.CAMPAIGNS,
    )
    save(
        spark.createDataFrame(
            [(D2, "c1", "a1", 0.9), (D2, "c2", "a2", 0.6)],
            "event_date date, campaign_id string, account_id string, member_score double",
        ),
        tables.CAMPAIGN_MEMBERS,
    )
    save(
        spark.createDataFrame(
            [(D2, "a1", 0.95, 0.7, True, 0.5, "m1", '[{"feature":"cot_share","contribution":0.4}]')],
            "event_date date, account_id string, score double, anomaly_score double, flagged boolean, "
            "threshold double, model_version string, reasons string",
        ),
        tables.ACCOUNT_SCORES,
    )
    save(
        spark.createDataFrame(
            [(D2, "a1", 30, "coding", 0.9, 0.5, 0.1, 0.0, 0.6, 0.4, 0.8, 1, 0.9, 4, 4)],
            "event_date date, account_id string, n_exchanges bigint, top_capability string, "
            "top_capability_share double, cot_share double, rubric_share double, sensitive_share double, "
            "top_template_share double, near_dup_share double, sync_score double, intel_matches bigint, "
            "intel_max_confidence double, n_accounts_same_payment bigint, n_accounts_same_prefix bigint",
        ),
        tables.ACCOUNT_DAILY_FEATURES,
    )
    save(
        spark.createDataFrame(
            [("r1", D2, "a1", "SECRET PROMPT TEXT", "SECRET SYSTEM")],
            "request_id string, event_date date, account_id string, prompt string, system_prompt string",
        ),
        tables.SILVER_EXCHANGES,
    )


def test_views_register_every_table_and_never_expose_prompts(job_ctx: JobContext) -> None:
    root = Path(job_ctx.lakehouse_root)
    write_gold(job_ctx.spark, root)
    created = create_views(job_ctx)
    assert sorted(created) == ["v_account_evidence", "v_campaign_history", "v_campaigns_today"]
    db = job_ctx.cfg.database
    registered = {t.name for t in job_ctx.spark.catalog.listTables(db)}
    for t in (
        tables.CAMPAIGN_ATTRIBUTION_DAILY,
        tables.CAMPAIGNS,
        tables.SILVER_EXCHANGES,
        tables.ACCOUNT_SCORES,
    ):
        assert t in registered
    for view in created:
        cols = {c.lower() for c in job_ctx.spark.table(f"{db}.{view}").columns}
        assert not cols & set(FORBIDDEN_COLUMNS), view
        assert "SECRET" not in str(job_ctx.spark.table(f"{db}.{view}").collect())
    for sql in view_statements(db).values():
        assert "*" not in sql  # explicit column lists only
    today = job_ctx.spark.table(f"{db}.v_campaigns_today").orderBy("campaign_id").collect()
    assert [(r.event_date, r.campaign_id, r.actor, r.n_exchanges, r.split_from) for r in today] == [
        (D2, "c1", "ACME", 55, None),
        (D2, "c2", None, 12, "c1"),
    ]
    hist = job_ctx.spark.table(f"{db}.v_campaign_history").where("campaign_id = 'c1'").orderBy("event_date")
    assert [(r.event_date, r.n_exchanges, r.current_status) for r in hist.collect()] == [
        (D1, 40, "active"),
        (D2, 55, "active"),
    ]
    ev = job_ctx.spark.table(f"{db}.v_account_evidence").orderBy("account_id").collect()
    assert [(r.account_id, r.flagged, r.f_sync_score) for r in ev] == [("a1", True, 0.8), ("a2", None, None)]
    # Idempotent: a second call replaces the views.
    assert sorted(create_views(job_ctx)) == sorted(created)


def test_views_wait_for_their_source_tables(job_ctx: JobContext) -> None:
    assert create_views(job_ctx) == []


def test_sql_prints_a_result_table(job_ctx: JobContext, capsys: pytest.CaptureFixture[str]) -> None:
    write_gold(job_ctx.spark, Path(job_ctx.lakehouse_root))
    create_views(job_ctx)
    args = argparse.Namespace(
        query="SELECT campaign_id, n_exchanges FROM v_campaigns_today ORDER BY campaign_id",
        max_rows=None,
        refresh_catalog=False,
    )
    assert run_sql(job_ctx, args) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[1].split() == ["|", "campaign_id", "|", "n_exchanges", "|"]
    assert lines[3].split() == ["|", "c1", "|", "55", "|"]
    assert lines[4].split() == ["|", "c2", "|", "12", "|"]
    assert lines[-1] == "2 row(s)"
    args.max_rows = 1
    run_sql(job_ctx, args)
    assert capsys.readouterr().out.strip().splitlines()[-1] == "1 row(s) (more rows not shown)"


def test_sql_bad_query_is_a_user_error(job_ctx: JobContext) -> None:
    args = argparse.Namespace(query="SELECT * FROM no_such_table", max_rows=None, refresh_catalog=False)
    with pytest.raises(UserError, match="no_such_table"):
        run_sql(job_ctx, args)


def test_format_table_shows_nulls() -> None:
    assert format_table(["a", "bb"], [(1, None)]).splitlines()[3] == "| 1 | NULL |"


def test_gold_is_readable_by_delta_rs_and_duckdb(spark: SparkSession, tmp_path: Path) -> None:
    """Another engine reads the gold table straight from its Delta folder. DuckDB's own
    delta extension downloads itself at first use (no network here), so DuckDB queries the
    Arrow table delta-rs returns."""
    import duckdb
    from deltalake import DeltaTable

    write_gold(spark, tmp_path)
    dt_ = DeltaTable(str(tmp_path / tables.CAMPAIGN_ATTRIBUTION_DAILY))
    arrow = dt_.to_pyarrow_table()
    assert arrow.num_rows == 3
    assert set(arrow.column_names) >= {"campaign_id", "actor", "n_exchanges", "evidence"}
    con = duckdb.connect()
    con.register("cad", arrow)
    got = con.execute(
        "SELECT campaign_id, sum(n_exchanges) FROM cad GROUP BY campaign_id ORDER BY campaign_id"
    ).fetchall()
    assert got == [("c1", 95), ("c2", 12)]
    # Partition-free predicate pushdown through delta-rs works too.
    day2 = dt_.to_pyarrow_table(filters=[("event_date", "=", D2)])
    assert day2.num_rows == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_sql_answers_a_hive_client(spark: SparkSession, tmp_path: Path) -> None:
    """A separate lakehouse: tables written here (as plain Delta folders), registered by a
    `distillwatch sql --refresh-catalog` subprocess (its own Derby), then served by
    `distillwatch serve-sql` and queried over Thrift with PyHive. Embedded Derby admits
    one JVM at a time, so the subprocesses run one after the other."""
    from pyhive import hive

    lake = tmp_path / "served"
    write_gold(spark, lake)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    cli = [sys.executable, "-m", "distillwatch.cli", "--lakehouse", str(lake)]
    done = subprocess.run(
        [*cli, "sql", "--refresh-catalog", "SELECT count(*) AS n FROM campaign_attribution_daily"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| 3 |" in done.stdout.replace("  ", " ")
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "serve-sql", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert wait_for_port("127.0.0.1", port, 240, alive=lambda: server.poll() is None), (
            "thrift server did not open"
        )
        conn = hive.connect(host="127.0.0.1", port=port, username="analyst", database="distillwatch")
        cur = conn.cursor()
        cur.execute(
            "SELECT campaign_id, sum(n_exchanges) AS n FROM campaign_attribution_daily "
            "GROUP BY campaign_id ORDER BY campaign_id"
        )
        assert cur.fetchall() == [("c1", 95), ("c2", 12)]
        cur.execute("SELECT campaign_id, actor FROM v_campaigns_today ORDER BY campaign_id")
        assert cur.fetchall() == [("c1", "ACME"), ("c2", None)]
        conn.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert not wait_for_port("127.0.0.1", port, 1)


def test_serve_sql_refuses_an_open_bind_without_authentication(job_ctx: JobContext) -> None:
    from dataclasses import replace

    from distillwatch.jobs.sql import run_serve_sql, thrift_server_command

    args = argparse.Namespace(host="0.0.0.0", port=10999, dry_run=True)
    with pytest.raises(UserError, match="refusing to bind 0.0.0.0 without authentication"):
        run_serve_sql(job_ctx, args)
    loopback = thrift_server_command(job_ctx.cfg, job_ctx.lakehouse_root, "127.0.0.1", 10999)
    assert not any("hive.server2.authentication" in a for a in loopback)
    ldap = replace(
        job_ctx.cfg,
        warehouse=replace(
            job_ctx.cfg.warehouse,
            authentication="LDAP",
            ldap_url="ldaps://ldap.example:636",
            ldap_base_dn="dc=ex",
        ),
    )
    cmd = thrift_server_command(ldap, job_ctx.lakehouse_root, "0.0.0.0", 10999)
    assert (
        "hive.server2.authentication=LDAP" in cmd
        and "hive.server2.authentication.ldap.url=ldaps://ldap.example:636" in cmd
    )
    assert cmd[-1] == "spark-internal"
    with pytest.raises(UserError, match="needs warehouse.ldap_url"):
        thrift_server_command(
            replace(ldap, warehouse=replace(ldap.warehouse, ldap_url=None)),
            job_ctx.lakehouse_root,
            "0.0.0.0",
            1,
        )
