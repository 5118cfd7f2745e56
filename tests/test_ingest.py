"""Bronze ingestion on hand-written landing files: real Spark, real Delta."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.jobs.ingest import ingest

DAY = dt.date(2026, 2, 3)


def exchange(rid: str, ts: str = "2026-02-03T10:00:00Z", **over: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "request_id": rid,
        "ts": ts,
        "account_id": "acct-1",
        "api_key_id": "key-1",
        "model": "orion-4",
        "client_ip": "203.0.113.7",
        "user_agent": "sdk/1.0",
        "tls_fp": "t13d1516h2_aaa",
        "prompt": "hello there",
        "system_prompt": None,
        "input_tokens": 12,
        "output_tokens": 40,
        "n_messages": 1,
        "n_tools": 0,
        "tool_calls": 0,
        "has_image": False,
        "thinking": False,
        "status": 200,
        "latency_ms": 900,
    }
    rec.update(over)
    return rec


def write_jsonl(path: Path, lines: list[object], gz: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def delivery(ctx: JobContext, day: dt.date) -> Path:
    folder = Path(ctx.landing) / "exchanges" / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def quarantine_reasons(ctx: JobContext) -> dict[str, str]:
    rows = ctx.lake.read(tables.BRONZE_QUARANTINE).where("source = 'exchanges'").collect()
    return {r["raw"]: r["reason"] for r in rows}


def test_valid_records_land_in_bronze_with_the_contract_schema(job_ctx: JobContext) -> None:
    write_jsonl(
        delivery(job_ctx, DAY) / "part-0.jsonl.gz", [exchange("r1"), exchange("r2", extra_field="ignored")]
    )
    r = ingest(job_ctx, DAY)
    assert (r.read, r.new, r.duplicates, r.quarantined) == (2, 2, 0, 0)
    bronze = job_ctx.lake.read(tables.BRONZE_EXCHANGES)
    assert [(f.name, f.dataType) for f in bronze.schema.fields] == [
        (f.name, f.dataType) for f in tables.schema(tables.BRONZE_EXCHANGES).fields
    ]
    row = bronze.where("request_id = 'r1'").first()
    assert row["ts"] == dt.datetime(2026, 2, 3, 10, 0, 0)
    assert row["event_date"] == DAY and row["delivery_date"] == DAY
    assert row["input_tokens"] == 12 and row["has_image"] is False
    # registered by name in the metastore, stored at <lakehouse>/<table>
    n = job_ctx.spark.sql(f"SELECT count(*) FROM {job_ctx.lake.qualified(tables.BRONZE_EXCHANGES)}").first()[
        0
    ]
    assert n == 2
    assert (Path(job_ctx.lakehouse_root) / tables.BRONZE_EXCHANGES / "_delta_log").is_dir()


def test_each_bad_record_is_quarantined_with_its_reason(job_ctx: JobContext) -> None:
    broken = '{"request_id": "b1", "ts": "2026-02-03T10:00:00Z"'  # truncated JSON
    no_account = exchange("b2")
    del no_account["account_id"]
    cases = [
        broken,
        json.dumps(no_account),
        json.dumps(exchange("b3", input_tokens="many")),
        json.dumps(exchange("b4", output_tokens=-5)),
        json.dumps(exchange("b5", ts="yesterday at noon")),
        json.dumps(exchange("b6", ts="2026-02-05T01:00:00Z")),
        json.dumps(exchange("b7", ts="2026-01-30T23:59:59Z")),
        json.dumps(exchange("b8", client_ip="300.1.2.3")),
        json.dumps(exchange("b9", client_ip="not-an-ip")),
        json.dumps(exchange("b10", has_image="yes")),
        "[1, 2, 3]",
        "   ",
    ]
    write_jsonl(delivery(job_ctx, DAY) / "part-0.jsonl", [*cases, exchange("ok1")], gz=False)
    r = ingest(job_ctx, DAY)
    assert (r.read, r.new, r.quarantined) == (13, 1, 12)
    reasons = quarantine_reasons(job_ctx)
    assert reasons == {
        cases[0]: "unparseable_json",
        cases[1]: "missing_required_field:account_id",
        cases[2]: "wrong_type:input_tokens",
        cases[3]: "negative_count:output_tokens",
        cases[4]: "unparseable_ts",
        cases[5]: "ts_in_future",
        cases[6]: "ts_too_old",
        cases[7]: "unparseable_ip",
        cases[8]: "unparseable_ip",
        cases[9]: "wrong_type:has_image",
        cases[10]: "unparseable_json",
        cases[11]: "empty_record",
    }
    q = (
        job_ctx.lake.read(tables.BRONZE_QUARANTINE)
        .where("raw = '" + cases[1].replace("'", "''") + "'")
        .first()
    )
    assert q["delivery_date"] == DAY and q["source_file"].endswith("part-0.jsonl") and q["request_id"] == "b2"


@pytest.mark.slow
def test_bounds_blank_ids_long_prompts_and_bad_utf8_are_quarantined_and_features_run(
    job_ctx: JobContext,
) -> None:
    import argparse

    from distillwatch.contract import EXCHANGE_COUNT_MAX, PROMPT_MAX_CHARS
    from distillwatch.jobs import features

    cases = [
        exchange("u1", output_tokens=2**63 - 1),  # the ANSI overflow of a day's sums
        exchange("u2", latency_ms=EXCHANGE_COUNT_MAX["latency_ms"] + 1),
        exchange("u3", n_tools=EXCHANGE_COUNT_MAX["n_tools"] + 1),
        exchange("", account_id="acct-2"),
        exchange("u5", account_id="  "),
        exchange("u6", prompt=""),
        exchange("u7", prompt="x" * (PROMPT_MAX_CHARS + 1)),
    ]
    fine = [
        exchange("k1", output_tokens=EXCHANGE_COUNT_MAX["output_tokens"]),  # at the bound: accepted
        exchange("k2", prompt="", has_image=True),  # an image without text
        exchange("k3", prompt="y" * PROMPT_MAX_CHARS),
    ]
    folder = delivery(job_ctx, DAY)
    write_jsonl(folder / "part-0.jsonl", [*cases, *fine], gz=False)
    # a line that is not UTF-8 (Latin-1 bytes), beside a valid one
    bad = json.dumps(exchange("u8", prompt="caf\u00e9")).replace("caf\\u00e9", "caf\u00e9").encode("latin-1")
    (folder / "part-1.jsonl").write_bytes(bad + b"\n" + json.dumps(exchange("k4")).encode() + b"\n")
    r = ingest(job_ctx, DAY)
    assert (r.read, r.new, r.duplicates, r.quarantined) == (12, 4, 0, 8)
    got = sorted(quarantine_reasons(job_ctx).values())
    assert got == sorted([
        "out_of_range:output_tokens", "out_of_range:latency_ms", "out_of_range:n_tools",
        "empty_field:request_id", "empty_field:account_id", "empty_field:prompt", "prompt_too_long",
        "invalid_utf8",
    ])  # fmt: skip
    (utf8,) = job_ctx.lake.read(tables.BRONZE_QUARANTINE).where("reason = 'invalid_utf8'").collect()
    assert base64.b64decode(utf8["raw"].removeprefix("base64:")) == bad  # the original bytes
    # no accepted record can stop the day's features
    assert features.run(job_ctx, argparse.Namespace(date=DAY)) in (0, None)
    feats = job_ctx.lake.read(tables.ACCOUNT_DAILY_FEATURES).where(F.col("event_date") == DAY)
    assert feats.where("account_id = 'acct-1'").first()["n_exchanges"] == 4


@pytest.mark.slow
def test_conflicting_duplicates_are_quarantined_with_both_hashes(job_ctx: JobContext) -> None:
    folder = delivery(job_ctx, DAY)
    write_jsonl(folder / "b.jsonl", [exchange("c1", prompt="second file"), exchange("c2")], gz=False)
    write_jsonl(folder / "a.jsonl", [exchange("c1", prompt="first file"), exchange("c2")], gz=False)
    r = ingest(job_ctx, DAY)
    # c2 twice with the same content is an ordinary duplicate; c1 with two contents is a conflict
    assert (r.read, r.new, r.duplicates, r.quarantined) == (4, 2, 1, 1)
    assert r.quarantined_by_reason == "conflicting_duplicate=1"
    kept = job_ctx.lake.read(tables.BRONZE_EXCHANGES).where("request_id = 'c1'").collect()
    assert [k["prompt"] for k in kept] == ["first file"]  # the first file by name wins
    (q,) = job_ctx.lake.read(tables.BRONZE_QUARANTINE).where("reason = 'conflicting_duplicate'").collect()
    evidence = json.loads(q["raw"])
    assert q["request_id"] == "c1" and q["source_file"].endswith("b.jsonl")
    assert evidence["record"]["prompt"] == "second file"
    assert evidence["content_hash"] != evidence["kept_content_hash"]
    # the same delivery again: the same outcome (idempotent)
    again = ingest(job_ctx, DAY)
    assert (again.new, again.duplicates, again.quarantined) == (0, 3, 1)


def test_counts_reconcile_and_reingest_is_idempotent(job_ctx: JobContext) -> None:
    folder = delivery(job_ctx, DAY)
    recs = [exchange(f"r{i}") for i in range(20)]
    # at-least-once delivery: r0 twice in one file, r1 again in a second file
    write_jsonl(folder / "part-0.jsonl.gz", [*recs, recs[0], "garbage{"])
    write_jsonl(folder / "part-1.jsonl.gz", [recs[1]])
    first = ingest(job_ctx, DAY)
    assert (first.read, first.new, first.duplicates, first.quarantined) == (23, 20, 2, 1)
    v1 = job_ctx.lake.version(tables.BRONZE_EXCHANGES)
    second = ingest(job_ctx, DAY)
    assert (second.read, second.new, second.duplicates, second.quarantined) == (23, 0, 22, 1)
    assert job_ctx.lake.read(tables.BRONZE_EXCHANGES).count() == 20
    assert job_ctx.lake.read(tables.BRONZE_QUARANTINE).where("source = 'exchanges'").count() == 1
    log = job_ctx.lake.read(tables.INGEST_LOG).where("status = 'complete'").orderBy("started_at").collect()
    assert [(x["read"], x["new"], x["duplicates"], x["quarantined"]) for x in log] == [
        (23, 20, 2, 1),
        (23, 0, 22, 1),
    ]
    for x in log:
        assert x["read"] == x["new"] + x["duplicates"] + x["quarantined"]
    assert job_ctx.lake.version(tables.BRONZE_EXCHANGES) is not None and v1 is not None


@pytest.mark.slow
def test_late_and_redelivered_records_land_in_their_event_date_once(job_ctx: JobContext) -> None:
    write_jsonl(
        delivery(job_ctx, DAY) / "a.jsonl.gz", [exchange("x1"), exchange("late1", ts="2026-02-01T08:00:00Z")]
    )
    ingest(job_ctx, DAY)
    next_day = DAY + dt.timedelta(days=1)
    write_jsonl(
        delivery(job_ctx, next_day) / "a.jsonl.gz",
        [
            exchange("x2", ts="2026-02-04T00:10:00Z"),
            exchange("x1"),
            exchange("late2", ts="2026-02-02T23:00:00+00:00"),
        ],
    )
    r = ingest(job_ctx, next_day)
    assert (r.new, r.duplicates) == (2, 1)
    got = {
        (x["request_id"], str(x["event_date"]), str(x["delivery_date"]))
        for x in job_ctx.lake.read(tables.BRONZE_EXCHANGES).collect()
    }
    assert got == {
        ("x1", "2026-02-03", "2026-02-03"),
        ("late1", "2026-02-01", "2026-02-03"),
        ("x2", "2026-02-04", "2026-02-04"),
        ("late2", "2026-02-02", "2026-02-04"),
    }


def test_ipv6_clients_are_accepted(job_ctx: JobContext) -> None:
    recs = [
        exchange("v6a", client_ip="2001:db8:85a3::8a2e:370:7334"),
        exchange("v6b", client_ip="::1"),
        exchange("v6c", client_ip="2001:db8::g"),
    ]
    write_jsonl(delivery(job_ctx, DAY) / "a.jsonl.gz", recs)
    r = ingest(job_ctx, DAY)
    assert (r.new, r.quarantined) == (2, 1)
    assert set(quarantine_reasons(job_ctx).values()) == {"unparseable_ip"}


def test_parquet_deliveries_take_the_same_path(job_ctx: JobContext) -> None:
    folder = delivery(job_ctx, DAY)
    rows = [exchange("p1"), exchange("p2", input_tokens=-1)]
    job_ctx.spark.createDataFrame([json.dumps(x) for x in rows], "string").select(
        F.from_json(
            "value",
            "request_id string, ts string, account_id string, api_key_id string, model string, "
            "client_ip string, user_agent string, tls_fp string, prompt string, system_prompt string, "
            "input_tokens bigint, output_tokens bigint, n_messages int, n_tools int, tool_calls int, "
            "has_image boolean, thinking boolean, status int, latency_ms bigint",
        ).alias("r")
    ).select("r.*").coalesce(1).write.parquet(str(folder / "pq"))
    for f in (folder / "pq").glob("*.parquet"):
        f.rename(folder / "batch.parquet")
    r = ingest(job_ctx, DAY)
    assert (r.read, r.new, r.quarantined) == (2, 1, 1)
    assert set(quarantine_reasons(job_ctx).values()) == {"negative_count:input_tokens"}


def test_empty_delivery_is_zero_rows_and_missing_one_is_an_error(job_ctx: JobContext) -> None:
    delivery(job_ctx, DAY)
    r = ingest(job_ctx, DAY)
    assert (r.read, r.new, r.duplicates, r.quarantined, r.files) == (0, 0, 0, 0, 0)
    assert job_ctx.lake.read(tables.BRONZE_EXCHANGES).count() == 0
    with pytest.raises(UserError, match="does not exist"):
        ingest(job_ctx, DAY + dt.timedelta(days=1))


@pytest.mark.slow
def test_dimensions_become_delta_tables_and_bad_rows_are_quarantined(job_ctx: JobContext) -> None:
    land = Path(job_ctx.landing)
    delivery(job_ctx, DAY)
    write_jsonl(
        land / "accounts" / f"date={DAY}" / "a.jsonl.gz",
        [
            {
                "account_id": "acct-1",
                "org_id": None,
                "created_at": "2025-12-01T00:00:00Z",
                "billing_country": "DE",
                "signup_path": "self_serve",
                "payment_fp": "pf1",
                "email_domain": "gmail.com",
                "verified": True,
            },
            {"account_id": "acct-2", "signup_path": "enterprise"},
        ],
    )
    write_jsonl(
        land / "ip_intel" / "a.jsonl.gz",
        [
            {
                "prefix": "203.0.113.0/24",
                "asn": 64500,
                "asn_org": "X",
                "country": "DE",
                "is_hosting": True,
                "is_proxy": False,
            }
        ],
    )
    write_jsonl(
        land / "threat_intel" / "a.jsonl",
        [
            {
                "indicator_type": "payment_fp",
                "value": "pf9",
                "actor": "A",
                "source": "partner",
                "confidence": 0.9,
                "first_seen": "2026-01-20",
            },
            "{oops",
        ],
        gz=False,
    )
    write_jsonl(
        land / "model_releases" / "a.jsonl.gz", [{"model": "orion-4", "released_at": "2025-10-01T00:00:00Z"}]
    )
    write_jsonl(
        land / "labels" / "a.jsonl.gz",
        [
            {
                "account_id": "acct-1",
                "label": "benign",
                "actor": None,
                "campaign": None,
                "decided_at": "2026-01-15T00:00:00Z",
            }
        ],
    )
    r = ingest(job_ctx, DAY)
    assert r.account_rows == 1 and r.dimension_quarantined == 2
    lake = job_ctx.lake
    acc = lake.read(tables.ACCOUNTS).first()
    assert acc["account_id"] == "acct-1" and acc["snapshot_date"] == DAY
    assert lake.read(tables.IP_INTEL).first()["asn"] == 64500
    assert lake.read(tables.THREAT_INTEL).count() == 1
    assert lake.read(tables.MODEL_RELEASES).count() == 1 and lake.read(tables.LABELS).count() == 1
    q = {(x["source"], x["reason"]) for x in lake.read(tables.BRONZE_QUARANTINE).collect()}
    assert q == {("accounts", "missing_required_field:created_at"), ("threat_intel", "unparseable_json")}
    ingest(job_ctx, DAY)  # re-run: dimension tables and quarantine unchanged in content
    assert lake.read(tables.ACCOUNTS).count() == 1 and lake.read(tables.BRONZE_QUARANTINE).count() == 2


PARQUET_DDL = (
    "request_id string, ts string, account_id string, api_key_id string, model string, "
    "client_ip string, user_agent string, tls_fp string, prompt string, system_prompt string, "
    "input_tokens bigint, output_tokens bigint, n_messages int, n_tools int, tool_calls int, "
    "has_image boolean, thinking boolean, status int, latency_ms bigint"
)


def write_parquet(
    ctx: JobContext, path: Path, recs: list[dict[str, object]], ts_type: str = "string"
) -> None:
    """One Parquet file at ``path``; ``ts_type`` 'timestamp' writes ``ts`` as a Parquet TIMESTAMP."""
    df = (
        ctx.spark.createDataFrame([json.dumps(x) for x in recs], "string")
        .select(F.from_json("value", PARQUET_DDL).alias("r"))
        .select("r.*")
    )
    if ts_type == "timestamp":
        df = df.withColumn("ts", F.col("ts").cast("timestamp"))
    tmp = path.parent / f"_{path.name}.d"
    df.coalesce(1).write.parquet(str(tmp))
    (part,) = tmp.glob("*.parquet")
    part.rename(path)
    for leftover in sorted(tmp.rglob("*"), reverse=True):
        leftover.unlink() if leftover.is_file() else leftover.rmdir()
    tmp.rmdir()


@pytest.mark.slow
def test_a_delivery_of_bad_files_lands_its_good_files_and_accounts_for_every_one(job_ctx: JobContext) -> None:
    import argparse

    from distillwatch.jobs import features

    folder = delivery(job_ctx, DAY)
    write_jsonl(folder / "good.jsonl.gz", [exchange("g1"), exchange("g2"), exchange("g1"), "garbage{"])
    write_jsonl(folder / "odd name.jsonl.gz", [exchange("s1", account_id="acct-2")])
    whole = gzip.compress(("\n".join(json.dumps(exchange(f"t{i}")) for i in range(400)) + "\n").encode())
    (folder / "truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "not_gzip.jsonl.gz").write_text(json.dumps(exchange("n1")) + "\n")
    (folder / "empty.parquet").write_bytes(b"")
    write_parquet(job_ctx, folder / "ts_string.parquet", [exchange("p1"), exchange("p2", input_tokens=-1)])
    write_parquet(
        job_ctx,
        folder / "ts_timestamp.parquet",
        [exchange("q1", ts="2026-02-03T11:30:00Z")],
        ts_type="timestamp",
    )
    (folder / "x.json").write_text(json.dumps(exchange("j1")) + "\n")
    (folder / "y.JSONL").write_text(json.dumps(exchange("j2")) + "\n")

    r = ingest(job_ctx, DAY)
    # good: 4 lines (2 new, 1 duplicate, 1 unparseable); odd name: 1 new; ts_string: 1 new and
    # 1 quarantined; ts_timestamp: 1 new. Corrupt and unrecognised files are not read at all.
    assert (r.read, r.new, r.duplicates, r.quarantined) == (8, 5, 1, 2)
    assert (r.files, r.corrupt_files, r.unrecognised_files) == (9, 3, 2)
    ledger = {
        x["file_name"]: x
        for x in job_ctx.lake.read(tables.INGEST_FILES).where(F.col("run_id") == r.run_id).collect()
    }
    outcomes = {name: (x["outcome"], x["reason"]) for name, x in ledger.items()}
    assert outcomes == {
        "good.jsonl.gz": ("ingested", None),
        "odd name.jsonl.gz": ("ingested", None),
        "ts_string.parquet": ("ingested", None),
        "ts_timestamp.parquet": ("ingested", None),
        "truncated.jsonl.gz": ("corrupt_file", "corrupt_file:truncated_gzip"),
        "not_gzip.jsonl.gz": ("corrupt_file", "corrupt_file:not_gzip"),
        "empty.parquet": ("corrupt_file", "corrupt_file:empty_file"),
        "x.json": ("unrecognised_file", "unrecognised_file"),
        "y.JSONL": ("unrecognised_file", "unrecognised_file"),
    }
    assert len(ledger) == r.files
    for x in ledger.values():
        assert x["size_bytes"] == (folder / x["file_name"]).stat().st_size
        assert x["checksum"]
        if x["outcome"] == "ingested":  # per file: read = new + duplicates + quarantined
            assert x["read"] == x["new"] + x["duplicates"] + x["quarantined"]
        else:
            assert x["read"] is None and x["new"] is None
    assert (ledger["good.jsonl.gz"]["read"], ledger["good.jsonl.gz"]["new"]) == (4, 2)
    assert ledger["ts_timestamp.parquet"]["new"] == 1
    # per day: the files add up to the delivery, and the delivery to bronze and quarantine
    ingested = [x for x in ledger.values() if x["outcome"] == "ingested"]
    assert sum(x["read"] for x in ingested) == r.read and sum(x["new"] for x in ingested) == r.new
    assert sum(x["quarantined"] for x in ingested) == r.quarantined
    assert job_ctx.lake.read(tables.BRONZE_EXCHANGES).count() == r.new
    q1 = job_ctx.lake.read(tables.BRONZE_EXCHANGES).where("request_id = 'q1'").first()
    assert q1["ts"] == dt.datetime(2026, 2, 3, 11, 30, 0)  # a Parquet TIMESTAMP is valid input
    (day_log,) = job_ctx.lake.read(tables.INGEST_LOG).where("status = 'complete'").collect()
    assert (day_log["corrupt_files"], day_log["unrecognised_files"]) == (3, 2)
    # the day's features run on what landed
    assert features.run(job_ctx, argparse.Namespace(date=DAY)) in (0, None)
    feats = job_ctx.lake.read(tables.ACCOUNT_DAILY_FEATURES).where(F.col("event_date") == DAY)
    assert {x["account_id"]: x["n_exchanges"] for x in feats.collect()} == {"acct-1": 4, "acct-2": 1}


@pytest.mark.slow
def test_features_refuse_a_day_whose_delivery_did_not_complete(job_ctx: JobContext) -> None:
    import argparse

    from distillwatch.jobs import features
    from distillwatch.jobs.ingest import _log, incomplete_deliveries
    from distillwatch.jobs.landing import utc_now

    write_jsonl(delivery(job_ctx, DAY) / "a.jsonl.gz", [exchange("r1")])
    ingest(job_ctx, DAY)
    # what a run killed mid-ingest leaves: a started row that no complete row closes
    _log(job_ctx, run_id="killed0run", delivery_date=DAY, status="started", started_at=utc_now())
    with pytest.raises(UserError, match=r"features 2026-02-03: refused.*delivery 2026-02-03.*killed0run"):
        features.run(job_ctx, argparse.Namespace(date=DAY))
    ingest(job_ctx, DAY)  # the rerun closes the delivery: the day may be built again
    assert incomplete_deliveries(job_ctx, DAY) == []


@pytest.mark.slow
def test_a_late_record_recomputes_its_day_s_features_in_daily(job_ctx: JobContext) -> None:
    from dataclasses import replace

    from distillwatch.jobs import daily

    cfg = job_ctx.cfg
    ctx = replace(job_ctx, cfg=replace(cfg, ingest=replace(cfg.ingest, reprocess_min_late_share=0.0)))
    ctx.__dict__["spark"] = job_ctx.spark
    d1, d2, d3 = DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
    steps = ("ingest", "features")
    write_jsonl(delivery(ctx, d1) / "a.jsonl.gz", [exchange("a1"), exchange("a2")])
    daily.run_day(ctx, d1, steps)
    write_jsonl(delivery(ctx, d2) / "a.jsonl.gz", [exchange("b1", ts="2026-02-04T09:00:00Z")])
    daily.run_day(ctx, d2, steps)

    def n_exchanges(day: dt.date) -> int:
        feats = ctx.lake.read(tables.ACCOUNT_DAILY_FEATURES)
        return feats.where((F.col("event_date") == day) & (F.col("account_id") == "acct-1")).first()[
            "n_exchanges"
        ]

    assert n_exchanges(d1) == 2
    # delivered on D+2: one record of D+2 and one of D, two days late
    write_jsonl(
        delivery(ctx, d3) / "a.jsonl.gz",
        [exchange("c1", ts="2026-02-05T09:00:00Z"), exchange("late", ts="2026-02-03T23:59:00Z")],
    )
    assert daily.dirty_days(ctx, d3) == []  # nothing landed late yet
    daily.run_day(ctx, d3, steps)
    assert n_exchanges(d1) == 3  # D was recomputed with its late record
    assert n_exchanges(d3) == 1
    assert daily.dirty_days(ctx, d3 + dt.timedelta(days=1)) == []  # and is clean again
    runs = ctx.lake.read(tables.RUNS).where("step = 'features' AND status = 'ok'")
    assert sorted(str(r["run_date"]) for r in runs.collect()) == [
        "2026-02-03", "2026-02-03", "2026-02-04", "2026-02-05"
    ]  # fmt: skip
