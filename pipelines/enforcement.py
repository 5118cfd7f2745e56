"""``enforcement_actions``: the action recommended for each account on a day, by policy.

Accounts considered: the day's campaign members, the accounts the model flagged, and the
accounts an analyst labelled ``distillation``. Each gets the strongest action of
``monitor`` < ``require_verification`` < ``rate_limit`` < ``suspend`` whose conditions it
meets (thresholds: ``EnforcementConf``):

- ``suspend``: a member of a campaign attributed with confidence >= ``suspend_min_confidence``
  or confirmed by an analyst (or an account labelled distillation), with member score >=
  ``suspend_min_score``, unless more than ``max_collateral_share_to_suspend`` of its
  exchanges are not campaign traffic (a hydra account reselling access to real customers:
  ``rate_limit``, reason ``collateral``);
- ``rate_limit``: a member of a campaign attributed with confidence >=
  ``rate_limit_min_confidence``, or an account scored >= ``rate_limit_min_score``;
- ``require_verification``: any other campaign member, or a flagged unverified account;
- ``monitor``: a flagged account that meets none of these.

``collateral_exchanges`` is how many of the account's exchanges that day are not its
campaign's (the customers behind a hydra account). No action is ever recommended for an
account of a dismissed campaign or one an analyst labelled benign. ``reason_codes`` name
every condition met; ``evidence`` (JSON) carries the figures behind them.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from distillwatch.config import EnforcementConf


def policy_text(conf: EnforcementConf) -> str:
    """The policy an action was taken under, as recorded in each row."""
    return (
        f"suspend:conf>={conf.suspend_min_confidence},member>={conf.suspend_min_score},"
        f"collateral<={conf.max_collateral_share_to_suspend};"
        f"rate_limit:conf>={conf.rate_limit_min_confidence}|score>={conf.rate_limit_min_score}"
    )


def _codes(*pairs: tuple[Column, str]) -> Column:
    return F.filter(F.array(*[F.when(c, F.lit(name)) for c, name in pairs]), lambda x: x.isNotNull())


def enforcement_actions(
    scores: DataFrame,
    members: DataFrame,
    daily: DataFrame,
    campaign_exchanges: DataFrame,
    features: DataFrame,
    excluded: DataFrame,
    distillation_labelled: DataFrame,
    confirmed: DataFrame,
    day: dt.date,
    conf: EnforcementConf,
) -> DataFrame:
    """Day ``day`` of ``enforcement_actions``.

    Day rows of ``account_scores``, ``campaign_members``, ``campaign_attribution_daily``,
    ``campaign_exchanges`` and ``account_daily_features``; from the decisions in force:
    ``excluded`` (account_id: dismissed campaigns' accounts, benign labels),
    ``distillation_labelled`` (account_id) and ``confirmed`` (campaign_id).
    """
    zero = F.lit(0).cast("bigint")
    camp_ex = campaign_exchanges.groupBy("account_id").agg(F.count(F.lit(1)).alias("campaign_exchanges"))
    m = members.select("account_id", "campaign_id", "member_score", "link_evidence", "member_reasons")
    d = daily.select("campaign_id", "actor", F.col("confidence").alias("campaign_confidence")).join(
        confirmed.select("campaign_id", F.lit(True).alias("confirmed")).distinct(), "campaign_id", "left"
    )
    s = scores.select("account_id", "score", F.coalesce("flagged", F.lit(False)).alias("flagged"))
    lab = distillation_labelled.select("account_id", F.lit(True).alias("labelled")).distinct()
    candidates = (
        m.select("account_id")
        .unionByName(s.where("flagged").select("account_id"))
        .unionByName(lab.select("account_id"))
        .distinct()
        .join(excluded.select("account_id"), "account_id", "left_anti")
    )
    rows = (
        candidates.join(m, "account_id", "left")
        .join(d, "campaign_id", "left")
        .join(s, "account_id", "left")
        .join(lab, "account_id", "left")
        .join(features.select("account_id", "n_exchanges", "verified"), "account_id", "left")
        .join(camp_ex, "account_id", "left")
        .withColumn("campaign_exchanges", F.coalesce("campaign_exchanges", zero))
        .withColumn(
            "collateral_exchanges",
            F.greatest(F.coalesce("n_exchanges", zero) - F.col("campaign_exchanges"), zero).cast("bigint"),
        )
    )
    member = F.col("campaign_id").isNotNull()
    confirmed_c = F.coalesce("confirmed", F.lit(False))
    labelled = F.coalesce("labelled", F.lit(False))
    cconf = F.coalesce("campaign_confidence", F.lit(0.0))
    mscore = F.coalesce("member_score", F.lit(0.0))
    score = F.coalesce("score", F.lit(0.0))
    share = F.when(F.col("n_exchanges") > 0, F.col("collateral_exchanges") / F.col("n_exchanges")).otherwise(
        0.0
    )
    strong = (
        member & (confirmed_c | (cconf >= conf.suspend_min_confidence)) & (mscore >= conf.suspend_min_score)
    ) | (labelled)
    collateral = share > conf.max_collateral_share_to_suspend
    attributed = member & (confirmed_c | (cconf >= conf.rate_limit_min_confidence))
    high = score >= conf.rate_limit_min_score
    unverified = F.coalesce("verified", F.lit(0.0)) < 1.0
    flagged = F.coalesce("flagged", F.lit(False))
    action = (
        F.when(strong & ~collateral, "suspend")
        .when(strong | attributed | high, "rate_limit")
        .when(member | (flagged & unverified), "require_verification")
        .otherwise("monitor")
    )
    reasons = _codes(
        (member, "campaign_member"),
        (confirmed_c, "confirmed_campaign"),
        (member & F.col("actor").isNotNull(), "attributed_campaign"),
        (member & (mscore >= conf.suspend_min_score), "high_member_score"),
        (labelled, "labelled_distillation"),
        (high, "high_score"),
        (flagged, "flagged"),
        (unverified, "unverified"),
        (strong & collateral, "collateral"),
    )
    evidence = F.to_json(
        F.struct(
            F.round("score", 4).alias("score"),
            F.round("member_score", 4).alias("member_score"),
            F.round("link_evidence", 4).alias("link_evidence"),
            "member_reasons",
            F.round("campaign_confidence", 4).alias("campaign_confidence"),
            "n_exchanges",
            F.round(share, 4).alias("collateral_share"),
        )
    )
    return rows.select(
        F.lit(day).alias("event_date"),
        "account_id",
        action.alias("action"),
        "campaign_id",
        "actor",
        F.when(confirmed_c, F.lit(1.0)).otherwise(F.col("campaign_confidence")).alias("campaign_confidence"),
        F.col("score").cast("double").alias("score"),
        F.col("member_score").cast("double").alias("member_score"),
        reasons.alias("reason_codes"),
        evidence.alias("evidence"),
        "campaign_exchanges",
        "collateral_exchanges",
        F.lit(policy_text(conf)).alias("policy"),
    )
