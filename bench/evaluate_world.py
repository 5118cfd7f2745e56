"""Measure a processed simulated world against its ground truth and write docs/evaluation.md.

    .venv/bin/python -m bench.evaluate_world --world data/world --lakehouse data/lakehouse

Writes three tables: per-population medians of key account features (do the features
separate campaigns from hard negatives?), per-day campaign detection against truth
(found, purity, actor, hydra exchange precision), and the latest training run's metrics
from MLflow (holdout and leave-one-campaign-out). Every figure is computed here from the
tables; nothing is typed in by hand. Inputs are aggregates (populations x features,
campaign-days), so collecting them is bounded.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.config import load_config
from distillwatch.context import JobContext

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
        + "\n\n### Every campaign-day\n\n"
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


def summary(c: JobContext, rows: list, truth_actor: dict, truth: Path) -> str:  # type: ignore[type-arg]
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
    days_active: dict[str, set] = {}  # type: ignore[type-arg]
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


def training_metrics(c: JobContext) -> str:
    import mlflow

    mlflow.set_tracking_uri(c.mlflow_tracking_uri)
    exp = mlflow.get_experiment_by_name(c.cfg.models.experiment)
    if exp is None:
        return "_no training run found_"
    runs = mlflow.search_runs([exp.experiment_id], order_by=["start_time DESC"], max_results=1)
    if runs.empty:
        return "_no training run found_"
    run = runs.iloc[0]
    metrics = sorted((k[len("metrics.") :], v) for k, v in run.items() if k.startswith("metrics.") and v == v)
    return f"run `{run['run_id']}`\n\n" + _md(["metric", "value"], [[k, float(v)] for k, v in metrics])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--world", default="data/world")
    p.add_argument("--lakehouse", default="data/lakehouse")
    p.add_argument("--out", default="docs/evaluation.md")
    args = p.parse_args()
    cfg = load_config("local")
    c = JobContext(cfg=cfg, landing=str(Path(args.world) / "landing"), lakehouse_root=args.lakehouse)
    truth = Path(args.world) / "truth"
    accounts = c.spark.read.parquet(str(truth / "accounts"))
    text = [
        "# Evaluation on the default simulated world",
        "",
        f"Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by `python -m bench.evaluate_world` "
        f"from `{args.lakehouse}` against the truth in `{truth}` (world: `{(truth / 'world.json').read_text().strip() if (truth / 'world.json').is_file() else '?'}`).",
        "",
        "## Features by population (medians over account-days)",
        "",
        population_medians(c.lake.read(tables.ACCOUNT_DAILY_FEATURES), accounts),
        "",
        "## Campaign detection per day against truth",
        "",
        "Each detected campaign-day, labelled by the planted campaign most of its members belong to.",
        "",
        detection(c, truth),
        "",
        "## Latest training run (MLflow)",
        "",
        training_metrics(c),
        "",
    ]
    Path(args.out).write_text("\n".join(text))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
