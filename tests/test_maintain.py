"""maintain: prompts older than the retention are scrubbed from silver (and physically
gone after VACUUM), recent ones untouched, tables compacted; reruns change nothing."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from distillwatch import tables
from distillwatch.config import RetentionConf
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.jobs.maintain import retention_cutoff, run

TODAY = dt.date(2026, 3, 31)
OLD, RECENT = dt.date(2026, 2, 1), dt.date(2026, 3, 30)
SCHEMA = "request_id string, event_date date, account_id string, capability string, prompt string, system_prompt string"


def _ctx(job_ctx: JobContext, **conf: object) -> JobContext:
    retention = RetentionConf(raw_text_days=30, vacuum_retain_hours=0, **conf)  # type: ignore[arg-type]
    c = replace(job_ctx, cfg=replace(job_ctx.cfg, retention=retention))
    c.__dict__["spark"] = job_ctx.spark
    return c


def _write_silver(ctx: JobContext) -> None:
    rows = [
        ("r1", OLD, "a1", "coding", "OLD SECRET one", "OLD SYSTEM"),
        ("r2", OLD, "a2", "coding", "OLD SECRET two", None),
        ("r3", RECENT, "a1", "writing_chat", "RECENT prompt", "RECENT system"),
    ]
    # Two appends per table: several small files for OPTIMIZE to compact.
    for part in (rows[:2], rows[2:]):
        ctx.lake.append(
            ctx.spark.createDataFrame(part, SCHEMA), tables.SILVER_EXCHANGES, partition_by=("event_date",)
        )
    for cid in ("c1", "c2"):
        ctx.lake.append(
            ctx.spark.createDataFrame(
                [(RECENT, cid, "r3", "a1")],
                "event_date date, campaign_id string, request_id string, account_id string",
            ),
            tables.CAMPAIGN_EXCHANGES,
        )


def _parquet_text(folder: Path) -> str:
    """Every string value of every data file still on disk under ``folder``."""
    out = []
    for f in folder.rglob("*.parquet"):
        out.append(str(pq.read_table(f).to_pylist()))
    return "\n".join(out)


def test_retention_cutoff() -> None:
    assert retention_cutoff(TODAY, 30) == dt.date(2026, 3, 1)
    with pytest.raises(UserError):
        retention_cutoff(TODAY, 0)


def test_maintain_nulls_old_prompts_and_vacuums_them_away(job_ctx: JobContext) -> None:
    ctx = _ctx(job_ctx)
    _write_silver(ctx)
    silver_dir = Path(ctx.lake.path(tables.SILVER_EXCHANGES))
    assert "OLD SECRET" in _parquet_text(silver_dir)
    assert run(ctx, argparse.Namespace(date=TODAY)) == 0
    got = sorted(tuple(r) for r in ctx.lake.read(tables.SILVER_EXCHANGES).collect())
    assert got == [
        ("r1", OLD, "a1", "coding", None, None),
        ("r2", OLD, "a2", "coding", None, None),
        ("r3", RECENT, "a1", "writing_chat", "RECENT prompt", "RECENT system"),
    ]
    on_disk = _parquet_text(silver_dir)
    assert "OLD SECRET" not in on_disk and "OLD SYSTEM" not in on_disk  # physically gone
    assert "RECENT prompt" in on_disk
    # OPTIMIZE compacted the two files of campaign_exchanges into one.
    ops = [
        r.operation
        for r in ctx.spark.sql(
            f"DESCRIBE HISTORY delta.`{ctx.lake.path(tables.CAMPAIGN_EXCHANGES)}`"
        ).collect()
    ]
    assert "OPTIMIZE" in ops and "VACUUM END" in ops
    # A rerun scrubs nothing: no new UPDATE commit on silver.
    before = ctx.lake.version(tables.SILVER_EXCHANGES)
    history_before = (
        ctx.spark.sql(f"DESCRIBE HISTORY delta.`{silver_dir}`").where("operation = 'UPDATE'").count()
    )
    assert run(ctx, argparse.Namespace(date=TODAY)) == 0
    assert (
        ctx.spark.sql(f"DESCRIBE HISTORY delta.`{silver_dir}`").where("operation = 'UPDATE'").count()
        == history_before
    )
    assert ctx.lake.version(tables.SILVER_EXCHANGES) >= before


def test_maintain_delete_mode_drops_old_partitions(job_ctx: JobContext) -> None:
    ctx = _ctx(job_ctx, raw_text_action="delete")
    _write_silver(ctx)
    assert run(ctx, argparse.Namespace(date=TODAY)) == 0
    assert [r.request_id for r in ctx.lake.read(tables.SILVER_EXCHANGES).collect()] == ["r3"]
    assert "OLD SECRET" not in _parquet_text(Path(ctx.lake.path(tables.SILVER_EXCHANGES)))


def test_maintain_rejects_an_unknown_action(job_ctx: JobContext) -> None:
    ctx = _ctx(job_ctx, raw_text_action="shred")
    _write_silver(ctx)
    with pytest.raises(UserError, match="raw_text_action"):
        run(ctx, argparse.Namespace(date=TODAY))
    assert "OLD SECRET" in _parquet_text(Path(ctx.lake.path(tables.SILVER_EXCHANGES)))


def test_maintain_scrubs_raw_text_in_bronze_and_quarantine_too(job_ctx: JobContext) -> None:
    ctx = _ctx(job_ctx)
    ctx.lake.append(
        ctx.spark.createDataFrame(
            [("b1", OLD, "OLD BRONZE SECRET", "OLD BRONZE SYSTEM"), ("b2", RECENT, "RECENT bronze", None)],
            "request_id string, event_date date, prompt string, system_prompt string",
        ),
        tables.BRONZE_EXCHANGES,
        partition_by=("event_date",),
    )
    ctx.lake.append(
        ctx.spark.createDataFrame(
            [
                (OLD, '{"prompt": "OLD QUARANTINED SECRET"', "unparseable_json"),
                (RECENT, "{recent", "unparseable_json"),
            ],
            "delivery_date date, raw string, reason string",
        ),
        tables.BRONZE_QUARANTINE,
        partition_by=("delivery_date",),
    )
    assert {t.name for t in tables.raw_text_tables()} == {
        tables.BRONZE_EXCHANGES,
        tables.BRONZE_QUARANTINE,
        tables.SILVER_EXCHANGES,
    }
    assert run(ctx, argparse.Namespace(date=TODAY)) == 0
    bronze = sorted(tuple(r) for r in ctx.lake.read(tables.BRONZE_EXCHANGES).collect())
    assert bronze == [("b1", OLD, None, None), ("b2", RECENT, "RECENT bronze", None)]
    quarantine = sorted(tuple(r) for r in ctx.lake.read(tables.BRONZE_QUARANTINE).collect())
    assert quarantine == [(OLD, None, "unparseable_json"), (RECENT, "{recent", "unparseable_json")]
    for table in (tables.BRONZE_EXCHANGES, tables.BRONZE_QUARANTINE):
        on_disk = _parquet_text(Path(ctx.lake.path(table)))
        assert "OLD BRONZE" not in on_disk and "OLD QUARANTINED" not in on_disk


def test_maintain_removes_staging_folders_a_killed_run_left(job_ctx: JobContext) -> None:
    import os
    import time
    from pathlib import Path

    from distillwatch.jobs.maintain import remove_stale_staging

    staging = Path(job_ctx.layout.staging)
    old = staging / "silver_exchanges" / "2026-02-01" / "run-old"
    new = staging / "silver_exchanges" / "2026-02-02" / "run-new"
    for d in (old, new):
        d.mkdir(parents=True)
        (d / "part-0.parquet").write_bytes(b"x")
    three_days_ago = time.time() - 72 * 3600
    os.utime(old, (three_days_ago, three_days_ago))
    gone = remove_stale_staging(job_ctx, keep_hours=48)
    assert [g.rsplit("/", 1)[-1] for g in gone] == ["run-old"]
    assert not old.exists() and (new / "part-0.parquet").exists()
