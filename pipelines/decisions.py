"""Analyst decisions: the rows of ``analyst_decisions``, the decisions in force, what they
bind in the next runs, and the labels they give accounts.

A decision is one row, never updated (who, when, why). For each subject the latest decision
in force wins: a campaign's review (``confirm`` / ``dismiss``), a pair's link
(``must_link`` / ``cannot_link``, two accounts or an account and a campaign), an account's
``label``; a ``revoke`` takes back the decision it names. A decision about a campaign keeps
its *scope*: the campaign's accounts and indicator values when it was decided, so a
dismissed campaign is recognised however its ids and days move later.

What binds (:class:`ReviewState`, read by ``campaigns_day``):

- a dismissed campaign's clusters are recognised by identity (its scope is matched like an
  earlier campaign's members and indicators, without a lookback limit) and are not
  published, neither under its id nor split off it under a new one;
- a cannot-link's two sides never end in one cluster (``linkage.separate_cannot_links``);
- a must-link is an edge of the linkage graph that no pruning removes;
- a confirmed actor replaces the one intel would name, with confidence 1.

Decisions are few (analysts make them by hand): these builders are small joins.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

# The subject a decision is about: the latest decision in force on one subject wins.
_CAMPAIGN_REVIEW = ("confirm", "dismiss")
_LINKS = ("must_link", "cannot_link")
POSITIVE = "distillation"
# indicator values in scope_indicators are "<ind_type>:<ind_value>" (types hold no colon)
_SEP = ":"


def analyst_decisions(requests: DataFrame, members: DataFrame, indicators: DataFrame) -> DataFrame:
    """The rows to append to ``analyst_decisions``: ``requests`` (the decision columns
    without the scope) with, for a decision naming a campaign, its scope: every account of
    the campaign on any day up to now (``campaign_members``) and every indicator value that
    linked them (``campaign_indicators``, as ``type:value``)."""
    accounts = members.groupBy("campaign_id").agg(F.sort_array(F.collect_set("account_id")).alias("_acc"))
    values = indicators.groupBy("campaign_id").agg(
        F.sort_array(F.collect_set(F.concat_ws(_SEP, "ind_type", "ind_value"))).alias("_ind")
    )
    empty = F.array().cast("array<string>")
    return (
        requests.join(accounts, "campaign_id", "left")
        .join(values, "campaign_id", "left")
        .withColumn("scope_accounts", F.coalesce("_acc", empty))
        .withColumn("scope_indicators", F.coalesce("_ind", empty))
        .drop("_acc", "_ind")
    )


def _subject() -> Column:
    pair = F.concat_ws(
        "|",
        F.least(
            F.col("account_id"), F.coalesce("other_account_id", F.concat(F.lit("campaign="), "campaign_id"))
        ),
        F.greatest(
            F.col("account_id"), F.coalesce("other_account_id", F.concat(F.lit("campaign="), "campaign_id"))
        ),
    )
    return (
        F.when(F.col("action").isin(*_CAMPAIGN_REVIEW), F.concat(F.lit("campaign="), "campaign_id"))
        .when(F.col("action").isin(*_LINKS), F.concat(F.lit("link="), pair))
        .when(F.col("action") == "label", F.concat(F.lit("label="), "account_id"))
    )


def in_force(decisions: DataFrame) -> DataFrame:
    """The decisions that bind now: not revoked, and the latest on their subject (a
    campaign, a linked pair, an account's label). Revocations themselves are not returned."""
    revoked = (
        decisions.where(F.col("action") == "revoke").select(F.col("revokes").alias("_revoked")).distinct()
    )
    kept = decisions.where(F.col("action") != "revoke")
    live = kept.join(revoked, kept["decision_id"] == revoked["_revoked"], "left_anti")
    latest = Window.partitionBy("_subject").orderBy(F.desc("decided_at"), F.desc("decision_id"))
    return (
        live.withColumn("_subject", _subject())
        .where(F.col("_subject").isNotNull())
        .withColumn("_r", F.row_number().over(latest))
        .where("_r = 1")
        .drop("_subject", "_r")
    )


@dataclass(frozen=True)
class ReviewState:
    """What the decisions in force bind in one day's linkage and attribution."""

    # (campaign_id, account_id) and (campaign_id, ind_type, ind_value) of dismissed campaigns
    dismissed_members: DataFrame
    dismissed_indicators: DataFrame
    # (campaign_id, actor, decision_id)
    confirmed: DataFrame
    # (account_id, ind_value): accounts an analyst linked; ind_value names the decision
    must_links: DataFrame
    # (decision_id, account_id, side): the two sides (0 and 1) of each cannot-link
    cannot_sides: DataFrame
    has_cannot_links: bool = True


def _campaign_accounts(decisions: DataFrame, latest_members: DataFrame) -> DataFrame:
    """(decision_id, account_id) of the campaign a decision names: its scope and the
    campaign's latest members."""
    scope = decisions.select("decision_id", F.explode("scope_accounts").alias("account_id"))
    latest = decisions.select("decision_id", "campaign_id").join(
        latest_members.select("campaign_id", "account_id"), "campaign_id"
    )
    return scope.unionByName(latest.select("decision_id", "account_id")).distinct()


def review_state(
    decisions: DataFrame, latest_members: DataFrame, has_cannot_links: bool = True
) -> ReviewState:
    """The binding part of ``decisions`` (the whole ``analyst_decisions`` table) given the
    campaigns' latest earlier members (campaign_id, account_id). ``has_cannot_links``
    False lets linkage skip the separation pass (the job knows: decisions are few)."""
    live = in_force(decisions)
    dismissed = live.where(F.col("action") == "dismiss")
    dismissed_members = dismissed.select("campaign_id", F.explode("scope_accounts").alias("account_id"))
    ind = dismissed.select("campaign_id", F.explode("scope_indicators").alias("_i"))
    dismissed_indicators = ind.select(
        "campaign_id",
        F.substring_index("_i", _SEP, 1).alias("ind_type"),
        F.expr(f"substring(_i, instr(_i, '{_SEP}') + 1)").alias("ind_value"),
    )
    confirmed = live.where((F.col("action") == "confirm") & F.col("actor").isNotNull()).select(
        "campaign_id", "actor", "decision_id"
    )
    links = live.where(F.col("action").isin(*_LINKS))
    pairs = links.where(F.col("other_account_id").isNotNull())
    first = pairs.select("decision_id", "action", "account_id", F.lit(0).alias("side"))
    second = pairs.select(
        "decision_id", "action", F.col("other_account_id").alias("account_id"), F.lit(1).alias("side")
    )
    to_campaign = links.where(F.col("other_account_id").isNull() & F.col("campaign_id").isNotNull())
    acct_side = to_campaign.select("decision_id", "action", "account_id", F.lit(0).alias("side"))
    camp_side = (
        _campaign_accounts(to_campaign, latest_members)
        .join(to_campaign.select("decision_id", "action"), "decision_id")
        .select("decision_id", "action", "account_id", F.lit(1).alias("side"))
    )
    sides = first.unionByName(second).unionByName(acct_side).unionByName(camp_side)
    must = sides.where(F.col("action") == "must_link").select(
        "account_id", F.concat(F.lit("decision:"), "decision_id").alias("ind_value")
    )
    cannot = sides.where(F.col("action") == "cannot_link").select("decision_id", "account_id", "side")
    # an account on both sides of one cannot-link (it is a member of the campaign it may not
    # join) leaves that side: the constraint is about it
    both = (
        cannot.groupBy("decision_id", "account_id").agg(F.countDistinct("side").alias("_n")).where("_n > 1")
    )
    cannot = cannot.join(both, ["decision_id", "account_id"], "left_anti").unionByName(
        both.select("decision_id", "account_id", F.lit(0).alias("side"))
    )
    return ReviewState(
        dismissed_members=dismissed_members.distinct(),
        dismissed_indicators=dismissed_indicators.distinct(),
        confirmed=confirmed,
        must_links=must.distinct(),
        cannot_sides=cannot.distinct(),
        has_cannot_links=has_cannot_links,
    )


def override_actors(actors: DataFrame, confirmed: DataFrame | None) -> DataFrame:
    """``actors`` (choose_actor's rows) with an analyst's confirmed actor in place of the
    one evidence names (confidence 1) and ``confirmed_by``, the decision (null otherwise)."""
    if confirmed is None:
        return actors.withColumn("confirmed_by", F.lit(None).cast("string"))
    c = confirmed.select(
        "campaign_id", F.col("actor").alias("_actor"), F.col("decision_id").alias("confirmed_by")
    )
    return actors.join(c, "campaign_id", "full").select(
        "campaign_id",
        F.coalesce("_actor", "actor").alias("actor"),
        F.when(F.col("_actor").isNotNull(), F.lit(1.0)).otherwise(F.col("confidence")).alias("confidence"),
        F.coalesce("actor_candidates", F.array().cast(actors.schema["actor_candidates"].dataType)).alias(
            "actor_candidates"
        ),
        "confirmed_by",
    )


def decision_labels(decisions: DataFrame, members: DataFrame) -> DataFrame:
    """``decision_labels``: one row per (account, decision) label.

    Training labels (``candidate`` false) come from the decisions in force: ``label`` gives
    its account the label; ``confirm`` labels every account of the campaign's scope
    ``distillation`` (with the actor and the campaign), ``dismiss`` labels them ``benign``.
    Each is visible to training from its ``decided_at`` on (``models.training.labels_as_of``).
    Candidate labels spread a training label to accounts linked to the decided ones: later
    members of a confirmed or dismissed campaign (``campaign_members`` after the decision)
    and the accounts an analyst must-linked to a labelled one; they carry the deciding
    decision in ``provenance`` and are for review, not for training.
    """
    live = in_force(decisions)
    direct_label = live.where(F.col("action") == "label").select(
        "account_id",
        "label",
        F.lit(None).cast("string").alias("actor"),
        F.lit(None).cast("string").alias("campaign"),
        "decided_at",
        "decision_id",
        F.lit("label").alias("provenance"),
    )
    reviewed = live.where(F.col("action").isin(*_CAMPAIGN_REVIEW))
    label_of = F.when(F.col("action") == "confirm", F.lit(POSITIVE)).otherwise(F.lit("benign"))
    scope = reviewed.select(
        F.explode("scope_accounts").alias("account_id"),
        label_of.alias("label"),
        F.when(F.col("action") == "confirm", F.col("actor")).alias("actor"),
        F.when(F.col("action") == "confirm", F.col("campaign_id")).alias("campaign"),
        "decided_at",
        "decision_id",
        F.concat(F.col("action"), F.lit(":"), "campaign_id").alias("provenance"),
    )
    direct = direct_label.unionByName(scope)
    later = (
        reviewed.drop("account_id")
        .join(members.select("campaign_id", "account_id", "event_date"), "campaign_id")
        .where(F.col("event_date") >= F.to_date("decided_at"))
        .select(
            "account_id",
            label_of.alias("label"),
            F.when(F.col("action") == "confirm", F.col("actor")).alias("actor"),
            F.when(F.col("action") == "confirm", F.col("campaign_id")).alias("campaign"),
            "decided_at",
            "decision_id",
            F.concat(F.lit("member_of:"), "campaign_id").alias("provenance"),
        )
    )
    must = live.where((F.col("action") == "must_link") & F.col("other_account_id").isNotNull())
    partners = must.select(
        F.col("account_id").alias("_src"),
        F.col("other_account_id").alias("_to"),
        F.col("decision_id").alias("_link"),
    ).unionByName(
        must.select(
            F.col("other_account_id").alias("_src"),
            F.col("account_id").alias("_to"),
            F.col("decision_id").alias("_link"),
        )
    )
    linked = (
        direct.select(
            F.col("account_id").alias("_src"), "label", "actor", "campaign", "decided_at", "decision_id"
        )
        .join(partners, "_src")
        .select(
            F.col("_to").alias("account_id"),
            "label",
            "actor",
            "campaign",
            "decided_at",
            "decision_id",
            F.concat(F.lit("must_link:"), "_link").alias("provenance"),
        )
    )
    known = direct.select(F.col("account_id").alias("_known")).distinct()
    spread = later.unionByName(linked)
    candidates = spread.join(known, spread["account_id"] == known["_known"], "left_anti")
    return direct.withColumn("candidate", F.lit(False)).unionByName(
        candidates.dropDuplicates(["account_id", "decision_id"]).withColumn("candidate", F.lit(True))
    )


def training_labels(decision_label_rows: DataFrame) -> DataFrame:
    """The ``labels`` rows (account_id, label, actor, campaign, decided_at) the decisions
    give training: the non-candidate rows of ``decision_labels``."""
    return decision_label_rows.where(~F.col("candidate")).select(
        "account_id", "label", "actor", "campaign", "decided_at"
    )
