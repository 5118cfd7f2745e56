"""The campaigns family: ``campaigns_day`` builds one day of ``campaign_members``,
``campaign_exchanges``, ``campaign_indicators``, ``campaign_attribution_daily`` and
``indicator_popularity_daily`` from the day's silver rows, features and scores; ``campaigns``
builds the rows that update the one-row-per-campaign ``campaigns`` table.

The steps it wires are in :mod:`distillwatch.pipelines.linkage` (the account graph),
:mod:`distillwatch.pipelines.discovery` (signatures, evidence, identity) and
:mod:`distillwatch.pipelines.attribution` (actor, pivot, the daily rows). No raw prompt text
leaves silver_exchanges: only hashes, counts and shares.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillwatch.config import AttributionConf
from distillwatch.pipelines import discovery as cp
from distillwatch.pipelines import linkage as lk
from distillwatch.pipelines.attribution import (
    choose_actor,
    content_profile,
    daily_rows,
    indicator_popularity,
    infrastructure,
    intel_evidence,
    label_evidence,
    member_rows,
    prior_evidence,
    release_pivot,
)
from distillwatch.pipelines.decisions import ReviewState, override_actors
from distillwatch.spark import materialise


@dataclass(frozen=True)
class CampaignTables:
    """One day of the campaigns family, each field named after the table it is published to
    (``campaign_updates`` feeds :func:`campaigns`)."""

    campaign_members: DataFrame
    campaign_exchanges: DataFrame
    campaign_indicators: DataFrame
    campaign_attribution_daily: DataFrame
    indicator_popularity_daily: DataFrame
    campaign_updates: DataFrame
    # one row per cluster of the day (kept or not): cluster_id, n_accounts, signals,
    # reject_reason (null when kept); logged by attribute, not published
    cluster_decisions: DataFrame

    def daily_tables(self) -> dict[str, DataFrame]:
        """The tables replaced by day, by name."""
        return {
            "campaign_members": self.campaign_members,
            "campaign_exchanges": self.campaign_exchanges,
            "campaign_indicators": self.campaign_indicators,
            "campaign_attribution_daily": self.campaign_attribution_daily,
            "indicator_popularity_daily": self.indicator_popularity_daily,
        }


def campaigns(previous: DataFrame, updates: DataFrame) -> DataFrame:
    """The ``campaigns`` rows today's updates change, to upsert on ``campaign_id``.

    ``previous`` is the table as it stands (one row per campaign); ``updates`` are
    :attr:`CampaignTables.campaign_updates`. A campaign seen today widens its first/last
    seen, keeps an actor it had unless today names one, keeps where it split from, and is
    active again; a campaign merged into another keeps its history with status
    ``merged`` and ``merged_into``; a dismissed one keeps it with status ``dismissed``;
    a merge or dismissal of a campaign never stored is dropped.
    """
    t = previous.alias("t")
    s = updates.alias("s")
    # a merge or a dismissal changes only the status (and where it merged into)
    merged = F.col("s.status").isin("merged", "dismissed")
    known = F.col("t.campaign_id").isNotNull()
    joined = s.join(t, F.col("s.campaign_id") == F.col("t.campaign_id"), "left").where(~merged | known)

    def pick(if_merged: str, otherwise: object) -> F.Column:
        return F.when(merged, F.col(if_merged)).otherwise(otherwise)

    return joined.select(
        F.col("s.campaign_id").alias("campaign_id"),
        pick("t.first_seen", F.least("t.first_seen", "s.first_seen")).alias("first_seen"),
        pick("t.last_seen", F.greatest("t.last_seen", "s.last_seen")).alias("last_seen"),
        pick("t.actor", F.coalesce("s.actor", "t.actor")).alias("actor"),
        F.col("s.status").alias("status"),
        pick("s.merged_into", F.lit(None).cast("string")).alias("merged_into"),
        pick("t.split_from", F.coalesce("t.split_from", "s.split_from")).alias("split_from"),
        F.col("s.updated_on").alias("updated_on"),
    )


def campaigns_day(
    exchanges: DataFrame,
    features: DataFrame,
    scores: DataFrame,
    threat_intel: DataFrame,
    prev_members: DataFrame,
    prev_indicators: DataFrame,
    prior_actors: DataFrame,
    first_seen: DataFrame,
    day: str,
    conf: AttributionConf,
    popularity: DataFrame | None = None,
    review: ReviewState | None = None,
    labelled: DataFrame | None = None,
) -> CampaignTables:
    """One day's campaign discovery and attribution, wired from the pure steps: the
    builder of every table of the campaigns family but ``campaigns`` itself.

    Inputs are the day's silver_exchanges, account_daily_features and account_scores,
    the threat_intel dimension, and the earlier state: latest members (campaign_id,
    account_id) and indicators (campaign_id, ind_type, ind_value) within the lookback,
    earlier actors (campaign_id, actor, confidence) and first sightings (campaign_id,
    first_seen), and ``popularity``, the rows of ``indicator_popularity_daily`` of the
    lookback (values weighed by how many strangers use them).

    ``review`` (:func:`distillwatch.pipelines.decisions.review_state`) binds analysts'
    decisions: must-links and cannot-links shape the graph, a dismissed campaign's
    clusters (continued or split off it) are not published and it gets status
    ``dismissed``, a confirmed actor overrides the evidence.

    ``labelled`` (account_id, actor): the accounts labelled distillation before the day
    ended (``labels`` and analysts' decisions); they seed the graph and name their actor
    (:func:`pipelines.attribution.label_evidence`).
    """

    d = F.lit(day).cast("date")
    ind = materialise(lk.account_indicators(exchanges), "indicators feed intel hits, hub pruning and edges")
    baseline = None if popularity is None else lk.popularity_baseline(popularity)
    clusters, edges, hits = lk.link_accounts(
        ind,
        scores,
        threat_intel,
        conf,
        features,
        baseline,
        prev_members.select("account_id").distinct(),
        must_links=None if review is None else review.must_links,
        cannot_sides=None if review is None or not review.has_cannot_links else review.cannot_sides,
        labelled=labelled,
    )
    # The members' exchanges (a scan of the day and a shuffle on account_id) feed the
    # signatures and the traffic split, which read them several times: compute them once.
    mx = materialise(cp.member_exchanges(exchanges, clusters), "member exchanges feed signatures and split")
    sigs = cp.campaign_signatures(mx, conf, cp.content_value_accounts(ind, conf, baseline))
    traffic = materialise(
        cp.split_campaign_traffic(mx, sigs, exchanges, conf),
        "campaign traffic feeds evidence, identity, attribution and three outputs",
    )
    # Evidence is small (one row per cluster) but its plan aggregates traffic eight ways;
    # identity, the actor and the daily rows all read it.
    ev = materialise(
        cp.cluster_evidence(
            traffic, features, hits, edges.join(clusters, "account_id"), conf, scores, labelled
        ),
        "evidence feeds the keep decision, identity and the daily rows",
    )
    kept = ev.where("is_campaign")
    camp = traffic.where("is_campaign").join(kept.select("cluster_id"), "cluster_id")
    today_members = camp.select("cluster_id", "account_id").distinct()
    today_edges = edges.join(today_members, "account_id")
    if review is not None:  # a dismissed campaign is recognised whenever it was last seen
        prev_members = prev_members.unionByName(review.dismissed_members)
        prev_indicators = prev_indicators.unionByName(review.dismissed_indicators)
    ids, merges, overlaps = cp.match_identity(
        today_members, today_edges, prev_members, prev_indicators, day, conf
    )
    if review is not None:
        dismissed = review.dismissed_members.select("campaign_id").distinct()
        ids = ids.join(dismissed, "campaign_id", "left_anti").join(
            dismissed.withColumnRenamed("campaign_id", "split_from"), "split_from", "left_anti"
        )
        merges = merges.join(dismissed, "campaign_id", "left_anti")
    # Identity feeds every output below; without this each of the five writes would
    # recompute the graph, the evidence and the matching from scratch.
    ids = materialise(ids, "campaign ids feed members, exchanges, indicators, daily rows and updates")
    merges = materialise(merges, "merges feed campaign updates")
    camp = materialise(
        camp.join(ids.select("cluster_id", "campaign_id"), "cluster_id"),
        "campaign traffic with ids feeds exchanges, members, pivot, content and intel evidence",
    )
    members = today_members.join(ids.select("cluster_id", "campaign_id"), "cluster_id")
    member_edges = today_edges.join(ids.select("cluster_id", "campaign_id"), "cluster_id")
    intel = intel_evidence(hits, members, camp)
    overlaps_by_id = overlaps.join(ids.select("cluster_id", "campaign_id"), "cluster_id").select(
        "campaign_id", "prev_id", "overlap"
    )
    evidence_rows = intel.unionByName(prior_evidence(overlaps_by_id, prior_actors, conf))
    if labelled is not None:
        evidence_rows = evidence_rows.unionByName(label_evidence(labelled, members, conf))
    actors = choose_actor(evidence_rows, conf)
    confirmed = None
    if review is not None:
        confirmed = review.confirmed.join(ids.select("campaign_id"), "campaign_id", "left_semi")
    actors = override_actors(actors, confirmed)
    evidence = kept.join(ids, "cluster_id")
    # The daily rows are their table, the campaigns update and the job's counts: computed once
    # (without this the update recomputed the evidence join, pivot and profiles: ~40 stages).
    daily = daily_rows(
        evidence,
        actors,
        release_pivot(camp, exchanges, conf),
        infrastructure(member_edges, conf),
        content_profile(camp, conf),
        intel,
        first_seen,
        day,
    )
    daily = materialise(daily, "daily rows feed their table, the campaign updates and the counts")
    indicators = member_edges.groupBy("campaign_id", "ind_type", "ind_value").agg(
        F.countDistinct("account_id").alias("n_accounts")
    )
    updates = daily.join(evidence.select("campaign_id", "split_from"), "campaign_id").select(
        "campaign_id",
        "first_seen",
        d.alias("last_seen"),
        "actor",
        "status",
        F.lit(None).cast("string").alias("merged_into"),
        "split_from",
        d.alias("updated_on"),
    )
    merged = merges.select(
        "campaign_id",
        F.lit(None).cast("date").alias("first_seen"),
        F.lit(None).cast("date").alias("last_seen"),
        F.lit(None).cast("string").alias("actor"),
        F.lit("merged").alias("status"),
        "merged_into",
        F.lit(None).cast("string").alias("split_from"),
        d.alias("updated_on"),
    )
    if review is not None:
        merged = merged.unionByName(
            review.dismissed_members.select("campaign_id")
            .distinct()
            .select(
                "campaign_id",
                F.lit(None).cast("date").alias("first_seen"),
                F.lit(None).cast("date").alias("last_seen"),
                F.lit(None).cast("string").alias("actor"),
                F.lit("dismissed").alias("status"),
                F.lit(None).cast("string").alias("merged_into"),
                F.lit(None).cast("string").alias("split_from"),
                d.alias("updated_on"),
            )
        )
    return CampaignTables(
        campaign_members=member_rows(camp, traffic, scores, clusters, hits, day),
        campaign_exchanges=camp.select(d.alias("event_date"), "campaign_id", "request_id", "account_id"),
        campaign_indicators=indicators.select(
            d.alias("event_date"), "campaign_id", "ind_type", "ind_value", "n_accounts"
        ),
        campaign_attribution_daily=daily,
        indicator_popularity_daily=indicator_popularity(
            ind,
            members,
            lk.seed_accounts(scores, hits, conf)
            if labelled is None
            else lk.seed_accounts(scores, hits, conf).unionByName(labelled.select("account_id")).distinct(),
            day,
        ),
        campaign_updates=updates.unionByName(merged),
        cluster_decisions=ev.select("cluster_id", "n_accounts", "signals", "reject_reason"),
    )
