"""Attribution of campaigns: the actor behind each one, the release pivot, and the rows
of ``campaign_members`` and ``campaign_attribution_daily``. No raw prompt text: only
hashes, counts and shares leave silver_exchanges.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillwatch.config import AttributionConf
from distillwatch.vocabulary import INFRA_TYPES


def intel_evidence(hits: DataFrame, members: DataFrame, camp_traffic: DataFrame) -> DataFrame:
    """One row per (campaign, actor, listed indicator): a member used a value threat intel
    attributes to the actor (``confidence`` of the listing, ``n_accounts`` members using it).

    Prompt examples are matched upstream (silver ``intel_types``); they count as one
    indicator per actor with the best exchange-level confidence.
    """
    by_value = (
        hits.join(members.select("campaign_id", "account_id"), "account_id")
        .groupBy("campaign_id", "actor", "ind_type", "ind_value")
        .agg(F.max("confidence").alias("confidence"), F.countDistinct("account_id").alias("n_accounts"))
    )
    prompts = (
        camp_traffic.where(
            F.col("intel_actor").isNotNull() & F.array_contains(F.col("intel_types"), "prompt_example")
        )
        .groupBy("campaign_id", F.col("intel_actor").alias("actor"))
        .agg(F.max("intel_confidence").alias("confidence"), F.countDistinct("account_id").alias("n_accounts"))
        .select(
            "campaign_id",
            "actor",
            F.lit("prompt_example").alias("ind_type"),
            F.lit("*").alias("ind_value"),
            "confidence",
            "n_accounts",
        )
    )
    return by_value.unionByName(prompts)


def label_evidence(labelled: DataFrame, members: DataFrame, conf: AttributionConf) -> DataFrame:
    """One row per (campaign, actor, labelled member): an analyst labelled the member
    distillation by ``actor`` before the day ended (``label_actor_confidence``; each
    labelled member is one indicator, so two agreeing labels outweigh one).

    ``labelled``: (account_id, actor); accounts labelled without an actor give none.
    """
    return (
        labelled.where(F.col("actor").isNotNull())
        .join(members.select("campaign_id", "account_id"), "account_id")
        .select(
            "campaign_id",
            "actor",
            F.lit("analyst_label").alias("ind_type"),
            F.col("account_id").alias("ind_value"),
            F.lit(conf.label_actor_confidence).alias("confidence"),
            F.lit(1).cast("bigint").alias("n_accounts"),
        )
    )


def prior_evidence(overlaps: DataFrame, prior_actors: DataFrame, conf: AttributionConf) -> DataFrame:
    """Evidence from campaigns attributed earlier: one row per (campaign, earlier campaign)
    with confidence = overlap x earlier confidence x ``prior_actor_weight``.

    ``overlaps``: (campaign_id, prev_id, overlap); ``prior_actors``: (campaign_id, actor,
    confidence) of earlier days.
    """
    prior = prior_actors.where(F.col("actor").isNotNull()).select(
        F.col("campaign_id").alias("prev_id"), "actor", F.col("confidence").alias("prior_confidence")
    )
    return overlaps.join(prior, "prev_id").select(
        "campaign_id",
        "actor",
        F.lit("prior_campaign").alias("ind_type"),
        F.col("prev_id").alias("ind_value"),
        (F.col("overlap") * F.coalesce("prior_confidence", F.lit(0.0)) * conf.prior_actor_weight).alias(
            "confidence"
        ),
        F.lit(None).cast("bigint").alias("n_accounts"),
    )


def choose_actor(evidence: DataFrame, conf: AttributionConf) -> DataFrame:
    """One row per campaign with any evidence: ``actor`` (null = unattributed),
    ``confidence`` and the candidate actors.

    Per actor, distinct agreeing indicators combine by noisy-or, 1 - prod(1 - c), so
    several independent indicators outweigh one. An actor is accepted with confidence of
    at least ``actor_min_confidence`` and either ``actor_min_indicators`` distinct
    indicators or a single one of at least ``actor_single_indicator_min_confidence``:
    one low-confidence, possibly mis-listed indicator never attributes a cluster.
    """
    per_actor = evidence.groupBy("campaign_id", "actor").agg(
        (1.0 - F.exp(F.sum(F.log1p(-F.least(F.col("confidence"), F.lit(0.999)))))).alias("score"),
        F.countDistinct("ind_type", "ind_value").alias("n_indicators"),
        F.max("confidence").alias("max_confidence"),
    )
    ok = (F.col("score") >= conf.actor_min_confidence) & (
        (F.col("n_indicators") >= conf.actor_min_indicators)
        | (F.col("max_confidence") >= conf.actor_single_indicator_min_confidence)
    )
    w = Window.partitionBy("campaign_id").orderBy(F.desc("_ok"), F.desc("score"), "actor")
    ranked = per_actor.withColumn("_ok", ok.cast("int")).withColumn("_r", F.row_number().over(w))
    candidates = ranked.groupBy("campaign_id").agg(
        F.sort_array(
            F.collect_list(
                F.struct(
                    F.round(-F.col("score"), 4).alias("neg"),
                    "actor",
                    F.round("score", 4).alias("score"),
                    "n_indicators",
                )
            )
        ).alias("_c")
    )
    best = ranked.where("_r = 1").select(
        "campaign_id",
        F.when(F.col("_ok") == 1, F.col("actor")).alias("actor"),
        F.when(F.col("_ok") == 1, F.round("score", 4)).alias("confidence"),
    )
    return best.join(candidates, "campaign_id").select(
        "campaign_id",
        "actor",
        "confidence",
        F.transform("_c", lambda s: s.dropFields("neg")).alias("actor_candidates"),
    )


def _within_release(window_hours: int) -> Column:
    age = F.unix_timestamp("ts") - F.unix_timestamp("model_released_at")
    return F.coalesce((age >= 0) & (age <= window_hours * 3600), F.lit(False))


def release_pivot(camp_traffic: DataFrame, exchanges: DataFrame, conf: AttributionConf) -> DataFrame:
    """One row per campaign: its share of traffic on a newly released model against the
    whole population's, and ``release_pivot``.

    The pivot window is the ``pivot_window_hours`` after the latest release seen in the
    day's traffic. ``pivot_share`` = the share of a campaign's exchanges inside that window
    that went to a model released within it (a campaign moving half its traffic to a new
    model within 24 hours shows 0.5 however the window falls across days). The pivot is
    flagged when that share is at least ``pivot_min_share`` and ``pivot_min_lift`` times the
    population's share in the same window.
    """
    new = F.coalesce(F.col("is_new_model"), F.lit(False)).cast("double")
    window_s = conf.pivot_window_hours * 3600
    latest = exchanges.agg(F.max("model_released_at").alias("_release"))
    in_window = (F.unix_timestamp("ts") >= F.unix_timestamp("_release")) & (
        F.unix_timestamp("ts") <= F.unix_timestamp("_release") + window_s
    )
    fresh = F.when(
        F.coalesce(in_window, F.lit(False)), _within_release(conf.pivot_window_hours).cast("double")
    )
    # latest is one row: a cross join with it is a broadcast of one row.
    population = exchanges.crossJoin(F.broadcast(latest)).agg(
        F.coalesce(F.avg(new), F.lit(0.0)).alias("population_new_model_share"),
        F.coalesce(F.avg(fresh), F.lit(0.0)).alias("population_pivot_share"),
    )
    per = (
        camp_traffic.crossJoin(F.broadcast(latest))
        .groupBy("campaign_id")
        .agg(F.avg(new).alias("new_model_share"), F.coalesce(F.avg(fresh), F.lit(0.0)).alias("pivot_share"))
    )
    return per.crossJoin(F.broadcast(population)).withColumn(
        "release_pivot",
        (F.col("pivot_share") >= conf.pivot_min_share)
        & (F.col("pivot_share") >= F.col("population_pivot_share") * conf.pivot_min_lift),
    )


def _top_n(df: DataFrame, part: list[str], order: list[Column], n: int) -> DataFrame:
    return (
        df.withColumn("_r", F.row_number().over(Window.partitionBy(*part).orderBy(*order)))
        .where(F.col("_r") <= n)
        .drop("_r")
    )


def infrastructure(member_edges: DataFrame, conf: AttributionConf) -> DataFrame:
    """One row per campaign: ``shared_infrastructure``, a JSON object type -> top values
    with the number of members using each (only values that linked its accounts)."""
    counts = (
        member_edges.where(F.col("ind_type").isin(*INFRA_TYPES))
        .groupBy("campaign_id", "ind_type", "ind_value")
        .agg(F.countDistinct("account_id").alias("n_accounts"))
    )
    top = _top_n(
        counts, ["campaign_id", "ind_type"], [F.desc("n_accounts"), F.col("ind_value")], conf.evidence_top_n
    )
    per_type = top.groupBy("campaign_id", "ind_type").agg(
        F.sort_array(
            F.collect_list(
                F.struct((-F.col("n_accounts")).alias("_k"), F.col("ind_value").alias("value"), "n_accounts")
            )
        ).alias("_v")
    )
    return per_type.groupBy("campaign_id").agg(
        F.to_json(
            F.map_from_entries(
                # sorted by type: the JSON's key order must not depend on shuffle order
                F.sort_array(
                    F.collect_list(F.struct("ind_type", F.transform("_v", lambda s: s.dropFields("_k"))))
                )
            )
        ).alias("shared_infrastructure")
    )


def content_profile(camp_traffic: DataFrame, conf: AttributionConf) -> DataFrame:
    """One row per campaign: ``capability_mix`` (JSON capability -> share) and its top
    template hashes with exchange and account counts."""
    cap = camp_traffic.groupBy(
        "campaign_id", F.coalesce("capability", F.lit("unknown")).alias("capability")
    ).agg(F.count(F.lit(1)).alias("n"))
    mix = (
        cap.withColumn("share", F.round(F.col("n") / F.sum("n").over(Window.partitionBy("campaign_id")), 4))
        .groupBy("campaign_id")
        .agg(
            F.to_json(
                F.map_from_entries(F.sort_array(F.collect_list(F.struct("capability", "share"))))
            ).alias("capability_mix")
        )
    )
    tmpl = (
        camp_traffic.where(F.col("template_hash").isNotNull())
        .groupBy("campaign_id", "template_hash")
        .agg(F.count(F.lit(1)).alias("n_exchanges"), F.countDistinct("account_id").alias("n_accounts"))
    )
    top = _top_n(tmpl, ["campaign_id"], [F.desc("n_exchanges"), F.col("template_hash")], conf.evidence_top_n)
    tops = (
        top.groupBy("campaign_id")
        .agg(
            F.sort_array(
                F.collect_list(
                    F.struct(
                        (-F.col("n_exchanges")).alias("_k"),
                        F.col("template_hash").cast("string").alias("template_hash"),
                        "n_exchanges",
                        "n_accounts",
                    )
                )
            ).alias("_t")
        )
        .select("campaign_id", F.transform("_t", lambda s: s.dropFields("_k")).alias("top_templates"))
    )
    return mix.join(tops, "campaign_id", "left")


def member_rows(
    camp_traffic: DataFrame,
    traffic: DataFrame,
    scores: DataFrame,
    clusters: DataFrame,
    hits: DataFrame,
    day: str,
) -> DataFrame:
    """campaign_members: one row per (day, campaign, member account).

    ``member_score`` = mean of the account's detector score and the share of its traffic
    that is the campaign's (a resold proxy account scores lower than a dedicated one);
    ``link_evidence`` = the account's weighed linkage evidence
    (:func:`pipelines.linkage.member_evidence`); ``member_reasons`` = what put it in:
    ``flagged`` (the detector), ``intel`` (a listed value), ``seed`` (a seed by anomaly
    or a coordinated group), then ``<indicator type>:<values>`` of its linking values.
    """
    own = camp_traffic.groupBy("campaign_id", "account_id").agg(F.count(F.lit(1)).alias("_c"))
    total = traffic.groupBy("account_id").agg(F.count(F.lit(1)).alias("_t"))
    sc = scores.select(
        "account_id",
        F.coalesce("score", F.lit(0.0)).alias("_s"),
        F.coalesce("flagged", F.lit(False)).alias("_flagged"),
    )
    listed = hits.select("account_id").distinct().withColumn("_intel", F.lit(True))
    why = F.concat(
        F.filter(
            F.array(
                F.when(F.col("_flagged"), F.lit("flagged")),
                F.when(F.coalesce("_intel", F.lit(False)), F.lit("intel")),
                F.when(F.col("is_seed") & ~F.col("_flagged") & F.col("_intel").isNull(), F.lit("seed")),
            ),
            lambda r: r.isNotNull(),
        ),
        F.coalesce(F.col("link_reasons"), F.array().cast("array<string>")),
    )
    return (
        own.join(total, "account_id")
        .join(clusters.select("account_id", "is_seed", "link_evidence", "link_reasons"), "account_id")
        .join(sc, "account_id", "left")
        .join(listed, "account_id", "left")
        .fillna({"_flagged": False})
        .select(
            F.lit(day).cast("date").alias("event_date"),
            "campaign_id",
            "account_id",
            F.round(0.5 * F.coalesce("_s", F.lit(0.0)) + 0.5 * F.col("_c") / F.col("_t"), 4).alias(
                "member_score"
            ),
            F.round("link_evidence", 4).alias("link_evidence"),
            why.alias("member_reasons"),
        )
    )


def indicator_popularity(indicators: DataFrame, members: DataFrame, seeds: DataFrame, day: str) -> DataFrame:
    """indicator_popularity_daily: one row per indicator value shared by 2+ accounts on
    ``day``: ``n_accounts`` and ``n_unrelated``, the accounts that were neither seeds nor
    campaign members (the strangers of the term-frequency adjustment,
    :func:`pipelines.linkage.popularity_baseline`).

    Values one account used link nobody and are left out, which bounds the table by the
    day's shared values rather than its traffic. Cost: a join with the members and seeds
    (small) and one group-by over the account-value rows.
    """
    related = members.select("account_id").unionByName(seeds.select("account_id")).distinct()
    return (
        indicators.join(related.withColumn("_rel", F.lit(True)), "account_id", "left")
        .groupBy("ind_type", "ind_value")
        .agg(
            F.count(F.lit(1)).alias("n_accounts"),
            F.count(F.when(F.col("_rel").isNull(), 1)).alias("n_unrelated"),
        )
        .where(F.col("n_accounts") >= 2)
        .select(
            F.lit(day).cast("date").alias("event_date"), "ind_type", "ind_value", "n_accounts", "n_unrelated"
        )
    )


def daily_rows(
    evidence: DataFrame,
    actors: DataFrame,
    pivot: DataFrame,
    infra: DataFrame,
    content: DataFrame,
    intel: DataFrame,
    first_seen: DataFrame,
    day: str,
) -> DataFrame:
    """campaign_attribution_daily: one row per campaign active on ``day``.

    ``evidence`` is the campaign-evidence row keyed by ``campaign_id`` (with
    continued_from / split_from); ``first_seen`` (campaign_id, first_seen) of campaigns
    seen before; ``intel`` the intel_evidence rows. The ``evidence`` column is a JSON
    object an analyst can act on: signals, matched indicators with counts, top template
    hashes, synchronisation and flagged shares, lineage and actor candidates.
    """
    matched = (
        intel.groupBy("campaign_id")
        .agg(
            F.sort_array(
                F.collect_list(
                    F.struct(
                        (-F.col("confidence")).alias("_k"),
                        "ind_type",
                        F.col("ind_value").alias("value"),
                        "actor",
                        F.round("confidence", 4).alias("confidence"),
                        "n_accounts",
                    )
                )
            ).alias("_i")
        )
        .select("campaign_id", F.transform("_i", lambda s: s.dropFields("_k")).alias("matched_indicators"))
    )
    d = F.lit(day).cast("date")
    rows = (
        evidence.join(actors, "campaign_id", "left")
        .join(pivot, "campaign_id", "left")
        .join(infra, "campaign_id", "left")
        .join(content, "campaign_id", "left")
        .join(matched, "campaign_id", "left")
        .join(first_seen, "campaign_id", "left")
        .withColumn("first_seen", F.least(F.coalesce("first_seen", d), d))
    )
    ev_json = F.to_json(
        F.struct(
            "signals",
            F.coalesce("matched_indicators", F.array()).alias("matched_indicators"),
            F.coalesce("top_templates", F.array()).alias("top_templates"),
            F.struct(
                F.round("sync_mean", 4).alias("mean_sync_score"),
                F.round("flagged_share", 4).alias("flagged_share"),
                F.round("content_share", 4).alias("content_share"),
                "n_template",
                "n_near_duplicate",
                "shared_infra_values",
                (F.col("n_member_exchanges") - F.col("n_exchanges")).alias(
                    "n_member_exchanges_not_attributed"
                ),
            ).alias("figures"),
            F.struct("continued_from", "split_from").alias("lineage"),
            F.coalesce("actor_candidates", F.array()).alias("actor_candidates"),
            F.col("confirmed_by").alias("confirmed_by"),
            F.round("pivot_share", 4).alias("release_pivot_share_24h"),
            F.round("population_pivot_share", 4).alias("population_pivot_share_24h"),
        )
    )
    return rows.select(
        d.alias("event_date"),
        "campaign_id",
        "actor",
        F.col("confidence").cast("double").alias("confidence"),
        F.col("n_accounts").cast("bigint").alias("n_accounts"),
        F.col("n_exchanges").cast("bigint").alias("n_exchanges"),
        "first_seen",
        F.when(F.col("first_seen") == d, "new").otherwise("active").alias("status"),
        "top_capability",
        "capability_mix",
        F.round("cot_share", 4).alias("cot_share"),
        F.round("rubric_share", 4).alias("rubric_share"),
        F.round("sensitive_share", 4).alias("sensitive_share"),
        F.round("new_model_share", 4).alias("new_model_share"),
        F.round("population_new_model_share", 4).alias("population_new_model_share"),
        F.coalesce("release_pivot", F.lit(False)).alias("release_pivot"),
        "shared_infrastructure",
        ev_json.alias("evidence"),
    )
