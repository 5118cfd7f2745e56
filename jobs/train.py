"""``distillwatch train [--as-of D]``: train the detectors as of the end of day D,
log them to MLflow, register a version as ``challenger`` and promote it to
``champion`` only if it beats the current one on the same holdout."""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from pyspark.sql import DataFrame

from distillwatch import tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.models.registry import TableLineage, Tracking, train_and_register
from distillwatch.pipelines.decisions import decision_labels, training_labels

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of",
        type=parse_day,
        default=None,
        help="train on features of days <= D and labels decided before D+1 (default: today, UTC)",
    )


def tracking_of(ctx: JobContext) -> Tracking:
    """The lakehouse's MLflow: tracking store, artifact location and model registry."""
    uri = ctx.mlflow_tracking_uri
    # A Databricks workspace stores a workspace experiment's artifacts itself.
    root = None if uri.split(":", 1)[0] == "databricks" else ctx.mlflow_artifact_root
    return Tracking(uri=uri, artifact_root=root, registry_uri=ctx.mlflow_registry_uri)


def training_labels_of(ctx: JobContext, labels: DataFrame, lineage: list[TableLineage]) -> DataFrame:
    """The labels training reads: the ``labels`` dimension and the labels
    analysts' decisions give (``decision_labels``, rebuilt here from ``analyst_decisions``
    at a pinned version, which joins ``lineage``). Training sees each as of its
    ``decided_at`` (``models.training.labels_as_of``)."""
    version = ctx.lake.version(tables.ANALYST_DECISIONS)
    if version is None:
        return labels
    decisions = ctx.lake.read_version(tables.ANALYST_DECISIONS, version)
    lineage.append(
        TableLineage(tables.ANALYST_DECISIONS, ctx.lake.path(tables.ANALYST_DECISIONS), version, decisions)
    )
    members = (
        ctx.lake.read(tables.CAMPAIGN_MEMBERS)
        if ctx.lake.exists(tables.CAMPAIGN_MEMBERS)
        else ctx.spark.createDataFrame([], tables.schema(tables.CAMPAIGN_MEMBERS))
    )
    return labels.unionByName(training_labels(decision_labels(decisions, members)))


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    as_of: dt.date = args.as_of or dt.datetime.now(dt.timezone.utc).date()
    lineage = []
    for name in (tables.ACCOUNT_DAILY_FEATURES, tables.LABELS):
        version = ctx.lake.version(name)
        if version is None:
            emit(
                f"train: table {ctx.lake.qualified(name)} does not exist; run the features/ingest steps first"
            )
            return 2
        # Read each table at a pinned version so the logged lineage is exactly what trained.
        lineage.append(TableLineage(name, ctx.lake.path(name), version, ctx.lake.read_version(name, version)))
    labels = training_labels_of(ctx, lineage[1].df, lineage)
    exchanges = threat_intel = None
    silver_version = ctx.lake.version(tables.SILVER_EXCHANGES) if ctx.cfg.models.intent.enabled else None
    if silver_version is not None:
        # The content-intent classifier reads the prompts of the labelled accounts (and a
        # sample of everyone else's) within models.intent.lookback_days: silver at a pinned version.
        exchanges = ctx.lake.read_version(tables.SILVER_EXCHANGES, silver_version).select(
            "account_id", "event_date", "prompt", "lang"
        )
        if ctx.lake.exists(tables.THREAT_INTEL):
            threat_intel = ctx.lake.read(tables.THREAT_INTEL)
    try:
        outcome = train_and_register(
            lineage[0].df,
            labels,
            as_of,
            ctx.cfg.models,
            tracking_of(ctx),
            lineage,
            exchanges=exchanges,
            threat_intel=threat_intel,
        )
    except ValueError as exc:
        emit(f"train: cannot train as of {as_of}: {exc}")
        return 1
    m = outcome.metrics
    emit(
        f"train: as of {as_of} registered {ctx.cfg.models.registered_model} v{outcome.version} (challenger); "
        f"holdout PR-AUC {m['holdout_pr_auc']:.4f}, ROC-AUC {m['holdout_roc_auc']:.4f}, "
        f"recall@P0.99 {m['holdout_recall_at_p99']:.3f}, recall@FPR0.1% {m['holdout_recall_at_fpr_0001']:.3f}"
    )
    t = outcome.threshold
    emit(
        f"train: threshold {t.value:.4f} (holdout precision {t.precision:.3f}, recall {t.recall:.3f}"
        + ("" if t.meets_target else f"; target precision {ctx.cfg.models.target_precision} NOT reached")
        + ")"
    )
    if "intent_train_positives" in m:
        lolo = ", ".join(
            f"{k.removeprefix('intent_lolo_recall_')} {v:.2f}"
            for k, v in sorted(m.items())
            if k.startswith("intent_lolo_recall_")
        )
        emit(
            f"train: intent classifier on {m['intent_train_positives']:.0f} / {m['intent_train_negatives']:.0f} texts; "
            f"threshold {m.get('intent_threshold', float('nan')):.3f}; "
            f"holdout recall {m.get('intent_holdout_recall', float('nan')):.3f}, "
            f"false-positive rate {m.get('intent_holdout_false_positive_rate', float('nan')):.4f}"
            + (f"; recall on a language it never saw: {lolo}" if lolo else "")
        )
    for campaign, recall in sorted(outcome.loco_recall.items()):
        emit(f"train: leave-one-campaign-out {campaign}: recall {recall:.3f}")
    decision = "PROMOTED to champion" if outcome.promoted else "NOT promoted"
    emit(f"train: v{outcome.version} {decision}: {outcome.reason}")
    return 0
