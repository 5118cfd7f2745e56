"""Campaigns and attribution on hand-built rows: traffic split, evidence filter, stable
identity, actor weighting, release pivot, and the ``attribute`` job end to end."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import zlib
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillwatch import contract, tables
from distillwatch.config import AttributionConf
from distillwatch.context import JobContext
from distillwatch.jobs import attribute
from distillwatch.pipelines.attribution import choose_actor, infrastructure, label_evidence, release_pivot
from distillwatch.pipelines.campaigns import campaigns, campaigns_day
from distillwatch.pipelines.discovery import (
    campaign_signatures,
    match_identity,
    request_shape,
    split_campaign_traffic,
)

# Hubs above 5 accounts: the tiny world's proxy prefix holds 9.
CONF = dataclasses.replace(AttributionConf(), hub_max_accounts=5)
D1 = dt.date(2026, 2, 3)
D2 = dt.date(2026, 2, 4)
RELEASE = dt.datetime(2026, 2, 3, 0, 0)

SILVER = tables.subset(
    tables.SILVER_EXCHANGES,
    "request_id",
    "event_date",
    "ts",
    "account_id",
    "org_id",
    "verified",
    "model",
    "model_released_at",
    "is_new_model",
    "ip_prefix",
    "asn",
    "tls_fp",
    "user_agent",
    "payment_fp",
    "email_domain",
    "is_free_mail",
    "n_messages",
    "n_tools",
    "has_image",
    "input_tokens",
    "output_tokens",
    "template_hash",
    "prompt_hash",
    "lsh_bands",
    "cot_elicitation",
    "rubric_grading",
    "sensitive_rewrite",
    "capability",
    "intel_actor",
    "intel_confidence",
    "intel_types",
    "prompt",
)
FEATURES = tables.subset(
    tables.ACCOUNT_DAILY_FEATURES,
    "event_date",
    "account_id",
    "sync_score",
    "hosting_ip_share",
    "proxy_ip_share",
    "top_capability_share",
    "cot_share",
    "rubric_share",
    "sensitive_share",
)
SCORES = tables.subset(tables.ACCOUNT_SCORES, "event_date", "account_id", "score", "anomaly_score", "flagged")


def _ex(rid: str, acct: str, day: dt.date = D1, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": rid,
        "event_date": day,
        "ts": dt.datetime.combine(day, dt.time(12, 0)),
        "account_id": acct,
        "org_id": f"org-{acct}",
        "verified": False,
        "model": "m-old",
        "model_released_at": dt.datetime(2025, 6, 1),
        "is_new_model": False,
        "ip_prefix": f"10.{zlib.crc32(acct.encode()) % 250}.0.0/24",
        "asn": 64000 + zlib.crc32(acct.encode()) % 500,
        "tls_fp": f"tls-{acct}",
        "user_agent": f"ua-{acct}",
        "payment_fp": f"pay-{acct}",
        "email_domain": "gmail.com",
        "is_free_mail": True,
        "n_messages": 1,
        "n_tools": 0,
        "has_image": False,
        "input_tokens": 40,
        "output_tokens": 300,
        "template_hash": zlib.crc32(f"{rid}|{acct}".encode()),
        "prompt_hash": zlib.crc32(f"prompt|{rid}|{acct}".encode()),
        "lsh_bands": [],
        "cot_elicitation": False,
        "rubric_grading": False,
        "sensitive_rewrite": False,
        "capability": "writing_chat",
        "intel_actor": None,
        "intel_confidence": None,
        "intel_types": [],
        "prompt": "secret raw prompt text",
    }
    row.update(kw)
    return row


def _features(spark: SparkSession, rows: list[tuple], volume: int = 4) -> DataFrame:
    """Feature rows of FEATURES with a day's volume (``volume`` exchanges) per account and,
    unless given, the token shape of _ex's exchanges (300 out for 40 in)."""
    df = spark.createDataFrame(rows, FEATURES).withColumn("n_exchanges", F.lit(volume).cast("bigint"))
    for c, v in (("mean_output_tokens", 300.0), ("output_input_ratio", 7.5)):
        if c not in df.columns:
            df = df.withColumn(c, F.lit(v))
    return df


def _silver(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame([tuple(r[f.name] for f in SILVER.fields) for r in rows], SILVER)


def _world(
    day: dt.date, kestrel: list[str], hydra: list[str]
) -> tuple[list[dict[str, Any]], list[tuple], list[tuple]]:
    """One day: an intel-backed campaign, a hydra proxy campaign without intel, an
    enterprise, a university NAT, an eval lab sharing infrastructure, and developers
    linked by prompt content alone."""
    rows: list[dict[str, Any]] = []
    flagged: list[str] = []
    sync: dict[str, float] = {}
    for a in kestrel:  # campaign: shared stolen card and bot TLS, templated CoT harvesting, pivots to m-new
        flagged.append(a)
        sync[a] = 0.8
        for i in range(4):
            rows.append(
                _ex(f"{day}-{a}-k{i}", a, day, payment_fp="pay-K", tls_fp="tls-K", template_hash=100 + i % 2,
                    lsh_bands=[5000 + i % 2], cot_elicitation=True, capability="reasoning_math", model="m-new",
                    model_released_at=RELEASE, is_new_model=True, ts=dt.datetime.combine(day, dt.time(3, i)))
            )  # fmt: skip
    for a in hydra:  # hydra: own rubric-graded coding templates plus resold one-off chat traffic
        flagged.append(a)
        sync[a] = 0.7
        for i in range(3):
            rows.append(
                _ex(f"{day}-{a}-h{i}", a, day, template_hash=200, lsh_bands=[6000], rubric_grading=True,
                    capability="coding", ip_prefix="192.0.2.0/24", tls_fp="tls-H")
            )  # fmt: skip
        for i in range(3):
            rows.append(
                _ex(
                    f"{day}-{a}-r{i}",
                    a,
                    day,
                    capability="writing_chat",
                    ip_prefix="192.0.2.0/24",
                    tls_fp="tls-H",
                )
            )
    for a in [f"p{i}" for i in range(6)]:  # unrelated customers behind the hydra's proxy prefix
        rows += [_ex(f"{day}-{a}-{i}", a, day, ip_prefix="192.0.2.0/24") for i in range(2)]
    for a in ("e1", "e2", "e3", "e4"):  # enterprise: one org, verified, CI template, two accounts flagged
        if a in ("e1", "e2"):
            flagged.append(a)
        sync[a] = 0.9
        for i in range(3):
            rows.append(
                _ex(f"{day}-{a}-{i}", a, day, org_id="acme", verified=True, payment_fp="pay-acme", email_domain="acme.com",
                    is_free_mail=False, template_hash=300, capability="coding", tls_fp="tls-acme")
            )  # fmt: skip
    for a in (
        "u1",
        "u2",
        "u3",
        "u4",
    ):  # university NAT: shared prefix and domain, diverse content, one flagged
        if a == "u1":
            flagged.append(a)
        for i in range(3):
            rows.append(
                _ex(
                    f"{day}-{a}-{i}",
                    a,
                    day,
                    org_id=f"uni-{a}",
                    ip_prefix="198.51.100.0/24",
                    email_domain="uni.edu",
                    is_free_mail=False,
                )
            )
    for a in ("l1", "l2", "l3"):  # eval lab: templated rubric grading, synchronised, one org, all flagged
        flagged.append(a)
        sync[a] = 0.9
        for i in range(3):
            rows.append(
                _ex(f"{day}-{a}-{i}", a, day, org_id="evalco", verified=True, payment_fp="pay-evalco",
                    template_hash=400 + i, rubric_grading=True, capability="reasoning_math")
            )  # fmt: skip
    for a in ("d1", "d2", "d3"):  # developers of different orgs on one SDK's prompts, falsely flagged:
        flagged.append(a)  # content, capability, sync and flagged, but nothing they control in common
        sync[a] = 0.9
        rows += [_ex(f"{day}-{a}-{i}", a, day, template_hash=500, lsh_bands=[7000], capability="coding")
                 for i in range(3)]  # fmt: skip
    hosting: dict[str, float] = {}
    for j, a in enumerate(("n1", "n2", "n3")):  # no model flag, no intel: an in-house client on a cloud,
        sync[a] = 0.85  # in lockstep, harvesting analyses (found by its group, left unattributed)
        hosting[a] = 0.9
        rows += [_ex(f"{day}-{a}-n{i}", a, day, tls_fp="tls-N", template_hash=600 + i % 2, lsh_bands=[8000 + i % 2],
                     capability="data_analysis", email_domain=f"startup{j}.ai", is_free_mail=False)
                 for i in range(4)]  # fmt: skip
    accounts = sorted({r["account_id"] for r in rows})
    scores = [(day, a, 0.9 if a in flagged else 0.1, 0.1, a in flagged) for a in accounts]
    features = [(day, a, sync.get(a, 0.0), hosting.get(a, 0.0), 0.0, 0.5, 0.0, 0.0, 0.0) for a in accounts]
    return rows, scores, features


INTEL = [
    ("payment_fp", "pay-K", "kestrel", "feed-a", 0.7, D1),
    ("tls_fp", "tls-K", "kestrel", "feed-b", 0.6, D1),
    ("payment_fp", "pay-acme", "kestrel", "feed-c", 0.3, D1),  # one low-confidence mis-listing
]


def test_split_keeps_campaign_templates_and_drops_resold_traffic(spark: SparkSession) -> None:
    rows = [
        _ex(f"h{a}{i}", a, template_hash=200, capability="coding") for a in ("h1", "h2") for i in range(2)
    ]
    rows += [
        _ex(f"n{a}{i}", a, template_hash=900 + i, lsh_bands=[7000 + i])
        for a in ("h1", "h2")
        for i in range(2)
    ]
    rows += [
        _ex("nd", "h2", template_hash=201, lsh_bands=[6000]),
        _ex("nd2", "h1", template_hash=202, lsh_bands=[6000]),
    ]
    rows += [_ex("nd3", "h1", template_hash=203, lsh_bands=[6000])]
    rows += [_ex("cf", "h1", template_hash=204, capability="coding", cot_elicitation=True)]
    mx = _silver(spark, rows).withColumn("cluster_id", F.lit("h1")).withColumn("is_seed", F.lit(True))
    conf = dataclasses.replace(CONF, signature_min_exchanges=3)
    got = {r.request_id: r.match for r in split_campaign_traffic(mx, campaign_signatures(mx, conf)).collect()}
    assert got == {
        "hh10": "template", "hh11": "template", "hh20": "template", "hh21": "template",
        "nd": "near_duplicate", "nd2": "near_duplicate", "nd3": "near_duplicate",
        "cf": "capability_focus",
        "nh10": None, "nh11": None, "nh20": None, "nh21": None,
    }  # fmt: skip


def test_split_takes_the_campaigns_own_request_shapes(spark: SparkSession) -> None:
    # h1, h2 harvest through their own client with tools: signature template 200, and new
    # texts (one-off templates) in the same shape. Their resold customers come through the
    # same client without tools. Template 300 is sent through the common SDK, which six
    # outsiders use too: that shape is not the campaign's.
    bot = {"user_agent": "harvester/1", "tls_fp": "tls-H", "n_tools": 3, "n_messages": 4}
    sdk = {"user_agent": "sdk/1", "tls_fp": "tls-sdk"}
    rows = [_ex(f"s{a}{i}", a, template_hash=200, **bot) for a in ("h1", "h2") for i in range(2)]
    rows += [_ex(f"q{a}{i}", a, template_hash=300, **sdk) for a in ("h1", "h2") for i in range(2)]
    rows += [_ex(f"new{a}", a, template_hash=700 + len(a), **bot) for a in ("h1", "h2")]
    rows += [_ex("long", "h1", template_hash=710, **{**bot, "n_messages": 5})]  # same power of two
    rows += [_ex(f"resold{a}", a, template_hash=800 + len(a), **{**bot, "n_tools": 0}) for a in ("h1", "h2")]
    rows += [_ex(f"own{a}", a, template_hash=900 + len(a), **sdk) for a in ("h1", "h2")]
    mx = _silver(spark, rows)
    day = mx.unionByName(
        _silver(spark, [_ex(f"o{j}", f"o{j}", template_hash=950 + j, **sdk) for j in range(6)])
    )
    mx = (
        mx.withColumn("request_shape", request_shape())
        .withColumn("cluster_id", F.lit("h1"))
        .withColumn("is_seed", F.lit(True))
    )
    conf = dataclasses.replace(CONF, signature_min_exchanges=3, signature_min_value_share=0.5)
    sigs = campaign_signatures(mx, conf)
    got = {r.request_id: r.match for r in split_campaign_traffic(mx, sigs, day, conf).collect()}
    assert got == {
        "sh10": "template", "sh11": "template", "sh20": "template", "sh21": "template",
        "qh10": "template", "qh11": "template", "qh20": "template", "qh21": "template",
        "newh1": "request_shape", "newh2": "request_shape", "long": "request_shape",
        "resoldh1": None, "resoldh2": None, "ownh1": None, "ownh2": None,
    }  # fmt: skip
    # without the day's traffic there is no shape evidence (the split of older callers)
    plain = {r.request_id: r.match for r in split_campaign_traffic(mx, sigs).collect()}
    assert plain["newh1"] is None and plain["sh10"] == "template"


def test_a_resold_shape_with_a_few_chance_near_duplicates_is_not_the_campaigns(spark: SparkSession) -> None:
    # A hydra's proxy client: the campaign with tools, its resold customers' plain chat without.
    # Three of the customers' prompts happen to hit the campaign's template; eight do not.
    bot = {"user_agent": "proxy/1", "tls_fp": "tls-P", "n_tools": 2, "n_messages": 4}
    chat = {**bot, "n_tools": 0, "n_messages": 1}
    rows = [_ex(f"c{a}{i}", a, template_hash=200, **bot) for a in ("h1", "h2") for i in range(3)]
    rows += [_ex(f"hit{i}", ("h1", "h1", "h2")[i], template_hash=200, **chat) for i in range(3)]
    rows += [_ex(f"resold{i}", ("h1", "h2")[i % 2], template_hash=800 + i, **chat) for i in range(8)]
    day = _silver(spark, rows)
    mx = day.withColumn("request_shape", request_shape()).withColumn("cluster_id", F.lit("h1"))
    mx = mx.withColumn("is_seed", F.lit(True))
    conf = dataclasses.replace(CONF, signature_min_exchanges=3, signature_min_value_share=0.5)
    sigs = campaign_signatures(mx, conf)
    got = {r.request_id: r.match for r in split_campaign_traffic(mx, sigs, day, conf).collect()}
    assert {got[f"resold{i}"] for i in range(8)} == {None}
    assert {got["hit0"], got["ch10"]} == {"template"}
    # Without the share rule the customers' shape was taken for the campaign's.
    loose = dataclasses.replace(conf, signature_min_shape_share=0.0)
    old = {r.request_id: r.match for r in split_campaign_traffic(mx, sigs, day, loose).collect()}
    assert {old[f"resold{i}"] for i in range(8)} == {"request_shape"}


def test_signature_drops_values_the_whole_population_uses(spark: SparkSession) -> None:
    # h1, h2 repeat template 200 (their own) and template 900 (everyday chat: 6 outsiders use it too)
    rows = [_ex(f"h{a}{i}", a, template_hash=200) for a in ("h1", "h2") for i in range(2)]
    rows += [_ex(f"c{a}{i}", a, template_hash=900) for a in ("h1", "h2") for i in range(2)]
    mx = _silver(spark, rows).withColumn("cluster_id", F.lit("h1")).withColumn("is_seed", F.lit(True))
    conf = dataclasses.replace(CONF, signature_min_exchanges=3, signature_min_value_share=0.5)
    users = spark.createDataFrame(
        [("template_hash", "200", 2), ("template_hash", "900", 8)],
        "sig_type string, sig_value string, value_accounts long",
    )
    plain = {r.sig_value for r in campaign_signatures(mx, conf).collect()}
    specific = {r.sig_value for r in campaign_signatures(mx, conf, users).collect()}
    assert (plain, specific) == ({"200", "900"}, {"200"})


def test_signature_discounts_the_clusters_own_past_use(spark: SparkSession) -> None:
    # Two members repeat template 200; yesterday two unrelated accounts used it: themselves,
    # before they were caught. Template 300 had five: at least three were strangers.
    rows = [
        _ex(f"t{t}{a}{i}", a, template_hash=t) for a in ("h1", "h2") for i in range(2) for t in (200, 300)
    ]
    mx = _silver(spark, rows).withColumn("cluster_id", F.lit("h1")).withColumn("is_seed", F.lit(True))
    conf = dataclasses.replace(CONF, signature_min_exchanges=3, signature_min_value_share=0.5)
    users = spark.createDataFrame(
        [("template_hash", "200", 2, 2), ("template_hash", "300", 2, 5)],
        "sig_type string, sig_value string, value_accounts long, base_popularity long",
    )
    assert {r.sig_value for r in campaign_signatures(mx, conf, users).collect()} == {"200"}


def test_analysts_labels_name_the_actor(spark: SparkSession) -> None:
    members = spark.createDataFrame(
        [("C-1", "a1"), ("C-1", "a2"), ("C-2", "b1"), ("C-3", "c1")], "campaign_id string, account_id string"
    )
    labelled = spark.createDataFrame(
        [("a1", "kestrel"), ("a2", "kestrel"), ("b1", "osprey"), ("c1", None), ("zz", "kestrel")],
        "account_id string, actor string",
    )
    ev = label_evidence(labelled, members, CONF)
    assert ev.count() == 3  # c1 has no actor, zz is no member
    got = {r.campaign_id: (r.actor, r.confidence) for r in choose_actor(ev, CONF).collect()}
    # two agreeing labels: 1 - 0.2 * 0.2; one label (0.8) is below the single-indicator bar
    assert got == {"C-1": ("kestrel", 0.96), "C-2": (None, None)}


def test_actor_needs_agreeing_indicators_and_ignores_one_low_confidence_listing(spark: SparkSession) -> None:
    schema = "campaign_id string, actor string, ind_type string, ind_value string, confidence double, n_accounts bigint"
    ev = spark.createDataFrame(
        [
            ("C-two", "kestrel", "payment_fp", "p", 0.6, 3),
            ("C-two", "kestrel", "tls_fp", "t", 0.5, 3),
            ("C-two", "osprey", "asn", "1", 0.55, 1),
            ("C-low", "kestrel", "payment_fp", "x", 0.3, 1),
            ("C-one-strong", "osprey", "email_domain", "d", 0.95, 2),
            ("C-one-mid", "osprey", "email_domain", "d", 0.7, 2),
        ],
        schema,
    )
    got = {r.campaign_id: (r.actor, r.confidence) for r in choose_actor(ev, CONF).collect()}
    assert got == {
        "C-two": ("kestrel", 0.8),  # 1 - 0.4 * 0.5
        "C-low": (None, None),
        "C-one-strong": ("osprey", 0.95),
        "C-one-mid": (None, None),  # one indicator below the single-indicator bar
    }


def test_release_pivot_flags_a_campaign_moving_to_a_new_model(spark: SparkSession) -> None:
    late = dt.datetime(2026, 2, 3, 12)
    camp = [_ex(f"a{i}", "k1", model_released_at=RELEASE, is_new_model=True, ts=late) for i in range(4)]
    camp += [_ex("a9", "k1")]
    slow = [_ex(f"b{i}", "s1", model_released_at=RELEASE, is_new_model=True, ts=late) for i in range(1)]
    slow += [_ex(f"b{i}", "s1") for i in range(1, 5)]
    # half its day before the release, all of it on the new model after: the share counts
    # only the exchanges inside the window after the release
    early = [_ex(f"e{i}", "e1", model_released_at=RELEASE, is_new_model=True, ts=late) for i in range(2)]
    early += [_ex(f"e{i}", "e1", ts=RELEASE - dt.timedelta(hours=3)) for i in range(2, 4)]
    other = [_ex(f"o{i}", "x") for i in range(20)]
    ct = _silver(spark, camp + slow + early).withColumn("campaign_id", F.col("account_id"))
    everyone = _silver(spark, camp + slow + early + other)
    got = {r.campaign_id: r for r in release_pivot(ct, everyone, CONF).collect()}
    assert got["k1"].release_pivot and got["k1"].pivot_share == 0.8
    assert not got["s1"].release_pivot  # 20%: below the 30% bar
    assert got["e1"].release_pivot and got["e1"].pivot_share == 1.0 and got["e1"].new_model_share == 0.5
    assert abs(got["k1"].population_new_model_share - 7 / 34) < 1e-9
    assert abs(got["k1"].population_pivot_share - 7 / 32) < 1e-9


def test_shared_infrastructure_is_the_same_json_whatever_the_shuffle(spark: SparkSession) -> None:
    # Its keys came in the order the shuffle delivered the types, so a standalone cluster
    # and local[*] published different JSON for the same campaign.
    types = ["tls_fp", "asn", "payment_fp", "email_domain", "ip_prefix", "user_agent"]
    edges = spark.createDataFrame(
        [("C1", f"a{i}", t, f"{t}-v{i % 2}") for t in types for i in range(4)],
        "campaign_id string, account_id string, ind_type string, ind_value string",
    )
    seen = set()
    keys = ("spark.sql.shuffle.partitions", "spark.sql.adaptive.coalescePartitions.enabled")
    before = {k: spark.conf.get(k) for k in keys}
    try:
        spark.conf.set(keys[1], "false")  # AQE would merge these tiny shuffles into one task
        for n in ("1", "3", "7", "16"):
            spark.conf.set(keys[0], n)
            seen.add(infrastructure(edges, CONF).collect()[0].shared_infrastructure)
    finally:
        for k, v in before.items():
            spark.conf.set(k, v)
    assert len(seen) == 1, seen
    published = list(json.loads(seen.pop()))
    assert published == sorted(published) == sorted(types)


def test_identity_continues_splits_and_merges(spark: SparkSession) -> None:
    tm = spark.createDataFrame(
        [("a", "a"), ("a", "b"), ("a", "c"), ("d", "d"), ("x", "x"), ("x", "y"), ("n", "n"), ("n", "o")],
        "cluster_id string, account_id string",
    )
    ti = spark.createDataFrame(
        [("n", "payment_fp", "p9")], "cluster_id string, ind_type string, ind_value string"
    )
    pm = spark.createDataFrame(
        [("C-1", "a"), ("C-1", "b"), ("C-1", "d"), ("C-2", "x"), ("C-3", "y"), ("C-4", "zz")],
        "campaign_id string, account_id string",
    )
    pi = spark.createDataFrame(
        [("C-4", "payment_fp", "p9")], "campaign_id string, ind_type string, ind_value string"
    )
    ids, merges, _ = match_identity(tm, ti, pm, pi, D2.isoformat(), CONF)
    got = {r.cluster_id: (r.campaign_id, r.continued_from, r.split_from) for r in ids.collect()}
    assert got["a"] == ("C-1", "C-1", None)  # 2 of 3 members carried over
    assert got["d"][1:] == (None, "C-1") and got["d"][0].startswith("C-")  # split off C-1
    assert got["x"] == ("C-2", "C-2", None)
    assert got["n"] == ("C-4", "C-4", None)  # accounts rotated, same stolen card
    assert {tuple(r) for r in merges.collect()} == {("C-3", "C-2")}
    again, _, _ = match_identity(tm, ti, pm, pi, D2.isoformat(), CONF)
    assert {r.cluster_id: r.campaign_id for r in again.collect()}["d"] == got["d"][0]  # deterministic


def test_campaigns_day_finds_campaigns_and_rejects_legitimate_groups(spark: SparkSession) -> None:
    rows, scores, features = _world(D1, ["k1", "k2", "k3"], ["h1", "h2", "h3"])
    empty = spark.createDataFrame([], "campaign_id string, account_id string")
    out = campaigns_day(
        _silver(spark, rows),
        _features(spark, features),
        spark.createDataFrame(scores, SCORES),
        spark.createDataFrame(INTEL, contract.THREAT_INTEL_SCHEMA),
        empty,
        spark.createDataFrame([], "campaign_id string, ind_type string, ind_value string"),
        spark.createDataFrame([], "campaign_id string, actor string, confidence double"),
        spark.createDataFrame([], "campaign_id string, first_seen date"),
        D1.isoformat(),
        CONF,
    )
    members = out.campaign_members.collect()
    by_campaign: dict[str, set[str]] = {}
    for m in members:
        by_campaign.setdefault(m.campaign_id, set()).add(m.account_id)
    assert sorted(by_campaign.values(), key=sorted) == [
        {"h1", "h2", "h3"},
        {"k1", "k2", "k3"},
        {"n1", "n2", "n3"},
    ]
    daily = {r.top_capability: r for r in out.campaign_attribution_daily.collect()}
    k, h, n = daily["reasoning_math"], daily["coding"], daily["data_analysis"]
    assert n.actor is None and n.n_accounts == 3  # seeded by its group alone, unattributed
    assert (k.actor, k.confidence, k.status) == ("kestrel", 0.88, "new")
    assert h.actor is None  # no intel: found and left unattributed
    assert k.release_pivot and not h.release_pivot
    assert (k.n_exchanges, h.n_exchanges) == (12, 9)  # hydra: resold traffic not counted
    ex = out.campaign_exchanges.where(F.col("campaign_id") == h.campaign_id).collect()
    assert {r.request_id.split("-")[-1][0] for r in ex} == {"h"}
    ev = json.loads(k.evidence)
    assert {(i["ind_type"], i["value"]) for i in ev["matched_indicators"]} == {
        ("payment_fp", "pay-K"),
        ("tls_fp", "tls-K"),
    }
    assert "secret" not in k.evidence + (k.shared_infrastructure or "") + k.capability_mix
    assert json.loads(k.shared_infrastructure)["payment_fp"][0] == {"value": "pay-K", "n_accounts": 3}


def _first_day(
    spark: SparkSession,
    rows: list[dict[str, Any]],
    features: DataFrame,
    scores: list[tuple],
    labelled: DataFrame | None = None,
) -> Any:
    """campaigns_day of D1 with no intel and no earlier campaigns."""
    return campaigns_day(
        _silver(spark, rows),
        features,
        spark.createDataFrame(scores, SCORES),
        spark.createDataFrame([], contract.THREAT_INTEL_SCHEMA),
        spark.createDataFrame([], "campaign_id string, account_id string"),
        spark.createDataFrame([], "campaign_id string, ind_type string, ind_value string"),
        spark.createDataFrame([], "campaign_id string, actor string, confidence double"),
        spark.createDataFrame([], "campaign_id string, first_seen date"),
        D1.isoformat(),
        CONF,
        labelled=labelled,
    )


def test_rotated_operators_are_kept_on_their_asks_or_their_labels_and_sdk_developers_are_not(
    spark: SparkSession,
) -> None:
    rows: list[dict[str, Any]] = []
    features: list[tuple] = []
    for a in ("r1", "r2", "r3", "r4"):  # residential, own card, browser: templated reasoning asks
        rows += [_ex(f"{a}-{i}", a, template_hash=700 + i % 2, lsh_bands=[9000 + i % 2], cot_elicitation=True,
                     capability="reasoning_math") for i in range(4)]  # fmt: skip
        features.append((D1, a, 0.8, 0.0, 0.0, 0.9, 1.0, 0.0, 0.0))
    for a in ("c1", "c2", "c3", "c4"):  # rotated agentic coding, c1 and c2 labelled by analysts
        rows += [_ex(f"{a}-{i}", a, template_hash=800 + i % 2, lsh_bands=[9100 + i % 2], capability="coding")
                 for i in range(4)]  # fmt: skip
        features.append((D1, a, 0.8, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0))
    for a in ("d1", "d2", "d3"):  # developers of different orgs on one SDK's prompts, falsely flagged
        rows += [
            _ex(f"{a}-{i}", a, template_hash=500, lsh_bands=[7000], capability="coding") for i in range(3)
        ]
        features.append((D1, a, 0.9, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0))
    accounts = sorted({r["account_id"] for r in rows})
    scores = [(D1, a, 0.9 if a.startswith("d") else 0.1, 0.1, a.startswith("d")) for a in accounts]
    labelled = spark.createDataFrame([("c1", "mantis"), ("c2", "mantis")], "account_id string, actor string")

    def run(labels: DataFrame | None) -> dict[frozenset[str], Any]:
        out = _first_day(spark, rows, _features(spark, features), scores, labels)
        members: dict[str, set[str]] = {}
        for m in out.campaign_members.collect():
            members.setdefault(m.campaign_id, set()).add(m.account_id)
        actors = {r.campaign_id: r.actor for r in out.campaign_attribution_daily.collect()}
        return {frozenset(v): actors[k] for k, v in members.items()}

    # Without labels only the askers are found (seeded by their asks, kept on them).
    assert run(None) == {frozenset({"r1", "r2", "r3", "r4"}): None}
    # Two labelled accounts seed their operator, link the unlabelled two and name the actor.
    assert run(labelled) == {
        frozenset({"r1", "r2", "r3", "r4"}): None,
        frozenset({"c1", "c2", "c3", "c4"}): "mantis",
    }


def test_a_rotated_operator_buying_long_answers_is_kept_and_a_class_writing_essays_is_not(
    spark: SparkSession,
) -> None:
    # No labels, no intel, no model, no ask the content rules know: four rotated accounts buy
    # worked derivations (2,400 tokens out for 40 in), twelve a day each on shared templates;
    # four students write essays on one assignment with the same shape, three a day each.
    rows: list[dict[str, Any]] = []
    features: list[tuple] = []
    for who, n, base in (("h", 12, 600), ("e", 3, 650)):
        for j in range(4):
            a = f"{who}{j}"
            rows += [_ex(f"{a}-{i}", a, template_hash=base + i % 2, lsh_bands=[base * 10 + i % 2], input_tokens=40,
                         output_tokens=2400, capability="reasoning_math") for i in range(n)]  # fmt: skip
            features.append((D1, a, 0.6, 0.0, 0.0, 0.6, 0.0, 0.0, 0.0))
    feats = (
        _features(spark, features)
        .withColumn(
            "n_exchanges", F.when(F.col("account_id").startswith("h"), 12).otherwise(3).cast("bigint")
        )
        .withColumn("mean_output_tokens", F.lit(2400.0))
        .withColumn("output_input_ratio", F.lit(60.0))
    )
    out = _first_day(spark, rows, feats, [(D1, f[1], 0.1, 0.1, False) for f in features])
    members: dict[str, set[str]] = {}
    for m in out.campaign_members.collect():
        members.setdefault(m.campaign_id, set()).add(m.account_id)
    assert list(members.values()) == [{"h0", "h1", "h2", "h3"}]
    (daily,) = out.campaign_attribution_daily.collect()
    assert "harvest" in json.loads(daily.evidence)["signals"] and daily.actor is None


def test_campaigns_rows_widen_keep_the_actor_and_record_merges(spark: SparkSession) -> None:
    schema = tables.schema(tables.CAMPAIGNS)
    previous = spark.createDataFrame(
        [
            ("C-1", D1, D1, "kestrel", "new", None, None, D1),
            ("C-2", D1, D1, None, "new", None, "C-0", D1),
            ("C-3", D1, D1, "heron", "new", None, None, D1),
        ],
        schema,
    )
    updates = spark.createDataFrame(
        [
            ("C-1", D1, D2, None, "active", None, None, D2),  # seen again, no actor today
            ("C-2", D1, D2, "heron", "active", None, "C-9", D2),  # attributed today
            ("C-3", None, None, None, "merged", "C-2", None, D2),  # merged into C-2
            ("C-8", None, None, None, "merged", "C-2", None, D2),  # merge of one never stored
            ("C-4", D2, D2, None, "new", None, "C-1", D2),  # new today, split from C-1
        ],
        schema,
    )
    got = {r.campaign_id: tuple(r)[1:] for r in campaigns(previous, updates).collect()}
    assert got == {
        "C-1": (D1, D2, "kestrel", "active", None, None, D2),
        "C-2": (D1, D2, "heron", "active", None, "C-0", D2),
        "C-3": (D1, D1, "heron", "merged", "C-2", None, D2),
        "C-4": (D2, D2, None, "new", None, "C-1", D2),
    }


def _two_days_of_input(job_ctx: JobContext) -> tuple[SparkSession, Any]:
    """Silver, features, scores and intel of D1 and D2 (k1 burnt on D2, k4 new, h4 added)."""
    job_ctx.cfg = dataclasses.replace(job_ctx.cfg, attribution=CONF)
    spark, lake = job_ctx.spark, job_ctx.lake
    r1, s1, f1 = _world(D1, ["k1", "k2", "k3"], ["h1", "h2", "h3"])
    r2, s2, f2 = _world(D2, ["k2", "k3", "k4"], ["h1", "h2", "h3", "h4"])
    silver = _silver(spark, r1 + r2).withColumn("input_tokens", F.lit(10).cast("bigint"))
    lake.append(
        silver.withColumn("output_tokens", F.lit(90).cast("bigint")), tables.SILVER_EXCHANGES, ("event_date",)
    )
    lake.append(_features(spark, f1 + f2), tables.ACCOUNT_DAILY_FEATURES, ("event_date",))
    lake.append(spark.createDataFrame(s1 + s2, SCORES), tables.ACCOUNT_SCORES, ("event_date",))
    lake.overwrite(spark.createDataFrame(INTEL, contract.THREAT_INTEL_SCHEMA), tables.THREAT_INTEL)
    return spark, lake


@pytest.mark.slow
def test_attribute_job_keeps_campaign_ids_across_days_and_reruns_idempotently(job_ctx: JobContext) -> None:
    spark, lake = _two_days_of_input(job_ctx)
    for day in (D1, D2, D2):
        assert attribute.run(job_ctx, argparse.Namespace(date=day)) == 0
    daily = (
        spark.table(lake.qualified(tables.CAMPAIGN_ATTRIBUTION_DAILY))
        .orderBy("event_date", "campaign_id")
        .collect()
    )
    assert len(daily) == 6  # three campaigns a day (one group-seeded), the rerun replaced its day
    ids = {d: {r.campaign_id for r in daily if r.event_date == d} for d in (D1, D2)}
    assert ids[D1] == ids[D2]
    assert {(r.event_date, r.status) for r in daily} == {(D1, "new"), (D2, "active")}
    assert {r.actor for r in daily if r.event_date == D2} == {"kestrel", None}
    camps = spark.table(lake.qualified(tables.CAMPAIGNS)).collect()
    assert {(r.first_seen, r.last_seen, r.status) for r in camps} == {(D1, D2, "active")}
    assert len(camps) == 3
    members = lake.read(tables.CAMPAIGN_MEMBERS).where(F.col("event_date") == D2).count()
    assert members == 10  # k2-k4, h1-h4, n1-n3
    assert "prompt" not in lake.read(tables.CAMPAIGN_EXCHANGES).columns


def test_a_failed_gold_gate_publishes_nothing_of_the_day(
    job_ctx: JobContext, tmp_path: Any, monkeypatch: Any
) -> None:
    import shutil

    from distillwatch.config import repo_conf_dir
    from distillwatch.quality import QualityGateFailed, gate

    spark, lake = _two_days_of_input(job_ctx)
    assert attribute.run(job_ctx, argparse.Namespace(date=D1)) == 0

    gold = (
        tables.CAMPAIGN_ATTRIBUTION_DAILY, tables.CAMPAIGNS, tables.CAMPAIGN_MEMBERS,
        tables.CAMPAIGN_EXCHANGES, tables.CAMPAIGN_IMPACT_DAILY,
    )  # fmt: skip

    def state() -> dict[str, tuple[int | None, list[Any]]]:
        return {t: (lake.version(t), sorted(map(tuple, lake.read(t).collect()), key=repr)) for t in gold}

    before = state()
    # a real suite made stricter than the day can meet: campaigns may not change at all
    conf = tmp_path / "conf"
    shutil.copytree(repo_conf_dir(), conf)
    with (conf / "expectations" / "campaigns.yaml").open("a") as fh:
        fh.write(
            "  - {name: no_campaign_changes, type: expect_table_row_count_to_be_between,"
            " kwargs: {min_value: 0, max_value: 0}, severity: critical}\n"
        )
    monkeypatch.setattr(gate, "repo_conf_dir", lambda: conf)
    with pytest.raises(QualityGateFailed, match="campaigns"):
        attribute.run(job_ctx, argparse.Namespace(date=D2))
    assert state() == before  # not one gold table moved, campaigns included
    failed = lake.read(tables.DQ_RESULTS).where("NOT success AND critical").collect()
    assert [(r["table_name"], r["expectation"], r["event_date"]) for r in failed] == [
        (tables.CAMPAIGNS, "no_campaign_changes", D2)
    ]
    # every other table of the day was staged and audited too (and passed)
    audited = {
        r["table_name"] for r in lake.read(tables.DQ_RESULTS).where(F.col("event_date") == D2).collect()
    }
    assert {tables.CAMPAIGN_ATTRIBUTION_DAILY, tables.CAMPAIGN_MEMBERS, tables.CAMPAIGNS} <= audited
