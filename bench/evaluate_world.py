"""Measure a processed simulated world against its ground truth and write docs/evaluation.md.

    .venv/bin/python -m bench.evaluate_world --world W --lakehouse L --title "Default world" \
        --train-as-of 2026-02-07 [--section-out FILE]
    .venv/bin/python -m bench.evaluate_world --assemble FILE [FILE ...]

One world gives one section: a headline table split before and after training (account and
exchange precision and recall, legitimate account-days pulled into campaigns per legitimate
population, mostly-legitimate campaign-days), one line per planted campaign (found from its
first full day with the right actor, the no-intel campaign left unattributed, the release
pivot), then per-population medians of key features, every campaign-day against truth, and
the training run's metrics from MLflow. Every figure is computed here from the tables;
nothing is typed in by hand. Inputs are aggregates (periods, populations, campaign-days),
so collecting them is bounded.

A section goes into ``docs/evaluation.md`` between ``<!-- world:KEY begin -->`` and
``<!-- world:KEY end -->`` markers (KEY from the title): a section with the same title is
replaced, a new one added after the others, and everything outside the markers (another
engineer's "Labels on real text", for one) is left as it is. ``--section-out`` writes the
section to a file instead; ``--assemble`` puts such files into the document.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.config import load_config
from distillwatch.context import JobContext

BEFORE, AFTER, ALL_DAYS = "before training", "after training", "all days"
MOSTLY_LEGITIMATE = 0.5  # a campaign-day whose member purity is below this is mostly legitimate
# A campaign pivots to a release when at least this share of its traffic in the 24 h after the
# release used the new model (legitimate users adopt it over weeks: a few percent in a day).
PIVOT_SHARE = 0.25

KEY_FEATURES = (
    "n_exchanges",
    "hour_coverage",
    "top_template_share",
    "near_dup_share",
    "top_capability_share",
    "cot_share",
    "rubric_share",
    "sensitive_share",
    "tools_share",
    "sync_score",
    "n_accounts_same_payment",
    "n_accounts_same_prefix",
    "hosting_ip_share",
    "proxy_ip_share",
    "new_model_share",
    "intel_max_confidence",
)


def _md(header: list[str], rows: list[list[object]]) -> str:
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        return "" if v is None else str(v)

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def population_medians(features: DataFrame, truth_accounts: DataFrame) -> str:
    cols = [c for c in KEY_FEATURES if c in features.columns]
    joined = features.join(truth_accounts.select("account_id", "population"), "account_id")
    agg = joined.groupBy("population").agg(
        F.count("*").alias("account_days"),
        *[F.percentile_approx(F.col(c).cast("double"), 0.5).alias(c) for c in cols],
    )
    rows = sorted(agg.collect(), key=lambda r: (not r["population"].startswith("campaign"), r["population"]))
    return _md(
        ["population", "account-days", *cols],
        [[r["population"], r["account_days"], *[r[c] for c in cols]] for r in rows],
    )


def detection(c: JobContext, truth: Path) -> str:
    spark = c.spark
    accounts = spark.read.parquet(str(truth / "accounts")).select(
        "account_id", "population", "campaign", "actor"
    )
    tx = spark.read.parquet(str(truth / "exchanges")).select("request_id", "campaign", "is_campaign_traffic")
    members = c.lake.read(tables.CAMPAIGN_MEMBERS).join(accounts, "account_id", "left")
    comp = members.groupBy("event_date", "campaign_id").agg(
        F.count("*").alias("members"),
        F.mode("campaign").alias("planted"),
        F.avg(F.col("campaign").isNotNull().cast("double")).alias("purity"),
    )
    active = (
        c.lake.read(tables.SILVER_EXCHANGES)
        .select("event_date", "account_id")
        .distinct()
        .join(accounts.where("campaign IS NOT NULL"), "account_id")
        .groupBy("event_date", "campaign")
        .agg(F.count("*").alias("active_accounts"))
    )
    ex = (
        c.lake.read(tables.CAMPAIGN_EXCHANGES)
        .join(tx.withColumnRenamed("campaign", "tx_campaign"), "request_id", "left")
        .groupBy("event_date", "campaign_id")
        .agg(
            F.count("*").alias("exchanges"),
            F.avg(F.col("is_campaign_traffic").cast("double")).alias("exchange_precision"),
        )
    )
    daily = c.lake.read(tables.CAMPAIGN_ATTRIBUTION_DAILY).select(
        "event_date", "campaign_id", "actor", "confidence", "release_pivot"
    )
    rows = (
        comp.join(ex, ["event_date", "campaign_id"], "left")
        .join(daily, ["event_date", "campaign_id"], "left")
        .join(active.withColumnRenamed("campaign", "planted"), ["event_date", "planted"], "left")
        .orderBy("event_date", "planted")
        .collect()
    )
    truth_actor = {
        r["campaign"]: r["actor"]
        for r in accounts.where("campaign IS NOT NULL").select("campaign", "actor").distinct().collect()
    }
    body = [
        [
            r["event_date"],
            r["campaign_id"],
            r["planted"],
            truth_actor.get(r["planted"]),
            r["actor"],
            r["confidence"],
            r["members"],
            r["active_accounts"],
            r["purity"],
            r["exchanges"],
            r["exchange_precision"],
            r["release_pivot"],
        ]
        for r in rows
    ]
    return (
        summary(c, rows, truth_actor, truth)
        + "\n\n#### Every campaign-day\n\n"
        + _md(
            [
                "day",
                "campaign_id",
                "planted (majority)",
                "true actor",
                "attributed actor",
                "confidence",
                "members",
                "planted accounts active",
                "member purity",
                "exchanges",
                "exchange precision",
                "release pivot",
            ],
            body,
        )
    )


def summary(c: JobContext, rows: list[Any], truth_actor: dict[str, Any], truth: Path) -> str:
    """One line per planted campaign: days active, days found, actors named, exchange
    precision over all its days, and the first day the release pivot was flagged.

    A planted campaign counts as active on a day when at least ``attribution.min_accounts``
    of its accounts sent traffic; it is found on a day when a detected campaign-day has it as
    the majority of its members. ``rows`` are the (small) campaign-day rows of ``detection``.
    """
    min_accounts = c.cfg.attribution.min_accounts
    active = (
        c.lake.read(tables.SILVER_EXCHANGES)
        .select("event_date", "account_id")
        .distinct()
        .join(
            c.spark.read.parquet(str(truth / "accounts")).where("campaign IS NOT NULL"),
            "account_id",
        )
        .groupBy("campaign", "event_date")
        .agg(F.count("*").alias("n"))
        .where(F.col("n") >= min_accounts)
        .collect()
    )
    days_active: dict[str, set[dt.date]] = {}
    for r in active:
        days_active.setdefault(r["campaign"], set()).add(r["event_date"])
    releases = [
        r["released_at"].date()
        for r in c.lake.read(tables.MODEL_RELEASES).select("released_at").collect()
        if r["released_at"] is not None
    ]
    first_day = min(r["event_date"] for r in rows) if rows else None
    body = []
    for camp in sorted(days_active):
        mine = [r for r in rows if r["planted"] == camp]
        found = {r["event_date"] for r in mine}
        active_days = {d for d in days_active[camp] if first_day is None or d >= first_day}
        missed = sorted(active_days - found)
        ex = sum(r["exchanges"] or 0 for r in mine)
        good = sum((r["exchanges"] or 0) * (r["exchange_precision"] or 0.0) for r in mine)
        actors = sorted({str(r["actor"]) for r in mine})
        pivots = sorted(r["event_date"] for r in mine if r["release_pivot"])
        rel = [d for d in releases if first_day is None or d >= first_day]
        body.append(
            [
                camp,
                truth_actor.get(camp) or "(none)",
                ", ".join(actors) or "-",
                len(active_days),
                len(found & active_days),
                ", ".join(str(d) for d in missed) or "none",
                round(good / ex, 4) if ex else None,
                str(pivots[0]) if pivots else "-",
                ", ".join(str(d) for d in rel) or "-",
            ]
        )
    return _md(
        [
            "planted campaign",
            "true actor",
            "attributed actor(s)",
            "days active",
            "days found",
            "days missed",
            "exchange precision (all days)",
            "first release pivot flagged",
            "model releases in window",
        ],
        body,
    )


# --- headline: precision and recall of the whole run, before and after training --------------


def periods(as_of: dt.date | None) -> tuple[str, ...]:
    return (BEFORE, AFTER, ALL_DAYS) if as_of else (ALL_DAYS,)


def with_period(df: DataFrame, as_of: dt.date | None) -> DataFrame:
    """Each row of ``df`` (with an ``event_date``) under its period, and once more under "all days".

    Days up to ``as_of`` (the day the model was trained as of) are "before training": they
    were scored by the fallback scorer or an earlier champion; later days are "after".
    """
    every = df.withColumn("period", F.lit(ALL_DAYS))
    if as_of is None:
        return every
    split = df.withColumn(
        "period", F.when(F.col("event_date") <= F.lit(as_of), F.lit(BEFORE)).otherwise(F.lit(AFTER))
    )
    return split.unionByName(every)


def _ratio(num: str, den: str) -> F.Column:
    # null, not an error (ANSI division), when there is nothing to divide
    return F.when(F.col(den) > 0, F.col(num) / F.col(den))


def _flag(df: DataFrame, keys: list[str], name: str) -> DataFrame:
    """``df``'s distinct ``keys`` with a true column ``name``, to left-join as a membership test."""
    return df.select(*keys).distinct().withColumn(name, F.lit(True))


def active_campaign_account_days(
    activity: DataFrame, truth_accounts: DataFrame, min_accounts: int
) -> DataFrame:
    """One row per planted-campaign account on a day it sent traffic (``activity``: distinct
    event_date, account_id of ``silver_exchanges``), kept only on days its campaign is active:
    at least ``min_accounts`` of its accounts sent traffic (the notion ``summary`` uses).
    Columns: event_date, account_id, campaign."""
    camp = truth_accounts.where(F.col("campaign").isNotNull()).select("account_id", "campaign")
    n = F.count("*").over(Window.partitionBy("campaign", "event_date"))
    return (
        activity.select("event_date", "account_id")
        .join(camp, "account_id")
        .withColumn("_n", n)
        .where(F.col("_n") >= min_accounts)
        .select("event_date", "account_id", "campaign")
    )


def account_metrics(
    members: DataFrame,
    activity: DataFrame,
    truth_accounts: DataFrame,
    min_accounts: int,
    as_of: dt.date | None,
) -> DataFrame:
    """One row per period: account precision and recall.

    Precision is over member account-days (an account in any detected campaign on a day,
    counted once): the share that are truly campaign accounts. Recall is over active
    campaign account-days (:func:`active_campaign_account_days`): the share that are members
    of a detected campaign that day.
    """
    md = members.select("event_date", "account_id").distinct()
    prec = (
        with_period(md.join(truth_accounts.select("account_id", "campaign"), "account_id", "left"), as_of)
        .groupBy("period")
        .agg(
            F.count("*").alias("member_account_days"),
            F.sum(F.col("campaign").isNotNull().cast("long")).alias("true_member_account_days"),
        )
    )
    act = active_campaign_account_days(activity, truth_accounts, min_accounts).select(
        "event_date", "account_id"
    )
    rec = (
        with_period(
            act.join(_flag(md, ["event_date", "account_id"], "_m"), ["event_date", "account_id"], "left"),
            as_of,
        )
        .groupBy("period")
        .agg(
            F.count("*").alias("campaign_account_days"),
            F.sum(F.col("_m").isNotNull().cast("long")).alias("found_campaign_account_days"),
        )
    )
    counts = [
        "member_account_days",
        "true_member_account_days",
        "campaign_account_days",
        "found_campaign_account_days",
    ]
    return (
        _period_frame(members, as_of)
        .join(prec, "period", "left")
        .join(rec, "period", "left")
        .fillna(0, subset=counts)
        .withColumn("account_precision", _ratio("true_member_account_days", "member_account_days"))
        .withColumn("account_recall", _ratio("found_campaign_account_days", "campaign_account_days"))
    )


def exchange_metrics(
    campaign_exchanges: DataFrame,
    processed: DataFrame,
    truth_exchanges: DataFrame,
    as_of: dt.date | None,
) -> DataFrame:
    """One row per period: exchange precision and recall.

    Precision is over ``campaign_exchanges`` (distinct request per day): the share that is
    campaign traffic in truth (``is_campaign_traffic``; a campaign account's resold or other
    traffic is not). Recall is over the campaign traffic that reached silver (``processed``:
    event_date, request_id): the share attributed to some campaign.
    """
    tx = truth_exchanges.select("request_id", "is_campaign_traffic").dropDuplicates(["request_id"])
    ce = campaign_exchanges.select("event_date", "request_id").distinct()
    prec = (
        with_period(ce.join(tx, "request_id", "left"), as_of)
        .groupBy("period")
        .agg(
            F.count("*").alias("attributed_exchanges"),
            F.sum(F.coalesce(F.col("is_campaign_traffic"), F.lit(False)).cast("long")).alias(
                "true_attributed_exchanges"
            ),
        )
    )
    camp = (
        processed.select("event_date", "request_id")
        .distinct()
        .join(tx.where("is_campaign_traffic"), "request_id")
    )
    rec = (
        with_period(camp.join(_flag(ce, ["request_id"], "_f"), "request_id", "left"), as_of)
        .groupBy("period")
        .agg(
            F.count("*").alias("campaign_exchanges_processed"),
            F.sum(F.col("_f").isNotNull().cast("long")).alias("found_campaign_exchanges"),
        )
    )
    counts = [
        "attributed_exchanges",
        "true_attributed_exchanges",
        "campaign_exchanges_processed",
        "found_campaign_exchanges",
    ]
    return (
        _period_frame(campaign_exchanges, as_of)
        .join(prec, "period", "left")
        .join(rec, "period", "left")
        .fillna(0, subset=counts)
        .withColumn("exchange_precision", _ratio("true_attributed_exchanges", "attributed_exchanges"))
        .withColumn("exchange_recall", _ratio("found_campaign_exchanges", "campaign_exchanges_processed"))
    )


def legit_pulled_in(
    members: DataFrame, activity: DataFrame, truth_accounts: DataFrame, as_of: dt.date | None
) -> DataFrame:
    """One row per (period, legitimate population): its active account-days and accounts,
    and how many of those account-days and accounts were members of a detected campaign."""
    legit = truth_accounts.where(F.col("campaign").isNull()).select("account_id", "population")
    days = (
        activity.select("event_date", "account_id")
        .join(legit, "account_id")
        .join(_flag(members, ["event_date", "account_id"], "_m"), ["event_date", "account_id"], "left")
    )
    pulled = F.col("_m").isNotNull()
    return (
        with_period(days, as_of)
        .groupBy("period", "population")
        .agg(
            F.count("*").alias("active_account_days"),
            F.countDistinct("account_id").alias("active_accounts"),
            F.sum(pulled.cast("long")).alias("pulled_account_days"),
            F.countDistinct(F.when(pulled, F.col("account_id"))).alias("pulled_accounts"),
        )
    )


def campaign_days(members: DataFrame, truth_accounts: DataFrame, attribution: DataFrame) -> DataFrame:
    """One row per detected campaign-day against truth.

    ``planted`` is the planted campaign most of its truly-campaign members belong to (null
    when none is), ``purity`` the share of its members that are campaign accounts,
    ``top_legit_population`` the most common population among its legitimate members, and
    ``actor``, ``release_pivot`` what the attribution table says of that campaign-day.
    """
    labelled = members.select("event_date", "campaign_id", "account_id").join(
        truth_accounts.select("account_id", "population", "campaign"), "account_id", "left"
    )
    per_day = labelled.groupBy("event_date", "campaign_id").agg(
        F.count("*").alias("members"),
        F.sum(F.col("campaign").isNotNull().cast("long")).alias("campaign_members"),
        F.mode("campaign", deterministic=True).alias("planted"),
        F.mode(F.when(F.col("campaign").isNull(), F.col("population")), deterministic=True).alias(
            "top_legit_population"
        ),
    )
    daily = attribution.select("event_date", "campaign_id", "actor", "release_pivot")
    return (
        per_day.join(daily, ["event_date", "campaign_id"], "left")
        .withColumn("purity", F.col("campaign_members") / F.col("members"))
        .withColumn("release_pivot", F.coalesce(F.col("release_pivot"), F.lit(False)))
    )


def campaign_day_counts(cdays: DataFrame, as_of: dt.date | None) -> DataFrame:
    """One row per period: detected campaign-days and those mostly legitimate (purity < 0.5)."""
    return (
        with_period(cdays, as_of)
        .groupBy("period")
        .agg(
            F.count("*").alias("campaign_days"),
            F.sum((F.col("purity") < MOSTLY_LEGITIMATE).cast("long")).alias(
                "mostly_legitimate_campaign_days"
            ),
        )
    )


def _period_frame(like: DataFrame, as_of: dt.date | None) -> DataFrame:
    return like.sparkSession.createDataFrame([(p,) for p in periods(as_of)], "period string")


def release_shares(
    exchanges: DataFrame, truth_exchanges: DataFrame, model: str, released_at: dt.datetime
) -> DataFrame:
    """One row per planted campaign, and one with a null campaign for all other traffic: of the
    exchanges sent in the 24 hours after ``released_at`` (``exchanges``: request_id, ts of
    silver), how many there were and the share that used ``model``."""
    end = released_at + dt.timedelta(hours=24)
    tx = truth_exchanges.select(
        "request_id", F.when(F.col("is_campaign_traffic"), F.col("campaign")).alias("campaign")
    ).dropDuplicates(["request_id"])
    # Literals parsed in the session time zone (UTC), as the release time was formatted.
    start_ts, end_ts = (F.to_timestamp(F.lit(t.strftime("%Y-%m-%d %H:%M:%S"))) for t in (released_at, end))
    window = exchanges.where((F.col("ts") >= start_ts) & (F.col("ts") < end_ts))
    return (
        window.select("request_id", "model")
        .join(tx, "request_id", "left")
        .groupBy("campaign")
        .agg(
            F.count("*").alias("exchanges"),
            F.avg((F.col("model") == model).cast("double")).alias("new_model_share"),
        )
    )


# --- per planted campaign and per release: small Python over collected campaign-days --------


@dataclass(frozen=True)
class PlantedOutcome:
    """What the run found of one planted campaign over the evaluated days."""

    campaign: str
    true_actor: str | None
    expected_actor: str | None  # None for a campaign without intel: it must stay unattributed
    days_active: int
    days_found: int
    days_right_before: int
    days_right_after: int
    first_found: dt.date | None
    first_full_day: dt.date | None
    active_from_full_day: int
    right_from_full_day: int
    actors_named: tuple[str, ...]

    @property
    def left_unattributed(self) -> bool | None:
        """For a campaign without intel: found at least once and never given an actor."""
        if self.expected_actor is not None:
            return None
        return self.days_found > 0 and not self.actors_named


def planted_outcomes(
    cdays: list[dict[str, Any]],
    active_days: dict[str, set[dt.date]],
    true_actor: dict[str, str | None],
    expected_actor: dict[str, str | None],
    first_traffic: dict[str, dt.date],
    world_start: dt.date,
    as_of: dt.date | None,
) -> list[PlantedOutcome]:
    """One outcome per planted campaign active in the evaluated days.

    ``cdays`` are rows of :func:`campaign_days`. A campaign is found on a day when a
    detected campaign-day has it as ``planted``, with the right actor when one of those
    campaign-days names ``expected_actor`` (null for the campaign with no intel). Its first
    full day is its first day of traffic when that is the world's first day (it ran before
    the window opened), else the day after (it started during that day).
    """
    out = []
    for camp in sorted(active_days):
        mine = [r for r in cdays if r["planted"] == camp]
        found = {r["event_date"] for r in mine}
        want = expected_actor.get(camp)
        right = {r["event_date"] for r in mine if r["actor"] == want}
        active = active_days[camp]
        first = first_traffic.get(camp)
        full = None if first is None else (first if first <= world_start else first + dt.timedelta(days=1))
        from_full = {d for d in active if full is not None and d >= full}
        out.append(
            PlantedOutcome(
                campaign=camp,
                true_actor=true_actor.get(camp),
                expected_actor=want,
                days_active=len(active),
                days_found=len(found & active),
                days_right_before=len({d for d in right & active if as_of is None or d <= as_of}),
                days_right_after=len({d for d in right & active if as_of is not None and d > as_of}),
                first_found=min(found) if found else None,
                first_full_day=full,
                active_from_full_day=len(from_full),
                right_from_full_day=len(from_full & right),
                actors_named=tuple(sorted({r["actor"] for r in mine if r["actor"] is not None})),
            )
        )
    return out


@dataclass(frozen=True)
class PivotOutcome:
    """One model release in the evaluated days: who truly pivoted to it and what was flagged."""

    model: str
    released_at: dt.datetime
    pivoting: tuple[str, ...]
    first_flagged: dict[str, dt.date]  # truly pivoting campaign -> first day flagged
    within_24h: bool | None  # None: not flagged, and the evaluated days end before 24 h passed
    false_flags: tuple[tuple[dt.date, str], ...]  # (day, campaign_id) flagged but not a pivoter


def pivot_outcomes(
    cdays: list[dict[str, Any]],
    releases: list[tuple[str, dt.datetime]],
    pivoting: dict[str, set[str]],
    last_day: dt.date,
) -> list[PivotOutcome]:
    """Per release, whether every campaign that moved its traffic to the new model
    (``pivoting``: model -> planted campaigns, from truth) was flagged ``release_pivot`` on
    a campaign-day dated within 24 hours of the release (the release day or the next);
    undecided when it was not and ``last_day``, the last evaluated day, is before the next."""
    out = []
    flagged = [r for r in cdays if r["release_pivot"]]
    for model, at in sorted(releases, key=lambda m: m[1]):
        deadline = (at + dt.timedelta(hours=24)).date()
        camps = pivoting.get(model, set())
        first = {
            c: min(r["event_date"] for r in flagged if r["planted"] == c)
            for c in camps
            if any(r["planted"] == c for r in flagged)
        }
        on_time = bool(camps) and all(
            any(r["planted"] == c and at.date() <= r["event_date"] <= deadline for r in flagged)
            for c in camps
        )
        false = tuple(
            sorted((r["event_date"], r["campaign_id"]) for r in flagged if r["planted"] not in camps)
        )
        decided: bool | None = on_time if on_time or last_day >= deadline else None
        out.append(PivotOutcome(model, at, tuple(sorted(camps)), first, decided, false))
    return out


# --- the section --------------------------------------------------------------------------


def _fmt_ratio(v: float | None, num: int, den: int) -> str:
    return "-" if v is None else f"{float(v):.3f} ({num:,}/{den:,})"


# (row label, which aggregate, ratio column, numerator column, denominator column)
_RATIO_ROWS = (
    ("account precision (member account-days truly campaign)", "acc", "account_precision",
     "true_member_account_days", "member_account_days"),
    ("account recall (active campaign account-days in a campaign)", "acc", "account_recall",
     "found_campaign_account_days", "campaign_account_days"),
    ("exchange precision (campaign_exchanges truly campaign traffic)", "exc", "exchange_precision",
     "true_attributed_exchanges", "attributed_exchanges"),
    ("exchange recall (campaign traffic in campaign_exchanges)", "exc", "exchange_recall",
     "found_campaign_exchanges", "campaign_exchanges_processed"),
)  # fmt: skip


def headline_table(
    acc: list[Any], exc: list[Any], counts: list[Any], legit: list[dict[str, Any]], cols: tuple[str, ...]
) -> str:
    """The headline figures as a markdown table, one column per period of ``cols``; ratios with their counts."""
    by = {
        name: {r["period"]: r for r in rows} for name, rows in (("acc", acc), ("exc", exc), ("cnt", counts))
    }
    rows: list[list[object]] = []
    for label, kind, ratio, num, den in _RATIO_ROWS:
        cells = [by[kind].get(p) for p in cols]
        rows.append([label, *("-" if r is None else _fmt_ratio(r[ratio], r[num], r[den]) for r in cells)])
    rows.append(
        [
            "legitimate account-days in campaigns",
            *(f"{sum(r['pulled_account_days'] for r in legit if r['period'] == p):,}" for p in cols),
        ]
    )
    for label, col in (
        ("campaign-days detected", "campaign_days"),
        ("campaign-days mostly legitimate (purity < 0.5)", "mostly_legitimate_campaign_days"),
    ):
        rows.append([label, *(f"{by['cnt'][p][col]:,}" if p in by["cnt"] else "0" for p in cols)])
    return _md(["", *cols], rows)


def legit_table(legit: list[dict[str, Any]], cols: tuple[str, ...]) -> str:
    by = {(r["population"], r["period"]): r for r in legit}
    pops = sorted({r["population"] for r in legit})

    def cell(pop: str, p: str) -> str:
        r = by.get((pop, p))
        if r is None:
            return "-"
        return f"{r['pulled_account_days']:,} of {r['active_account_days']:,} ({r['pulled_accounts']:,} of {r['active_accounts']:,} accounts)"

    return _md(["legitimate population", *cols], [[pop, *[cell(pop, p) for p in cols]] for pop in pops])


def impure_list(cdays: list[dict[str, Any]], as_of: dt.date | None) -> str:
    bad = sorted(
        (r for r in cdays if r["purity"] < MOSTLY_LEGITIMATE),
        key=lambda r: (r["event_date"], r["campaign_id"]),
    )
    if not bad:
        return "None: every detected campaign-day has a majority of campaign accounts."
    return _md(
        [
            "day",
            "period",
            "campaign_id",
            "members",
            "purity",
            "planted (majority of campaign members)",
            "top legitimate population",
            "actor",
        ],
        [
            [
                r["event_date"],
                BEFORE if as_of and r["event_date"] <= as_of else (AFTER if as_of else ALL_DAYS),
                r["campaign_id"],
                r["members"],
                round(r["purity"], 3),
                r["planted"] or "(none)",
                r["top_legit_population"],
                r["actor"],
            ]
            for r in bad
        ],
    )


def planted_table(outcomes: list[PlantedOutcome], as_of: dt.date | None) -> str:
    def yn(v: bool | None) -> str:
        return "-" if v is None else ("yes" if v else "NO")

    return _md(
        [
            "planted campaign",
            "true actor",
            "expected actor",
            "days active",
            "days found",
            "found, right actor: before training",
            "after training",
            "first day found",
            "first full day",
            "right actor from first full day",
            "actors named",
            "no intel: left unattributed",
        ],
        [
            [
                o.campaign,
                o.true_actor,
                o.expected_actor or "(none: no intel)",
                o.days_active,
                o.days_found,
                o.days_right_before if as_of else "-",
                o.days_right_after if as_of else o.days_right_before,
                o.first_found,
                o.first_full_day,
                f"{o.right_from_full_day} of {o.active_from_full_day}",
                ", ".join(o.actors_named) or "(none)",
                yn(o.left_unattributed),
            ]
            for o in outcomes
        ],
    )


def pivot_lines(pivots: list[PivotOutcome], shares: dict[str, list[Any]]) -> str:
    if not pivots:
        return "No model release falls in the evaluated days."
    lines = []
    for p in pivots:
        seen = ", ".join(
            f"{r['campaign'] or 'all other traffic'} {r['new_model_share']:.2f} of {r['exchanges']:,}"
            for r in sorted(
                shares.get(p.model, []), key=lambda r: (r["campaign"] is None, r["campaign"] or "")
            )
        )
        verdict = {True: "yes", False: "NO", None: "undecided (the evaluated days end before 24 h passed)"}[
            p.within_24h
        ]
        flagged = ", ".join(f"{c} on {d}" for c, d in sorted(p.first_flagged.items())) or "none of them"
        false = ", ".join(f"{c} on {d}" for d, c in p.false_flags) or "none"
        lines.append(
            f"- `{p.model}` released {p.released_at:%Y-%m-%d %H:%M} UTC. Share of traffic on it in the "
            f"24 h after (in the evaluated days): {seen or 'no traffic'}. Pivoting in truth (share >= {PIVOT_SHARE}): "
            f"{', '.join(p.pivoting) or '(none)'}; first flagged: {flagged}; "
            f"**flagged within 24 h: {verdict}**; flagged campaign-days of other campaigns: {false}."
        )
    return "\n".join(lines)


def _expected_actors(world_json: dict[str, Any], truth_actor: dict[str, str | None]) -> dict[str, str | None]:
    """The actor the run can name: the true one when partner intel lists the actor, else none
    (actors come only from threat intel). Without that detail in world.json: the true one."""
    out = dict(truth_actor)
    for actor, meta in (world_json.get("actors") or {}).items():
        if isinstance(meta, dict) and meta.get("campaign") in out and meta.get("threat_intel") is False:
            out[meta["campaign"]] = None
        elif isinstance(meta, dict) and meta.get("campaign") in out:
            out[meta["campaign"]] = actor
    return out


@dataclass(frozen=True)
class Planted:
    """What became of each planted campaign and release in a processed world."""

    active: dict[str, set[dt.date]]  # campaign -> the days it was active (at min_accounts)
    outcomes: list[PlantedOutcome]
    pivots: list[PivotOutcome]
    shares: dict[str, list[Any]]  # release model -> release_shares rows
    lo: dt.date  # first and last evaluated day
    hi: dt.date


def planted(
    c: JobContext,
    truth: Path,
    accounts: DataFrame,
    tx: DataFrame,
    activity: DataFrame,
    cdays: list[dict[str, Any]],
    as_of: dt.date | None,
) -> Planted:
    """The planted campaigns' outcomes and the release pivots of a processed world (the
    ``campaign_days`` rows ``cdays``, the world's truth ``accounts`` and exchanges ``tx``)."""
    min_accounts = c.cfg.attribution.min_accounts
    active: dict[str, set[dt.date]] = {}
    for r in (
        active_campaign_account_days(activity, accounts, min_accounts)
        .select("campaign", "event_date")
        .distinct()
        .collect()
    ):
        active.setdefault(r["campaign"], set()).add(r["event_date"])
    truth_actor = {
        r["campaign"]: r["actor"]
        for r in accounts.where("campaign IS NOT NULL").select("campaign", "actor").distinct().collect()
    }
    world_json = json.loads((truth / "world.json").read_text()) if (truth / "world.json").is_file() else {}
    first_traffic = {
        r["campaign"]: r["first"]
        for r in tx.where("is_campaign_traffic")
        .groupBy("campaign")
        .agg(F.min("event_date").alias("first"))
        .collect()
    }
    world_start = (
        dt.date.fromisoformat(world_json["start"]) if "start" in world_json else min(first_traffic.values())
    )
    outcomes = planted_outcomes(
        cdays,
        active,
        truth_actor,
        _expected_actors(world_json, truth_actor),
        first_traffic,
        world_start,
        as_of,
    )

    days = [r["event_date"] for r in activity.select("event_date").distinct().collect()]
    lo, hi = min(days), max(days)
    # Formatted by Spark in its session time zone (UTC), not converted to the local zone on collect.
    stamps = c.lake.read(tables.MODEL_RELEASES).select(
        "model", F.date_format("released_at", "yyyy-MM-dd HH:mm:ss").alias("at")
    )
    releases = [
        (r["model"], at)
        for r in stamps.where(F.col("at").isNotNull()).collect()
        if lo <= (at := dt.datetime.fromisoformat(r["at"])).date() <= hi
    ]
    sent = c.lake.read(tables.SILVER_EXCHANGES).select("request_id", "ts", "model")
    shares = {m: [r.asDict() for r in release_shares(sent, tx, m, at).collect()] for m, at in releases}
    pivoting = {
        m: {r["campaign"] for r in rows if r["campaign"] is not None and r["new_model_share"] >= PIVOT_SHARE}
        for m, rows in shares.items()
    }
    pivots = pivot_outcomes(cdays, releases, pivoting, hi)
    return Planted(active, outcomes, pivots, shares, lo, hi)


def headline(c: JobContext, truth: Path, as_of: dt.date | None) -> str:
    """The section's headline: whole-run precision and recall, legitimate populations,
    mostly-legitimate campaign-days, the planted campaigns and the release pivots."""
    spark = c.spark
    accounts = spark.read.parquet(str(truth / "accounts")).select(
        "account_id", "population", "campaign", "actor"
    )
    tx = spark.read.parquet(str(truth / "exchanges"))
    silver = c.lake.read(tables.SILVER_EXCHANGES).select("event_date", "request_id", "account_id")
    activity = silver.select("event_date", "account_id").distinct()
    members = c.lake.read(tables.CAMPAIGN_MEMBERS)
    min_accounts = c.cfg.attribution.min_accounts

    acc = account_metrics(members, activity, accounts, min_accounts, as_of).collect()
    exc = exchange_metrics(c.lake.read(tables.CAMPAIGN_EXCHANGES), silver, tx, as_of).collect()
    legit = [r.asDict() for r in legit_pulled_in(members, activity, accounts, as_of).collect()]
    cd = campaign_days(members, accounts, c.lake.read(tables.CAMPAIGN_ATTRIBUTION_DAILY))
    counts = campaign_day_counts(cd, as_of).collect()
    cdays = [r.asDict() for r in cd.collect()]

    p = planted(c, truth, accounts, tx, activity, cdays, as_of)
    outcomes, pivots, shares, lo, hi = p.outcomes, p.pivots, p.shares, p.lo, p.hi

    # Periods with no evaluated day get no column (a run still under way has no "after").
    cols = periods(as_of) if as_of is None or hi > as_of else (BEFORE, ALL_DAYS)
    if as_of is None:
        split = f"Days {lo}..{hi}; no training day given, so no split."
    else:
        split = (
            f"Before training: days {lo}..{min(as_of, hi)} (scored before the model trained as of {as_of} existed); "
            + (
                f"after training: days {as_of + dt.timedelta(days=1)}..{hi}."
                if hi > as_of
                else "after training: no day evaluated yet."
            )
        )
    return "\n".join(
        [
            split,
            "",
            headline_table(acc, exc, counts, legit, cols),
            "",
            "Legitimate account-days pulled into campaigns, per legitimate population (of its active account-days):",
            "",
            legit_table(legit, cols),
            "",
            "Campaign-days whose members are mostly legitimate (purity < 0.5):",
            "",
            impure_list(cdays, as_of),
            "",
            "Per planted campaign (found: a detected campaign-day has it as the majority of its campaign members; "
            "right actor: the true actor where partner intel names it, none for a campaign without intel; "
            "first full day: its first day of traffic if it ran before the window, else the day after):",
            "",
            planted_table(outcomes, as_of),
            "",
            "Release pivot:",
            "",
            pivot_lines(pivots, shares),
        ]
    )


def training_metrics(c: JobContext) -> str:
    """The latest training run of the lakehouse's MLflow store: its decision and metrics,
    and which registered version is champion now."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = c.mlflow_tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # explicit: no process-global URI
    exp = client.get_experiment_by_name(c.cfg.models.experiment)
    runs = (
        client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
        if exp
        else []
    )
    if not runs:
        return "_no training run found_"
    run = runs[0]
    try:
        champ = client.get_model_version_by_alias(c.cfg.models.registered_model, "champion")
        champion = f"v{champ.version}"
    except MlflowException:
        champion = "none (the fallback scorer scores)"
    tags = run.data.tags
    head = (
        f"run `{run.info.run_id}` as of {run.data.params.get('as_of', '?')}: "
        f"{tags.get('decision', '?')} ({tags.get('decision_reason', '')}); champion now: {champion}"
    )
    metrics = sorted(run.data.metrics.items())
    return head + "\n\n" + _md(["metric", "value"], [[k, float(v)] for k, v in metrics])


def latest_train_as_of(c: JobContext) -> dt.date | None:
    """The ``as_of`` of the latest training run in the lakehouse's MLflow store, if any."""
    from mlflow.tracking import MlflowClient

    uri = c.mlflow_tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name(c.cfg.models.experiment)
    runs = (
        client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
        if exp
        else []
    )
    value = runs[0].data.params.get("as_of") if runs else None
    return dt.date.fromisoformat(value) if value else None


# --- the document: world sections between markers, everything else left alone ------------

_BLOCK = re.compile(r"<!-- world:(?P<key>[\w-]+) begin -->\n.*?<!-- world:(?P=key) end -->\n?", re.S)


def section_key(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "world"


def wrap_section(title: str, body: str) -> str:
    key = section_key(title)
    return f"<!-- world:{key} begin -->\n## {title}\n\n{body.rstrip()}\n<!-- world:{key} end -->\n"


def place_sections(doc: str, sections: list[str]) -> str:
    """``doc`` with each wrapped section in place of the block of the same key, or after the
    last world block (after the document when it has none); the rest is untouched."""
    for sec in sections:
        m = _BLOCK.match(sec)
        if m is None:
            raise ValueError("not a world section (no begin/end markers)")
        mine = _BLOCK.search(doc)
        same = next((b for b in _BLOCK.finditer(doc) if b["key"] == m["key"]), None)
        if same is not None:
            doc = doc[: same.start()] + sec + doc[same.end() :]
        elif mine is not None:
            last = list(_BLOCK.finditer(doc))[-1]
            doc = doc[: last.end()] + "\n" + sec + doc[last.end() :]
        else:
            doc = doc.rstrip("\n") + "\n\n" + sec
    return doc


def world_section(c: JobContext, world: Path, lakehouse: str, title: str, as_of: dt.date | None) -> str:
    truth = world / "truth"
    accounts = c.spark.read.parquet(str(truth / "accounts"))
    meta = (truth / "world.json").read_text() if (truth / "world.json").is_file() else "{}"
    brief = {k: v for k, v in json.loads(meta).items() if not isinstance(v, dict)}
    body = [
        f"Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by `python -m bench.evaluate_world` "
        f"from `{lakehouse}` against the truth in `{truth}` (world: `{json.dumps(brief, sort_keys=True)}`).",
        "",
        "### Headline",
        "",
        headline(c, truth, as_of),
        "",
        "### Features by population (medians over account-days)",
        "",
        population_medians(c.lake.read(tables.ACCOUNT_DAILY_FEATURES), accounts),
        "",
        "### Campaign detection per day against truth",
        "",
        "Each detected campaign-day, labelled by the planted campaign most of its members belong to.",
        "",
        detection(c, truth),
        "",
        "### Latest training run (MLflow)",
        "",
        training_metrics(c),
    ]
    return wrap_section(title, "\n".join(body))


def main() -> None:
    p = argparse.ArgumentParser(description="Measure a processed world against its truth.")
    p.add_argument("--world", default="data/world")
    p.add_argument("--lakehouse", default="data/lakehouse")
    p.add_argument(
        "--title", default="Default world", help="the section's title (and its key in the document)"
    )
    p.add_argument(
        "--train-as-of",
        type=dt.date.fromisoformat,
        help="days <= D are 'before training' (default: as_of of the latest training run)",
    )
    p.add_argument("--section-out", help="write the section to this file instead of into --doc")
    p.add_argument("--doc", default="docs/evaluation.md", help="the document the section goes into")
    p.add_argument(
        "--assemble", nargs="+", metavar="SECTION", help="only place these section files into --doc"
    )
    args = p.parse_args()
    doc = Path(args.doc)
    if args.assemble:
        sections = [Path(f).read_text() for f in args.assemble]
    else:
        cfg = load_config("local")
        c = JobContext(cfg=cfg, landing=str(Path(args.world) / "landing"), lakehouse_root=args.lakehouse)
        as_of = args.train_as_of or latest_train_as_of(c)
        sections = [world_section(c, Path(args.world), args.lakehouse, args.title, as_of)]
        if args.section_out:
            Path(args.section_out).write_text(sections[0])
            print(f"wrote {args.section_out}")
            return
    doc.write_text(place_sections(doc.read_text() if doc.is_file() else "# Evaluation\n", sections))
    print(f"wrote {len(sections)} section(s) into {doc}")


if __name__ == "__main__":
    main()
