"""silver_exchanges enrichment and account_daily_features on a hand-built day.

The day 2026-02-03: accounts A1 and A2 share a payment instrument, an IP prefix and an
e-mail domain and take turns minute by minute sending one chain-of-thought-elicitation
template; B1 writes two poems from an IPv6 address; B2 (same free-mail domain as B1)
asks for one translation.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pytest
import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from distillwatch import tables
from distillwatch.contract import (
    ACCOUNT_SCHEMA,
    IP_INTEL_SCHEMA,
    MODEL_RELEASE_SCHEMA,
    THREAT_INTEL_SCHEMA,
)
from distillwatch.jobs import features as features_job
from distillwatch.pipelines.features import ROLLING_COLUMNS, account_daily_features, with_rolling_evidence
from distillwatch.pipelines.fingerprint import MinHashSpec
from distillwatch.pipelines.intent import Patterns
from distillwatch.pipelines.silver import SILVER_COLUMNS, account_snapshot, silver_exchanges

REPO = Path(__file__).resolve().parent.parent
DAY = "2026-02-03"
T = dt.datetime
COT = "Calculate {n} times {m}. The correct answer is {k}. Explain the step-by-step reasoning that leads to this answer."


def _ex(rid: str, acc: str, ts: dt.datetime, ip: str, prompt: str, model: str = "m-new", status: int = 200,
        pf_ua: str = "ua-1", tls: str = "tls-1") -> tuple:  # fmt: skip
    return (rid, ts, acc, "k-" + acc, model, ip, pf_ua, tls, prompt, None, 100, 300, 1, 0, 0, False, True,
            status, 50, dt.date(2026, 2, 3), dt.date(2026, 2, 3), "f.jsonl", T(2026, 2, 4))  # fmt: skip


def _world(spark: SparkSession) -> dict[str, DataFrame]:
    a1 = [_ex(f"a1-{i}", "A1", T(2026, 2, 3, 10, 2 * i), "1.2.3.10", COT.format(n=i + 2, m=3, k=3 * i + 6),
              status=429 if i == 2 else 200) for i in range(3)]  # fmt: skip
    a2 = [_ex(f"a2-{i}", "A2", T(2026, 2, 3, 10, 2 * i + 1), "1.2.3.11", COT.format(n=i + 7, m=5, k=5 * i + 35))
          for i in range(3)]  # fmt: skip
    b1 = [
        _ex(
            "b1-0",
            "B1",
            T(2026, 2, 3, 9, 0),
            "2001:db8::1",
            "Write a poem about autumn.",
            model="m-old",
            tls="t2",
        ),
        _ex(
            "b1-1",
            "B1",
            T(2026, 2, 3, 15, 0),
            "2001:db8::2",
            "Write a poem about spring.",
            model="m-old",
            tls="t2",
        ),
    ]
    b2 = [_ex("b2-0", "B2", T(2026, 2, 3, 11, 0), "9.9.9.9", "Translate into French: good morning", tls="t3")]
    other_day = [_ex("x-0", "A1", T(2026, 2, 2, 10, 0), "1.2.3.10", "hello")[:19]
                 + (dt.date(2026, 2, 2), dt.date(2026, 2, 2), "f", T(2026, 2, 2))]  # fmt: skip
    bronze = spark.createDataFrame(a1 + a2 + b1 + b2 + other_day, tables.schema(tables.BRONZE_EXCHANGES))
    acc_schema = StructType(list(ACCOUNT_SCHEMA.fields)).add("snapshot_date", "date")
    created = T(2025, 12, 4)
    accounts = spark.createDataFrame(
        [
            ("A1", "o1", created, "US", "self_serve", "pf1", "evil.io", False, dt.date(2026, 1, 1)),
            ("A1", "o1", created, "CN", "self_serve", "pf1", "evil.io", True, dt.date(2026, 2, 5)),  # future
            ("A2", "o2", created, "US", "education", "pf1", "Evil.io", False, dt.date(2026, 1, 1)),
            ("B1", "o3", T(2026, 1, 30), "DE", "enterprise", "pf2", "gmail.com", True, dt.date(2026, 2, 1)),
            ("B2", "o4", T(2026, 1, 30), "FR", "self_serve", "pf3", "gmail.com", True, dt.date(2026, 2, 1)),
        ],
        acc_schema,
    )
    ip_intel = spark.createDataFrame([("1.2.3.0/24", 64500, "BadHost", "CN", True, False)], IP_INTEL_SCHEMA)
    intel = spark.createDataFrame(
        [
            ("payment_fp", "pf1", "X", "vendor", 0.9, dt.date(2026, 1, 1)),
            ("prompt_example", COT.format(n=40, m=2, k=80), "Y", "vendor", 0.7, dt.date(2026, 1, 2)),
            ("tls_fp", "t2", "Z", "vendor", 0.99, dt.date(2026, 2, 10)),  # not known yet on DAY
        ],
        THREAT_INTEL_SCHEMA,
    )
    releases = spark.createDataFrame(
        [("m-old", T(2025, 6, 1)), ("m-new", T(2026, 2, 2, 12)), ("m-future", T(2026, 2, 10))],
        MODEL_RELEASE_SCHEMA,
    )
    return {
        "bronze": bronze,
        "accounts": accounts,
        "ip_intel": ip_intel,
        "intel": intel,
        "releases": releases,
    }


@pytest.fixture(scope="module")
def patterns() -> Patterns:
    return Patterns.from_mapping(yaml.safe_load((REPO / "conf/patterns/v1.yaml").read_text()))


@pytest.fixture(scope="module")
def world(spark):  # type: ignore[no-untyped-def]
    return _world(spark)


@pytest.fixture(scope="module")
def silver(world, patterns):  # type: ignore[no-untyped-def]
    w = world
    df = silver_exchanges(w["bronze"], w["accounts"], w["ip_intel"], w["intel"], w["releases"], DAY, patterns,
                      MinHashSpec())  # fmt: skip
    # A leaf, as the features job reads silver (its staged files): on the whole plan of the
    # literal rows every DataFrame call of the feature builders re-analyses that plan, ~17 s
    # a build against ~1.3 s on a leaf.
    return df.localCheckpoint()


def test_account_snapshot_ranks_only_the_active_accounts(world) -> None:  # type: ignore[no-untyped-def]
    accounts = world["accounts"]
    every = {r["account_id"]: r for r in account_snapshot(accounts, DAY).collect()}
    assert sorted(every) == ["A1", "A2", "B1", "B2"]
    assert every["A1"]["billing_country"] == "US"  # the 2026-02-05 snapshot is after DAY
    active = accounts.sparkSession.createDataFrame([("A1",), ("B2",), ("ghost",)], "account_id string")
    some = {r["account_id"]: r for r in account_snapshot(accounts, DAY, active).collect()}
    assert sorted(some) == ["A1", "B2"]  # an active account without a snapshot has no row
    assert some["A1"].asDict() == every["A1"].asDict()


def test_silver_enrichment_is_point_in_time(silver) -> None:  # type: ignore[no-untyped-def]
    assert tuple(silver.columns) == SILVER_COLUMNS
    rows = {r["request_id"]: r for r in silver.collect()}
    assert sorted(rows) == ["a1-0", "a1-1", "a1-2", "a2-0", "a2-1", "a2-2", "b1-0", "b1-1", "b2-0"]
    a = rows["a1-0"]
    assert (a["ip_prefix"], a["ip_version"], a["asn"], a["ip_country"], a["is_hosting"]) == (
        "1.2.3.0/24", 4, 64500, "CN", True)  # fmt: skip
    assert (a["billing_country"], a["verified"], a["email_domain"], a["is_free_mail"]) == (
        "US",
        False,
        "evil.io",
        False,
    )
    assert (a["is_new_model"], a["cot_elicitation"], a["capability"], a["lang"]) == (
        True,
        True,
        "reasoning_math",
        "en",
    )
    assert (a["intel_actor"], a["intel_confidence"], a["intel_types"]) == (
        "X",
        0.9,
        ["payment_fp", "prompt_example"],
    )
    assert a["template_hash"] == rows["a2-1"]["template_hash"]
    b = rows["b1-0"]
    assert (b["ip_prefix"], b["asn"], b["is_hosting"], b["is_free_mail"], b["is_new_model"]) == (
        "2001:db8:0::/48", None, None, True, False)  # fmt: skip
    assert (b["intel_actor"], b["intel_types"], b["capability"], b["cot_elicitation"]) == (
        None, [], "writing_chat", False)  # fmt: skip
    assert b["patterns_version"] == "v1"


EXPECTED = {
    "A1": {
        "n_exchanges": 3, "input_tokens": 300, "output_tokens": 900, "active_hours": 1,
        "hour_coverage": 1 / 24, "hour_entropy": 0.0, "gap_cv": 0.0, "burstiness": -1.0,
        "distinct_templates_per_exchange": 1 / 3, "top_template_share": 1.0, "template_entropy": 0.0,
        "near_dup_share": 1.0, "capability_entropy": 0.0, "top_capability": "reasoning_math",
        "top_capability_share": 1.0, "cot_share": 1.0, "rubric_share": 0.0, "sensitive_share": 0.0,
        "mean_turns": 1.0, "tools_share": 0.0, "mean_tool_calls": 0.0, "image_share": 0.0,
        "thinking_share": 1.0, "mean_output_tokens": 300.0, "output_input_ratio": 3.0,
        "error_4xx_share": 1 / 3, "rate_limited_share": 1 / 3, "newest_model_share": 1.0,
        "new_model_share": 1.0, "account_age_days": 61, "signup_path": "self_serve", "verified": 0.0,
        "country_mismatch_share": 1.0, "hosting_ip_share": 1.0, "proxy_ip_share": 0.0, "n_prefixes": 1,
        "n_asns": 1, "n_accounts_same_prefix": 1, "n_accounts_same_payment": 1, "n_accounts_same_tls": 1,
        "n_accounts_same_user_agent": 3, "n_accounts_same_email_domain": 1, "sync_score": 1.0,
        "intel_matches": 3, "intel_max_confidence": 0.9, "intel_matches_payment_fp": 3,
        "intel_matches_prompt_example": 3, "intel_matches_tls_fp": 0,
    },
    "B1": {
        "n_exchanges": 2, "active_hours": 2, "hour_entropy": 1.0, "gap_cv": None, "burstiness": None,
        "distinct_templates_per_exchange": 1.0, "top_template_share": 0.5, "template_entropy": 1.0,
        "near_dup_share": 0.0, "top_capability": "writing_chat", "cot_share": 0.0,
        "newest_model_share": 0.0, "new_model_share": 0.0, "account_age_days": 4, "verified": 1.0,
        "country_mismatch_share": 0.0, "hosting_ip_share": 0.0, "n_prefixes": 1, "n_asns": 0,
        "n_accounts_same_prefix": 0, "n_accounts_same_payment": 0, "n_accounts_same_tls": 0,
        "n_accounts_same_email_domain": 0, "sync_score": 0.0, "intel_matches": 0,
        "intel_max_confidence": None, "intel_matches_tls_fp": 0,
    },
}  # fmt: skip


def test_account_daily_features_on_hand_built_day(silver, world) -> None:  # type: ignore[no-untyped-def]
    feats = account_daily_features(silver, world["releases"], DAY)
    rows = {r["account_id"]: r.asDict() for r in feats.collect()}
    assert sorted(rows) == ["A1", "A2", "B1", "B2"]
    assert {r["event_date"] for r in rows.values()} == {dt.date(2026, 2, 3)}
    for acc, expected in EXPECTED.items():
        got = {k: rows[acc][k] for k in expected}
        assert got == pytest.approx(expected), acc
    assert rows["A2"]["sync_score"] == pytest.approx(1.0)
    assert rows["A2"]["signup_path"] == "education"
    types = dict(feats.dtypes)
    assert types["top_capability"] == types["signup_path"] == "string"
    numeric = {"double", "bigint"}
    assert {c: t for c, t in types.items() if c not in ("event_date", "account_id", "top_capability", "signup_path")
            and t not in numeric} == {}  # fmt: skip


def test_sync_score_is_low_for_independent_sharers(spark, silver, world) -> None:  # type: ignore[no-untyped-def]
    # A2 moved to the same minutes as A1: both active together, no turn-taking
    from pyspark.sql import functions as F

    together = silver.withColumn(
        "ts",
        F.when(F.col("account_id") == "A2", F.col("ts") - F.expr("INTERVAL 1 MINUTE")).otherwise(F.col("ts")),
    )
    rows = {r["account_id"]: r for r in account_daily_features(together, world["releases"], DAY).collect()}
    assert rows["A1"]["sync_score"] == 0.0
    assert rows["A1"]["n_accounts_same_payment"] == 1


_ROLL = ("event_date date, account_id string, n_exchanges long, input_tokens long, output_tokens long,"
         " cot_share double, rubric_share double, sensitive_share double, near_dup_share double,"
         " thinking_share double, tools_share double, top_capability string")  # fmt: skip


def _day_row(day: str, acc: str, n: int, cot: float = 0.0, cap: str = "coding") -> tuple:
    return (dt.date.fromisoformat(day), acc, n, 10 * n, 30 * n, cot, 0.0, 0.0, 0.5, 1.0, 0.0, cap)


def test_rolling_evidence_adds_up_the_days_before_and_nothing_after(spark) -> None:  # type: ignore[no-untyped-def]
    today = spark.createDataFrame([_day_row(DAY, "S", 2, cot=0.5), _day_row(DAY, "N", 4)], _ROLL)
    prior = spark.createDataFrame(
        [
            _day_row("2026-02-02", "S", 2, cot=1.0),  # in both windows
            _day_row("2026-01-28", "S", 4, cot=0.0, cap="writing_chat"),  # day D-6: in both
            _day_row("2026-01-20", "S", 2, cot=1.0),  # D-14: 28 days only
            _day_row("2026-01-06", "S", 100, cot=1.0),  # D-28: outside
            _day_row(DAY, "S", 50, cot=1.0),  # the day itself (a rerun): today's row wins
            _day_row("2026-02-04", "S", 50, cot=1.0),  # after D: never read
            _day_row("2026-02-01", "Z", 9),  # not active today: no row
        ],
        _ROLL,
    )
    rows = {r["account_id"]: r.asDict() for r in with_rolling_evidence(today, prior, DAY).collect()}
    assert sorted(rows) == ["N", "S"]
    s, n = rows["S"], rows["N"]
    assert (s["active_days_7d"], s["active_days_28d"]) == (3, 4)
    assert (s["n_exchanges_7d"], s["n_exchanges_28d"]) == (8, 10)
    assert s["cot_share_28d"] == pytest.approx((1 + 2 + 2) / 10)
    assert s["content_flag_days_28d"] == 3
    assert s["top_capability_days_28d"] == 3  # writing_chat's day is not today's capability
    assert s["near_dup_share_28d"] == pytest.approx(0.5) and s["thinking_share_28d"] == pytest.approx(1.0)
    assert s["output_input_ratio_28d"] == pytest.approx(3.0)
    # no history: the day's own values
    assert (n["active_days_28d"], n["n_exchanges_28d"], n["content_flag_days_28d"], n["cot_share_28d"]) == (
        1,
        4,
        0,
        0.0,
    )
    alone = with_rolling_evidence(today, None, DAY).where("account_id = 'S'").first()
    assert (alone["active_days_7d"], alone["n_exchanges_28d"], alone["cot_share_28d"]) == (1, 2, 0.5)


def test_features_job_writes_both_tables_and_reruns_idempotently(job_ctx, world) -> None:  # type: ignore[no-untyped-def]
    lake = job_ctx.lake
    # a table written by a release without the rolling columns: the job adds them
    old = tables.schema(tables.ACCOUNT_DAILY_FEATURES)
    old = StructType([f for f in old.fields if f.name not in ROLLING_COLUMNS])
    lake.create_if_missing(tables.ACCOUNT_DAILY_FEATURES, schema=old, partition_by=("event_date",))
    lake.overwrite(world["bronze"], tables.BRONZE_EXCHANGES, partition_by=("event_date",))
    lake.overwrite(world["accounts"], tables.ACCOUNTS)
    lake.overwrite(world["ip_intel"], tables.IP_INTEL)
    lake.overwrite(world["intel"], tables.THREAT_INTEL)
    lake.overwrite(world["releases"], tables.MODEL_RELEASES)
    args = argparse.Namespace(date=dt.date(2026, 2, 3))
    for _ in range(2):
        assert features_job.run(job_ctx, args) == 0
    assert lake.read(tables.SILVER_EXCHANGES).count() == 9
    feats = lake.read(tables.ACCOUNT_DAILY_FEATURES)
    assert feats.count() == 4
    a1 = feats.where("account_id = 'A1'").first()
    assert a1["sync_score"] == pytest.approx(1.0)
    # the rerun did not count the day's first run as history
    assert (a1["active_days_28d"], a1["n_exchanges_28d"]) == (1, a1["n_exchanges"])
