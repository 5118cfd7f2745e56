"""Account linkage: indicators, hub pruning and connected components on hand-built rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from distillwatch import contract, tables
from distillwatch.config import AttributionConf
from distillwatch.pipelines.linkage import (
    account_indicators,
    connected_components,
    group_seeds,
    intel_hits,
    link_accounts,
    member_evidence,
    popularity_baseline,
    prune_hubs,
    seed_accounts,
)
from distillwatch.spark import materialise

CONF = dataclasses.replace(AttributionConf(), hub_max_accounts=5, hub_keep_seed_share=0.5)
DAY = dt.date(2026, 2, 3)

IND_SCHEMA = StructType(
    [
        StructField("account_id", StringType()),
        StructField("ind_type", StringType()),
        StructField("ind_value", StringType()),
        StructField("n_exchanges", LongType()),
        StructField("text_key", LongType()),
    ]
)
SCORE_SCHEMA = tables.subset(
    tables.ACCOUNT_SCORES, "event_date", "account_id", "score", "anomaly_score", "flagged"
)


# The account features group seeds read (one row per account).
GROUP_FEATURES = (
    "account_id string, hosting_ip_share double, proxy_ip_share double, sync_score double, "
    "top_capability_share double, cot_share double, rubric_share double, sensitive_share double, "
    "n_exchanges long"
)


def _group_features(spark: SparkSession, rows: list[tuple], harvest: tuple[str, ...] = ()) -> DataFrame:
    """GROUP_FEATURES rows with the token shape: long answers to short asks for ``harvest``
    (2,000 tokens out, 50x the input), ordinary answers (300 out, 2x) for the rest."""
    long = F.col("account_id").isin(*harvest) if harvest else F.lit(False)
    return (
        spark.createDataFrame(rows, GROUP_FEATURES)
        .withColumn("mean_output_tokens", F.when(long, 2000.0).otherwise(300.0))
        .withColumn("output_input_ratio", F.when(long, 50.0).otherwise(2.0))
    )


def _inds(spark: SparkSession, rows: list[tuple]) -> DataFrame:  # type: ignore[type-arg]
    """Indicator rows from (account, type, value) or (account, type, value, text_key)."""
    return spark.createDataFrame([(*r[:3], 1, r[3] if len(r) > 3 else None) for r in rows], IND_SCHEMA)


def _scores(spark: SparkSession, flagged: list[str], other: list[str] = ()) -> DataFrame:  # type: ignore[assignment]
    rows = [(DAY, a, 0.9, 0.1, True) for a in flagged] + [(DAY, a, 0.1, 0.1, False) for a in other]
    return spark.createDataFrame(rows, SCORE_SCHEMA)


def _intel(spark: SparkSession, rows: list[tuple[str, str, str, float]]) -> DataFrame:
    return spark.createDataFrame(
        [(t, v, actor, "feed", c, DAY) for t, v, actor, c in rows], contract.THREAT_INTEL_SCHEMA
    )


def test_account_indicators_explode_every_type_and_skip_free_mail(spark: SparkSession) -> None:
    schema = StructType(
        [
            StructField("account_id", StringType()),
            StructField("ip_prefix", StringType()),
            StructField("asn", LongType()),
            StructField("payment_fp", StringType()),
            StructField("tls_fp", StringType()),
            StructField("user_agent", StringType()),
            StructField("email_domain", StringType()),
            StructField("is_free_mail", BooleanType()),
            StructField("template_hash", LongType()),
            StructField("prompt_hash", LongType()),
            StructField("lsh_bands", ArrayType(LongType())),
        ]
    )
    rows = [
        ("a1", "10.0.0.0/24", 64500, "pay1", "tls1", "ua1", "Corp.Example", False, 11, 901, [1, 2]),
        ("a1", "10.0.0.0/24", 64500, "pay1", "tls1", "ua1", "Corp.Example", False, 12, 902, [2]),
        ("a2", "10.0.1.0/24", 64500, None, "tls1", "ua1", "gmail.com", True, 11, 903, []),
    ]
    got = {tuple(r) for r in account_indicators(spark.createDataFrame(rows, schema)).collect()}
    # text_key: the smallest prompt hash behind a content value; none for infrastructure
    assert got == {
        ("a1", "ip_prefix", "10.0.0.0/24", 2, None),
        ("a1", "asn", "64500", 2, None),
        ("a1", "payment_fp", "pay1", 2, None),
        ("a1", "tls_fp", "tls1", 2, None),
        ("a1", "user_agent", "ua1", 2, None),
        ("a1", "email_domain", "corp.example", 2, None),
        ("a1", "template_hash", "11", 1, 901),
        ("a1", "template_hash", "12", 1, 902),
        ("a1", "lsh_band", "1", 1, 901),
        ("a1", "lsh_band", "2", 2, 901),
        ("a2", "ip_prefix", "10.0.1.0/24", 1, None),
        ("a2", "asn", "64500", 1, None),
        ("a2", "tls_fp", "tls1", 1, None),
        ("a2", "user_agent", "ua1", 1, None),
        ("a2", "template_hash", "11", 1, 903),
    }


def test_hub_value_is_pruned_but_rare_and_seed_dominated_values_are_kept(spark: SparkSession) -> None:
    legit = [f"u{i}" for i in range(10)]
    seeds = ["s1", "s2", "s3"]
    rows = [(a, "ip_prefix", "cloud/24") for a in legit + seeds]  # hub: 13 accounts, 3 seeds
    rows += [(a, "template_hash", "777") for a in seeds]  # rare: 3 accounts
    rows += [(a, "tls_fp", "bot-tls") for a in seeds + ["u0", "u1", "u2", "u3"]]  # 7 accounts, 3 seeds: hub
    rows += [(a, "payment_fp", "stolen") for a in seeds + ["u4", "u5"]]  # rare, mostly seeds: kept
    rows += [(a, "payment_fp", "stolen-hub") for a in seeds + ["u4", "u5", "u6"]]  # 6 > cap, unlisted: hub
    rows += [(a, "user_agent", "sdk") for a in ["s1", "u4", "u5"]]  # rare but mostly legit: not a link
    rows += [("u7", "payment_fp", "own"), ("u8", "payment_fp", "own")]  # rare but no seed: not grown
    ind = _inds(spark, rows)
    scores = _scores(spark, seeds, legit)
    intel = _intel(spark, [])
    hits = intel_hits(ind, intel)
    edges = prune_hubs(ind, seed_accounts(scores, hits, CONF), hits, CONF)
    kept = {(r.ind_type, r.ind_value) for r in edges.select("ind_type", "ind_value").distinct().collect()}
    assert kept == {("template_hash", "777"), ("payment_fp", "stolen")}
    weights = {r.ind_value: r.weight for r in edges.select("ind_value", "weight").distinct().collect()}
    assert weights["777"] > weights["stolen"]  # rarer value, heavier edge


def test_listed_hub_value_is_kept_and_links_its_accounts(spark: SparkSession) -> None:
    accounts = [f"x{i}" for i in range(8)]
    ind = _inds(spark, [(a, "asn", "64999") for a in accounts])
    intel = _intel(spark, [("asn", "AS64999", "actor_x", 0.8)])  # spelled "AS..." in the feed
    clusters, edges, hits = link_accounts(ind, _scores(spark, [], accounts), intel, CONF)
    assert hits.count() == 8
    got = {(r.cluster_id, r.account_id) for r in clusters.collect()}
    assert got == {("x0", a) for a in accounts}


def test_components_follow_chains_of_shared_values_and_take_the_min_account_id(spark: SparkSession) -> None:
    # d-c-b-a chain: four values in a path, so labels need several rounds to settle.
    rows = [
        ("d", "payment_fp", "p1"), ("c", "payment_fp", "p1"),
        ("c", "template_hash", "t1"), ("b", "template_hash", "t1"),
        ("b", "tls_fp", "k1"), ("a", "tls_fp", "k1"),
        ("y", "lsh_band", "9"), ("z", "lsh_band", "9"),
        ("q", "user_agent", "lonely"),
    ]  # fmt: skip
    comps = connected_components(_inds(spark, rows), max_iterations=10)
    got = {(r.account_id, r.component) for r in comps.collect()}
    assert got == {("a", "a"), ("b", "a"), ("c", "a"), ("d", "a"), ("y", "y"), ("z", "y"), ("q", "q")}


def test_component_iteration_cap_is_reported(spark: SparkSession, caplog: pytest.LogCaptureFixture) -> None:
    rows = [(f"n{i}", "payment_fp", f"p{i // 2}") for i in range(1, 9)]
    rows += [(f"n{i}", "tls_fp", f"k{(i + 1) // 2}") for i in range(1, 9)]
    with caplog.at_level(logging.WARNING, logger="distillwatch.pipelines.linkage"):
        comps = connected_components(_inds(spark, rows), max_iterations=1)
    assert "iteration cap" in caplog.text
    assert comps.select("component").distinct().count() > 1  # not converged yet
    full = connected_components(_inds(spark, rows), max_iterations=20)
    assert {r.component for r in full.collect()} == {"n1"}


def test_clusters_only_hold_seeded_components(spark: SparkSession) -> None:
    rows = [("s1", "tls_fp", "5"), ("s2", "tls_fp", "5"), ("m1", "tls_fp", "5")]  # 2 of 3 seeds
    rows += [("l1", "payment_fp", "corp"), ("l2", "payment_fp", "corp")]  # no seed anywhere
    clusters, _, _ = link_accounts(
        _inds(spark, rows), _scores(spark, ["s1", "s2"], ["m1", "l1", "l2"]), _intel(spark, []), CONF
    )
    got = {(r.cluster_id, r.account_id, r.is_seed) for r in clusters.collect()}
    assert got == {("m1", "m1", False), ("m1", "s1", True), ("m1", "s2", True)}


def test_low_confidence_listing_seeds_nobody_and_unlisted_prefixes_do_not_link(spark: SparkSession) -> None:
    students = [f"st{i}" for i in range(6)]
    rows = [(a, "ip_prefix", "12.1.1.0/24") for a in students]  # university NAT, mis-listed at 0.3
    rows += [(a, "ip_prefix", "11.9.9.0/24") for a in ["s1", "s2", "s3"]]  # seeds on one cloud prefix
    rows += [(a, "payment_fp", "card-9") for a in ["s1", "s2"]]
    ind = _inds(spark, rows)
    intel = _intel(spark, [("ip_prefix", "12.1.1.0/24", "actor_x", 0.3)])
    hits = intel_hits(ind, intel)
    seeds = {
        r.account_id
        for r in seed_accounts(_scores(spark, ["s1", "s2", "s3"], students), hits, CONF).collect()
    }
    assert seeds == {"s1", "s2", "s3"}
    edges = prune_hubs(
        ind, seed_accounts(_scores(spark, ["s1", "s2", "s3"], students), hits, CONF), hits, CONF
    )
    kept = {(r.ind_type, r.ind_value) for r in edges.select("ind_type", "ind_value").distinct().collect()}
    assert kept == {("payment_fp", "card-9")}


def test_content_values_need_a_clear_seed_majority(spark: SparkSession) -> None:
    # a reseller's two accounts share a near-duplicate band with the customer it resells
    rows = [(a, "lsh_band", "5") for a in ["s1", "s2", "c1"]]
    rows += [(a, "template_hash", "8") for a in ["s1", "s2", "s3", "c2"]]  # 3 of 4 seeds: kept
    rows += [(a, "lsh_band", "6") for a in ["s1", "s2"]]  # only two accounts: too weak to link
    rows += [(a, "user_agent", "sdk/1.0") for a in ["s1", "s2", "s3"]]  # every SDK user has it: unlisted
    ind = _inds(spark, rows)
    hits = intel_hits(ind, _intel(spark, []))
    seeds = seed_accounts(_scores(spark, ["s1", "s2", "s3"], ["c1", "c2"]), hits, CONF)
    kept = {
        (r.ind_type, r.ind_value)
        for r in prune_hubs(ind, seeds, hits, CONF).select("ind_type", "ind_value").distinct().collect()
    }
    assert kept == {("template_hash", "8")}


def test_content_never_joins_two_operators_but_attaches_loose_accounts(spark: SparkSession) -> None:
    # two operators, each with its own card; their prompts are near-duplicates of each other
    rows = [("g1a", "payment_fp", "p1"), ("g1b", "payment_fp", "p1")]
    rows += [("g2a", "payment_fp", "p2"), ("g2b", "payment_fp", "p2")]
    rows += [(a, "lsh_band", "shared") for a in ["g1a", "g2a", "x"]]  # spans both: dropped
    for v in ("own1", "own2", "own3"):  # attach "loose" to g1: three values in common
        rows += [(a, "lsh_band", v) for a in ["g1a", "g1b", "loose"]]
    rows += [(a, "lsh_band", "chance") for a in ["g1a", "g1b", "thin"]]  # one band in common: no
    for t in ("t2", "t2b"):  # "amb" reaches g2 ...
        rows += [(a, "template_hash", t) for a in ["g2a", "g2b", "amb"]]
    for t in ("t1", "t1b"):  # ... and g1: ambiguous
        rows += [(a, "template_hash", t) for a in ["g1a", "g1b", "amb"]]
    accounts = sorted({r[0] for r in rows})
    clusters, edges, _ = link_accounts(_inds(spark, rows), _scores(spark, accounts), _intel(spark, []), CONF)
    got: dict[str, set[str]] = {}
    for r in clusters.collect():
        got.setdefault(r.cluster_id, set()).add(r.account_id)
    assert sorted(got.values(), key=sorted) == [{"g1a", "g1b", "loose"}, {"g2a", "g2b"}]  # not "thin"
    kept = {(r.ind_type, r.ind_value) for r in edges.select("ind_type", "ind_value").distinct().collect()}
    assert ("lsh_band", "shared") not in kept and ("lsh_band", "own1") in kept


def test_group_seeds_find_a_small_cloud_group_in_lockstep_and_nothing_else(spark: SparkSession) -> None:
    rows, feats = [], []
    for a in ("n1", "n2", "n3"):  # in-house client on a cloud, in lockstep: seeded
        rows.append((a, "tls_fp", "tls-N"))
        feats.append((a, 0.9, 0.0, 0.8, 0.4, 0.0, 0.0, 0.0, 5))
    for a in ("o1", "o2", "o3"):  # an office sharing a card, in lockstep but on its own network
        rows.append((a, "payment_fp", "card-o"))
        feats.append((a, 0.0, 0.0, 0.9, 0.9, 0.0, 0.0, 0.0, 5))
    for a in ("s1", "s2", "s3"):  # three SaaS workers on a cloud, nothing coordinated
        rows.append((a, "tls_fp", "tls-S"))
        feats.append((a, 1.0, 0.0, 0.1, 0.3, 0.0, 0.0, 0.0, 5))
    for a in ("x1", "x2"):  # two accounts only
        rows.append((a, "tls_fp", "tls-X"))
        feats.append((a, 0.0, 1.0, 0.9, 0.9, 0.0, 0.0, 0.0, 5))
    for i in range(7):  # above hub_max_accounts (5): a popular cloud client
        rows.append((f"p{i}", "tls_fp", "tls-P"))
        feats.append((f"p{i}", 1.0, 0.0, 0.9, 0.9, 0.0, 0.0, 0.0, 5))
    rows.append(("n1", "asn", "16509"))  # not a group type
    got = {
        r.account_id for r in group_seeds(_inds(spark, rows), _group_features(spark, feats), CONF).collect()
    }
    assert got == {"n1", "n2", "n3"}


def test_materialise_labels_its_jobs_and_restores_the_description(spark: SparkSession) -> None:
    sc = spark.sparkContext
    sc.setJobDescription("step")
    try:
        df = materialise(spark.range(5), "why it is kept")
        assert df.count() == 5
        assert sc.getLocalProperty("spark.job.description") == "step"
    finally:
        sc.setJobDescription(None)  # type: ignore[arg-type]
    materialise(spark.range(1), "no description before")
    assert sc.getLocalProperty("spark.job.description") is None


def test_lineage_policy_is_the_sessions_setting(spark: SparkSession, tmp_path: Path) -> None:
    from distillwatch.spark import LINEAGE_KEY

    sc = spark.sparkContext
    before = spark.conf.get(LINEAGE_KEY, "local")
    try:
        spark.conf.set(LINEAGE_KEY, "reliable")
        sc.setCheckpointDir(str(tmp_path / "ckpt"))
        assert materialise(spark.range(4), "reliable cut").count() == 4
        assert any((tmp_path / "ckpt").rglob("part-*"))  # written to the reliable folder
        spark.conf.set(LINEAGE_KEY, "sometimes")
        with pytest.raises(ValueError, match="must be 'local' or 'reliable'"):
            materialise(spark.range(1), "bad policy")
    finally:
        spark.conf.set(LINEAGE_KEY, before)


def _clusters(clusters: DataFrame) -> list[set[str]]:
    got: dict[str, set[str]] = {}
    for r in clusters.collect():
        got.setdefault(r.cluster_id, set()).add(r.account_id)
    return sorted(got.values(), key=sorted)


def test_a_prompt_strangers_share_today_links_nobody(spark: SparkSession) -> None:
    conf = dataclasses.replace(CONF, hub_max_accounts=50)
    # An operator: three flagged accounts on one card, many near-duplicates of their own.
    rows = [(a, "payment_fp", "card-op") for a in ("op1", "op2", "op3")]
    rows += [(a, "lsh_band", f"own{i}") for a in ("op1", "op2", "op3", "hidden") for i in range(4)]
    # A popular benchmark question: the operator's accounts send it, and so do three strangers.
    popular = [(a, "lsh_band", f"humaneval{i}") for a in ("op1", "op2", "op3") for i in range(4)]
    popular += [(a, "lsh_band", f"humaneval{i}") for a in ("dev1", "dev2", "dev3") for i in range(4)]
    # ... among the rest of their own work.
    popular += [(a, "lsh_band", f"{a}-work{i}") for a in ("dev1", "dev2", "dev3") for i in range(8)]
    # With 9 operator uses (seed share 0.6 would fail the 0.75 rule), add seeds to pass it:
    popular += [
        (a, "lsh_band", f"humaneval{i}") for a in ("op4", "op5", "op6", "op7", "op8", "op9") for i in range(4)
    ]
    rows += [(a, "payment_fp", "card-op") for a in ("op4", "op5", "op6", "op7", "op8", "op9")]
    flagged = ["op1", "op2", "op3", "op4", "op5", "op6", "op7", "op8", "op9"]
    clusters, edges, _ = link_accounts(
        _inds(spark, rows + popular),
        _scores(spark, flagged, ["dev1", "dev2", "dev3", "hidden"]),
        _intel(spark, []),
        conf,
    )
    # "hidden" (unflagged) joins through the operator's own content; the developers who sent
    # the popular question (3 strangers: tf weight 0.25 < 0.34) do not.
    assert _clusters(clusters) == [{*flagged, "hidden"}]
    kept = {
        r.ind_value for r in edges.where("ind_type = 'lsh_band'").select("ind_value").distinct().collect()
    }
    assert kept == {f"own{i}" for i in range(4)}
    reasons = {r.account_id: (r.link_evidence, r.link_reasons) for r in clusters.collect()}
    assert reasons["hidden"][1] == ["lsh_band:4"] and reasons["hidden"][0] == pytest.approx(1 - 0.5**4)
    assert reasons["op1"][1] == ["lsh_band:4", "payment_fp:1"]


def test_one_popular_prompt_a_reseller_also_carries_does_not_attach_its_sender(spark: SparkSession) -> None:
    conf = dataclasses.replace(CONF, hub_max_accounts=50)
    # A rotated reseller: four flagged accounts, nothing shared but their own prompts.
    hydra = ["h1", "h2", "h3", "h4"]
    rows = [(a, "template_hash", f"own{i}", 100 + i) for a in hydra for i in range(6)]
    # A popular prompt three of them resell, and an individual sends once (that is all it
    # shares with them): one text, its template and eight MinHash bands, one key.
    pop = [("template_hash", "pop")] + [("lsh_band", f"pop-b{i}") for i in range(8)]
    rows += [(a, t, v, 7) for a in ["h1", "h2", "h3", "indiv"] for t, v in pop]
    # A student who sends two of the reseller's own prompts does join (two texts, three values).
    rows += [("student", "template_hash", f"own{i}", 100 + i) for i in range(2)]
    rows += [(a, "lsh_band", "own0-b", 100) for a in [*hydra, "student"]]
    scores = _scores(spark, hydra, ["indiv", "student"])
    clusters, _, _ = link_accounts(_inds(spark, rows), scores, _intel(spark, []), conf)
    assert _clusters(clusters) == [{*hydra, "student"}]
    # Counted by values (rows without a text key count one text each), the nine values of
    # the one prompt attached the individual.
    keyless = _inds(spark, [r[:3] for r in rows])
    by_values, _, _ = link_accounts(keyless, scores, _intel(spark, []), conf)
    assert _clusters(by_values) == [{*hydra, "indiv", "student"}]


@pytest.mark.slow
def test_a_value_strangers_used_last_week_links_nobody_today(spark: SparkSession) -> None:
    conf = dataclasses.replace(CONF, hub_max_accounts=50)
    rows = [(a, "payment_fp", "card-op") for a in ("op1", "op2", "op3")]
    # Today only the operator and one unflagged account send these prompts ...
    rows += [(a, "template_hash", f"gsm8k{i}") for a in ("op1", "op2", "op3", "student") for i in range(4)]
    flagged = ["op1", "op2", "op3"]
    inds, scores, intel = _inds(spark, rows), _scores(spark, flagged, ["student"]), _intel(spark, [])
    today_only, _, _ = link_accounts(inds, scores, intel, conf)
    assert _clusters(today_only) == [{"op1", "op2", "op3", "student"}]
    # ... but last week five strangers a day sent them: popular, not the operator's own.
    daily = spark.createDataFrame(
        [(DAY - dt.timedelta(days=d), "template_hash", f"gsm8k{i}", 7, 5) for d in (1, 2) for i in range(4)],
        "event_date date, ind_type string, ind_value string, n_accounts bigint, n_unrelated bigint",
    )
    baseline = popularity_baseline(daily)
    assert {r.base_popularity for r in baseline.collect()} == {5}
    weighed, _, _ = link_accounts(inds, scores, intel, conf, baseline=baseline)
    assert _clusters(weighed) == [{"op1", "op2", "op3"}]


def test_member_evidence_is_a_noisy_or_of_weighed_values(spark: SparkSession) -> None:
    conf = AttributionConf()
    edges = spark.createDataFrame(
        [("a", "payment_fp", "c", 0.5), ("a", "lsh_band", "b1", 1.0), ("b", "lsh_band", "b1", 1.0)],
        "account_id string, ind_type string, ind_value string, tf_weight double",
    )
    got = {r.account_id: (r.link_evidence, r.link_reasons) for r in member_evidence(edges, conf).collect()}
    # a: 1 - (1 - 0.5) * (1 - 1.0 * 0.5) = 0.75; b: one content value, 0.5 < member_min_evidence
    assert got["a"] == (pytest.approx(0.75), ["lsh_band:1", "payment_fp:1"])
    assert got["b"][0] == pytest.approx(0.5) and got["b"][0] < conf.member_min_evidence


def test_a_campaigns_own_history_does_not_hide_it_but_strangers_history_does(spark: SparkSession) -> None:
    conf = dataclasses.replace(CONF, hub_max_accounts=50)
    # Four rotated accounts (nothing shared but their own near-duplicates), all flagged today.
    ops = ("op1", "op2", "op3", "op4")
    rows = [(a, "lsh_band", f"own{i}") for a in ops for i in range(4)]
    inds, scores, intel = _inds(spark, rows), _scores(spark, list(ops)), _intel(spark, [])

    def baseline(unrelated: int) -> DataFrame:
        daily = spark.createDataFrame(
            [(DAY - dt.timedelta(days=1), "lsh_band", f"own{i}", unrelated, unrelated) for i in range(4)],
            "event_date date, ind_type string, ind_value string, n_accounts bigint, n_unrelated bigint",
        )
        return popularity_baseline(daily)

    # Yesterday the same four accounts sent them, unflagged: they were its "strangers".
    own, _, _ = link_accounts(inds, scores, intel, conf, baseline=baseline(4))
    assert _clusters(own) == [set(ops)]
    # Nine strangers a day sent them: four of them may be today's seeds, five are not
    # (tf weight 1/6 < 0.34): a popular prompt, not the operator's own.
    popular, _, _ = link_accounts(inds, scores, intel, conf, baseline=baseline(9))
    assert _clusters(popular) == []


def test_a_member_left_out_one_day_does_not_weaken_its_operators_client(spark: SparkSession) -> None:
    # Four accounts of one operator share its in-house client's TLS fingerprint; two of them
    # also share a sign-up domain. All four are seeds today.
    ops = ("op1", "op2", "op3", "op4")
    rows = [(a, "tls_fp", "t-own") for a in ops] + [(a, "email_domain", "ops.ai") for a in ("op1", "op2")]
    # A team of three whose shared client strangers used last week, flagged today, never published.
    team = ("d1", "d2", "d3")
    rows += [(a, "tls_fp", "t-team") for a in team]
    inds, scores, intel = _inds(spark, rows), _scores(spark, [*ops, *team]), _intel(spark, [])
    # One day last week op4 sent no campaign traffic and counted as a stranger of t-own; three
    # unrelated accounts used t-team.
    daily = spark.createDataFrame(
        [
            (DAY - dt.timedelta(days=1), "tls_fp", "t-own", 4, 1),
            (DAY - dt.timedelta(days=2), "tls_fp", "t-team", 3, 3),
        ],
        "event_date date, ind_type string, ind_value string, n_accounts bigint, n_unrelated bigint",
    )
    baseline = popularity_baseline(daily)
    # Without the campaign's earlier members, t-own weighs 1/2: op3 and op4 (that value alone)
    # stay under member_min_evidence, and two accounts are no campaign.
    weak, _, _ = link_accounts(inds, scores, intel, CONF, baseline=baseline)
    assert _clusters(weak) == [{"op1", "op2"}]
    # Its members of the lookback are not its strangers: the fingerprint links all four again.
    prior = spark.createDataFrame([(a,) for a in ("op1", "op2", "op3")], "account_id string")
    got, edges, _ = link_accounts(inds, scores, intel, CONF, baseline=baseline, prior_members=prior)
    assert _clusters(got) == [set(ops)]
    weights = {(r.ind_value, r.tf_weight) for r in edges.where("ind_type = 'tls_fp'").collect()}
    assert weights == {("t-own", 1.0)}  # the team's client keeps its past strangers: 1/4, not linked


def test_labelled_accounts_seed_the_graph(spark: SparkSession) -> None:
    # Nobody is flagged; three accounts share a card and two of them were labelled.
    rows = [(a, "payment_fp", "card-op") for a in ("x1", "x2", "x3")]
    rows += [("b1", "payment_fp", "card-b"), ("b2", "payment_fp", "card-b")]
    inds, scores, intel = (
        _inds(spark, rows),
        _scores(spark, [], ["x1", "x2", "x3", "b1", "b2"]),
        _intel(spark, []),
    )
    none, _, _ = link_accounts(inds, scores, intel, CONF)
    assert _clusters(none) == []
    labelled = spark.createDataFrame(
        [("x1", "kestrel"), ("x2", "kestrel"), ("gone", "kestrel")], "account_id string, actor string"
    )
    got, _, _ = link_accounts(inds, scores, intel, CONF, labelled=labelled)
    assert _clusters(got) == [{"x1", "x2", "x3"}]
    assert {r.account_id for r in got.where("is_seed").collect()} == {"x1", "x2"}


def test_a_rotated_operator_links_from_a_few_labelled_accounts_but_a_shared_popular_prompt_does_not(
    spark: SparkSession,
) -> None:
    conf = dataclasses.replace(CONF, hub_max_accounts=50)
    # Eight rotated accounts (nothing shared but their prompts), op0 and op1 labelled: each of
    # the six prompts is sent by both of them and three of the six others (two fifths seeds),
    # and each of the others sends three of them.
    ops = [f"op{i}" for i in range(8)]
    rows = [(a, "lsh_band", f"own{j}") for j in range(6) for a in ("op0", "op1")]
    rows += [(f"op{2 + (j + k) % 6}", "lsh_band", f"own{j}") for j in range(6) for k in range(3)]
    # A popular prompt: one labelled account sends it, and so do six strangers, three of whom
    # send nothing else today (their whole content is that prompt).
    strangers = [f"dev{i}" for i in range(6)]
    rows += [(a, "lsh_band", f"pop{i}") for a in ["op0", *strangers] for i in range(3)]
    rows += [(a, "lsh_band", f"{a}-own{i}") for a in strangers[3:] for i in range(6)]
    labelled = spark.createDataFrame(
        [("op0", "kestrel"), ("op1", "kestrel")], "account_id string, actor string"
    )
    inds, scores, intel = _inds(spark, rows), _scores(spark, [], [*ops, *strangers]), _intel(spark, [])
    none, _, _ = link_accounts(inds, scores, intel, conf)
    assert _clusters(none) == []
    got, edges, _ = link_accounts(inds, scores, intel, conf, labelled=labelled)
    assert _clusters(got) == [set(ops)]
    kept = {r.ind_value for r in edges.select("ind_value").distinct().collect()}
    assert not any(v.startswith("pop") for v in kept)
    # With the old rule (a three-quarter seed majority on every content value) nothing links.
    strict = dataclasses.replace(conf, content_touch_seed_share=1.0)
    only, _, _ = link_accounts(inds, scores, intel, strict, labelled=labelled)
    assert _clusters(only) == []


def test_asking_groups_seed_on_shared_content_and_ordinary_content_seeds_nobody(spark: SparkSession) -> None:
    rows, feats = [], []
    for a in ("r1", "r2", "r3"):  # residential, ordinary clients, but mostly reasoning and rubric asks
        rows.append((a, "template_hash", "t-ask"))
        feats.append((a, 0.0, 0.0, 0.9, 0.5, 0.4, 0.3, 0.1, 7))
    for a in ("d1", "d2", "d3"):  # developers sharing an SDK's prompts: no asks
        rows.append((a, "lsh_band", "b-sdk"))
        feats.append((a, 0.0, 0.0, 1.0, 0.95, 0.0, 0.0, 0.0, 12))
    for a in ("q1", "q2"):  # two askers only
        rows.append((a, "template_hash", "t-two"))
        feats.append((a, 0.0, 0.0, 0.9, 0.9, 1.0, 0.0, 0.0, 7))
    for a in ("m1", "m2", "m3"):  # one asker among ordinary users of a prompt
        rows.append((a, "template_hash", "t-mixed"))
    feats += [("m1", 0.0, 0.0, 0.5, 0.5, 1.0, 0.0, 0.0, 7), ("m2", 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 7)]
    feats += [("m3", 0.0, 0.0, 0.5, 0.5, 0.0, 0.1, 0.0, 7)]
    for a in ("s1", "s2", "s3"):  # three students, one "think step by step" question each
        rows.append((a, "template_hash", "t-once"))
        feats.append((a, 0.0, 0.0, 0.9, 1.0, 1.0, 0.0, 0.0, 1))
    for a in ("w1", "w2", "w3"):  # a popular asking prompt: nine strangers sent it yesterday
        rows.append((a, "template_hash", "t-popular"))
        feats.append((a, 0.0, 0.0, 0.9, 1.0, 1.0, 0.0, 0.0, 6))
    daily = spark.createDataFrame(
        [(DAY - dt.timedelta(days=1), "template_hash", v, n, n) for v, n in (("t-popular", 9), ("t-ask", 3))],
        "event_date date, ind_type string, ind_value string, n_accounts bigint, n_unrelated bigint",
    )
    ind, features = _inds(spark, rows), _group_features(spark, feats)
    got = {r.account_id for r in group_seeds(ind, features, CONF, popularity_baseline(daily)).collect()}
    # the askers' own prompt was sent yesterday by three accounts (themselves, unflagged): kept
    assert got == {"r1", "r2", "r3"}
    without_history = {r.account_id for r in group_seeds(ind, features, CONF).collect()}
    assert without_history == {"r1", "r2", "r3", "w1", "w2", "w3"}


def test_harvest_groups_seed_on_long_answers_at_volume_and_writers_seed_nobody(spark: SparkSession) -> None:
    rows, feats = [], []
    for a in ("h1", "h2", "h3"):  # rotated, no asks the rules know: worked answers, 12 a day each
        rows.append((a, "template_hash", "t-derive"))
        feats.append((a, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 12))
    for a in ("e1", "e2", "e3"):  # a class writing essays on one assignment: long answers, 3 a day
        rows.append((a, "template_hash", "t-essay"))
        feats.append((a, 0.0, 0.0, 0.5, 0.9, 0.0, 0.0, 0.0, 3))
    for a in ("b1", "b2", "b3"):  # a busy team on one prompt: ordinary answers
        rows.append((a, "template_hash", "t-team"))
        feats.append((a, 0.0, 0.0, 0.5, 0.9, 0.0, 0.0, 0.0, 20))
    for a in ("p1", "p2", "p3"):  # a popular prompt: twelve strangers sent it yesterday
        rows.append((a, "template_hash", "t-popular"))
        feats.append((a, 0.0, 0.0, 0.5, 0.9, 0.0, 0.0, 0.0, 12))
    daily = spark.createDataFrame(
        [(DAY - dt.timedelta(days=1), "template_hash", "t-popular", 12, 12)],
        "event_date date, ind_type string, ind_value string, n_accounts bigint, n_unrelated bigint",
    )
    ind = _inds(spark, rows)
    features = _group_features(spark, feats, harvest=("h1", "h2", "h3", "e1", "e2", "e3", "p1", "p2", "p3"))
    got = {r.account_id for r in group_seeds(ind, features, CONF, popularity_baseline(daily)).collect()}
    assert got == {"h1", "h2", "h3"}


def test_accounts_labelled_by_two_actors_never_share_a_cluster(spark: SparkSession) -> None:
    conf = dataclasses.replace(CONF, hub_max_accounts=50)
    # Two rotated operators harvesting the same capability: their near-duplicates overlap.
    a_ops, b_ops = ["a1", "a2", "a3", "a4"], ["b1", "b2", "b3", "b4"]
    rows = [(x, "lsh_band", f"a-own{i}") for x in a_ops for i in range(4)]
    rows += [(x, "lsh_band", f"b-own{i}") for x in b_ops for i in range(4)]
    rows += [(x, "lsh_band", f"both{i}") for x in ["a1", "a2", "b1", "b2"] for i in range(3)]
    flagged = [*a_ops, *b_ops]
    inds, scores, intel = _inds(spark, rows), _scores(spark, flagged), _intel(spark, [])
    merged, _, _ = link_accounts(inds, scores, intel, conf)
    assert _clusters(merged) == [set(flagged)]
    labelled = spark.createDataFrame(
        [("a3", "heron"), ("a4", "heron"), ("b3", "mantis"), ("b4", "mantis")],
        "account_id string, actor string",
    )
    apart, _, _ = link_accounts(inds, scores, intel, conf, labelled=labelled)
    got = _clusters(apart)
    assert {"a3", "a4"} <= next(c for c in got if "a3" in c) and not {"b3", "b4"} & next(
        c for c in got if "a3" in c
    )
    assert all(not ({"a3", "a4"} & c and {"b3", "b4"} & c) for c in got)
