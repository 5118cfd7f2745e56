"""Detection models: point-in-time training sets, MLflow training/registry, batch scoring.

The synthetic world: 36 accounts over 10 days. Three labelled distillation campaigns
(5 accounts each) have high chain-of-thought and template shares; 21 benign accounts
do not; one more account is labelled distillation only *after* the as-of date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from distillwatch import tables
from distillwatch.config import ModelsConf
from distillwatch.context import JobContext
from distillwatch.contract import LABEL_SCHEMA
from distillwatch.jobs import score as score_job
from distillwatch.jobs import train as train_job
from distillwatch.models.encoding import FeatureSpec, encode, feature_spec_from_schema
from distillwatch.models.evaluation import calibrate_threshold, detection_metrics
from distillwatch.models.training import training_set

START = dt.date(2026, 2, 1)
DAYS = 10
AS_OF = START + dt.timedelta(days=DAYS - 1)
CAMPAIGNS = ("camp_a", "camp_b", "camp_c")
LATE = "acct_late"
PR_AUC_BAR = 0.9
REPO = Path(__file__).resolve().parent.parent

# Catalog columns of account_daily_features, plus "noise" (a feature the model must not need).
_FEATURE_COLS = (
    "event_date",
    "account_id",
    "n_exchanges",
    "cot_share",
    "top_template_share",
    "noise",
    "top_capability",
    "signup_path",
)
FEATURE_SCHEMA = StructType(
    [
        StructField(c, DoubleType()) if c == "noise" else tables.schema(tables.ACCOUNT_DAILY_FEATURES)[c]
        for c in _FEATURE_COLS
    ]
)


def _accounts() -> list[tuple[str, str | None]]:
    """(account_id, campaign or None for benign)."""
    accts = [(f"acct_{c}_{i}", c) for c in CAMPAIGNS for i in range(5)]
    accts += [(f"acct_benign_{i}", None) for i in range(21)]
    return [*accts, (LATE, "camp_late")]


def _features(spark: SparkSession) -> object:
    rng = random.Random(11)
    rows = []
    for d in range(DAYS):
        day = START + dt.timedelta(days=d)
        for acct, campaign in _accounts():
            bad = campaign is not None
            # Overlapping distributions: separable, but not by a single cut of one feature.
            cot = rng.uniform(0.35, 0.95) if bad else rng.uniform(0.0, 0.5)
            tmpl = rng.uniform(0.4, 1.0) if bad else rng.uniform(0.0, 0.55)
            rows.append(
                (
                    day,
                    acct,
                    rng.randint(200, 2000) if bad else rng.randint(1, 400),
                    cot,
                    tmpl,
                    rng.gauss(0, 1),
                    "reasoning_math" if bad else rng.choice(["coding", "writing_chat", "reasoning_math"]),
                    rng.choice(["education", "self_serve"]) if bad else "self_serve",
                )
            )
    return spark.createDataFrame(rows, FEATURE_SCHEMA)


def _labels(spark: SparkSession) -> object:
    early = dt.datetime(2026, 1, 31, 12, 0)
    rows = []
    for acct, campaign in _accounts():
        if acct == LATE:
            # Decided after the as-of date: must never reach a model trained as of AS_OF.
            rows.append((acct, "distillation", "actor_x", campaign, dt.datetime(2026, 2, 20, 9, 0)))
        elif campaign:
            rows.append((acct, "distillation", f"actor_{campaign}", campaign, early))
        else:
            rows.append((acct, "benign", None, None, early))
    return spark.createDataFrame(rows, LABEL_SCHEMA)


@pytest.fixture()
def world(job_ctx: JobContext, monkeypatch: pytest.MonkeyPatch) -> JobContext:
    """Features and labels as real Delta tables in the test's own lakehouse and MLflow store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # Few, shallow trees: the synthetic signal needs no more, and each fit is a Spark job.
    job_ctx.cfg = replace(job_ctx.cfg, models=replace(job_ctx.cfg.models, n_estimators=20, max_depth=3))
    spark = job_ctx.spark
    job_ctx.lake.overwrite(_features(spark), tables.ACCOUNT_DAILY_FEATURES, partition_by=("event_date",))
    job_ctx.lake.overwrite(_labels(spark), tables.LABELS)
    return job_ctx


def test_training_set_excludes_labels_decided_after_as_of(spark: SparkSession) -> None:
    features, labels = _features(spark), _labels(spark)
    revised = spark.createDataFrame(
        [("acct_benign_0", "distillation", "actor_q", "camp_q", dt.datetime(2026, 2, 15))], LABEL_SCHEMA
    )
    ts = training_set(features, labels.unionByName(revised), AS_OF)
    accounts = {r[0] for r in ts.select("account_id").distinct().collect()}
    assert LATE not in accounts
    assert len(accounts) == 36
    # The later (post-as-of) revision of acct_benign_0 is invisible: still benign.
    assert {r[0] for r in ts.where("account_id = 'acct_benign_0'").select("label").distinct().collect()} == {
        0.0
    }
    # Features after the as-of day are not used either.
    early = training_set(features, labels, START + dt.timedelta(days=2))
    assert early.agg(F.max("event_date")).first()[0] == START + dt.timedelta(days=2)
    # The same late label is visible once the as-of date passes its decision time.
    later = training_set(features, labels, dt.date(2026, 2, 20))
    assert later.where(F.col("account_id") == LATE).count() == DAYS


def test_feature_spec_is_numeric_columns_minus_keys_plus_one_hot(spark: SparkSession) -> None:
    levels = {"signup_path": ["self_serve", "education"]}
    spec = feature_spec_from_schema(FEATURE_SCHEMA, levels, exclude=("noise",))
    assert spec == FeatureSpec(
        numeric=("n_exchanges", "cot_share", "top_template_share"),
        categorical={"signup_path": ("self_serve", "education")},
    )
    df = spark.createDataFrame([(START, "a", 1, 0.5, 0.1, 0.0, "coding", "enterprise")], FEATURE_SCHEMA)
    row = encode(df, spec).first().asDict()
    assert row == {
        "n_exchanges": 1.0,
        "cot_share": 0.5,
        "top_template_share": 0.1,
        "signup_path=self_serve": 0.0,
        "signup_path=education": 0.0,
        "signup_path=other": 1.0,
    }
    with pytest.raises(ValueError, match="missing"):
        encode(df.drop("cot_share"), spec)


def test_threshold_reaches_target_precision_with_most_recall() -> None:
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1], dtype=float)
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    t = calibrate_threshold(y, s, 0.99)
    # 0.6 is the least suspicious positive the target keeps; the threshold sits halfway down
    # the empty gap to the negative at 0.5, where the holdout reads the same
    assert (t.value, t.recall, t.meets_target) == (pytest.approx(0.55), 0.75, True)
    # a separable holdout: halfway between the legitimate 0.01 and the campaigns' 0.98
    sep = calibrate_threshold(np.array([0, 0, 1, 1.0]), np.array([0.005, 0.01, 0.98, 0.99]), 0.95)
    assert (sep.value, sep.precision, sep.recall) == (pytest.approx(0.495), 1.0, 1.0)
    t2 = calibrate_threshold(np.array([1, 0, 1, 0.0]), np.array([0.1, 0.9, 0.2, 0.8]), 0.99)
    assert not t2.meets_target
    m = detection_metrics(y, s)
    assert m["recall_at_p99"] == 0.75 and 0.0 < m["pr_auc"] <= 1.0


def test_score_without_champion_falls_back_to_anomaly_and_intel(world: JobContext) -> None:
    day = START + dt.timedelta(days=3)
    assert score_job.run(world, argparse.Namespace(date=day)) == 0
    out = world.lake.read(tables.ACCOUNT_SCORES)
    assert out.columns == [
        "event_date",
        "account_id",
        "score",
        "anomaly_score",
        "flagged",
        "threshold",
        "model_version",
        "reasons",
        "learned_intent_share",
    ]
    rows = {r["account_id"]: r for r in out.collect()}
    assert len(rows) == 37 and {r["model_version"] for r in rows.values()} == {"fallback:anomaly+intel"}
    bad = np.mean([rows[a]["anomaly_score"] for a, c in _accounts() if c])
    good = np.mean([rows[a]["anomaly_score"] for a, c in _accounts() if not c])
    assert bad > good
    reasons = json.loads(rows["acct_camp_a_0"]["reasons"])
    assert len(reasons) == 3 and set(reasons[0]) == {"feature", "contribution"}
    # Rerun is idempotent: the day is replaced, not appended.
    assert score_job.run(world, argparse.Namespace(date=day)) == 0
    assert world.lake.read(tables.ACCOUNT_SCORES).count() == 37


@pytest.mark.slow
def test_train_promotes_good_model_keeps_it_against_worse_challenger_and_scores_with_it(
    world: JobContext,
) -> None:
    # 1) First model: no champion yet, so it is promoted; it must beat the PR-AUC bar.
    assert train_job.run(world, argparse.Namespace(as_of=AS_OF)) == 0
    name = world.cfg.models.registered_model
    client = MlflowClient(tracking_uri=world.mlflow_tracking_uri, registry_uri=world.mlflow_tracking_uri)
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    v1 = client.get_model_version(name, "1")
    run = client.get_run(v1.run_id)
    metrics = run.data.metrics
    assert metrics["holdout_pr_auc"] >= PR_AUC_BAR, metrics
    assert {"holdout_roc_auc", "holdout_recall_at_p99", "holdout_recall_at_fpr_0001", "threshold"} <= set(
        metrics
    )
    assert {f"loco_recall_{c}" for c in CAMPAIGNS} <= set(metrics)
    assert {f"holdout_recall_campaign_{c}" for c in CAMPAIGNS} <= set(metrics)
    # The late label did not leak in: as-of training saw 36 labelled accounts' days.
    assert (
        metrics["train_positives"]
        + metrics["train_negatives"]
        + metrics["holdout_positives"]
        + metrics["holdout_negatives"]
        == 36 * DAYS
    )
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {
        "evaluation/pr_curve.png",
        "evaluation/feature_importance.png",
        "evaluation/score_distributions.png",
    } <= artifacts
    inputs = {d.dataset.name for d in run.inputs.dataset_inputs}
    assert inputs == {tables.ACCOUNT_DAILY_FEATURES, tables.LABELS}
    assert float(v1.tags["threshold"]) == pytest.approx(metrics["threshold"])

    # 2) A worse challenger (only the noise feature) is registered but does not take champion.
    crippled = replace(
        world.cfg.models,
        exclude_features=("n_exchanges", "cot_share", "top_template_share", "top_capability", "signup_path"),
        leave_one_campaign_out=False,
    )
    world.cfg = replace(world.cfg, models=crippled)
    assert train_job.run(world, argparse.Namespace(as_of=AS_OF)) == 0
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    v2_metrics = client.get_run(client.get_model_version(name, "2").run_id).data.metrics
    assert v2_metrics["holdout_pr_auc"] < metrics["holdout_pr_auc"]
    assert v2_metrics["champion_holdout_pr_auc"] == pytest.approx(metrics["holdout_pr_auc"])

    # 3) Scoring uses the champion alias (v1), with its threshold and per-row reasons.
    day = AS_OF
    assert score_job.run(world, argparse.Namespace(date=day)) == 0
    rows = {r["account_id"]: r for r in world.lake.read(tables.ACCOUNT_SCORES).collect()}
    assert len(rows) == 37
    assert {r["model_version"] for r in rows.values()} == {"1"}
    assert all(r["threshold"] == pytest.approx(metrics["threshold"]) for r in rows.values())
    flagged_bad = sum(rows[a]["flagged"] for a, c in _accounts() if c and a != LATE)
    flagged_good = sum(rows[a]["flagged"] for a, c in _accounts() if not c)
    assert flagged_bad >= 12 and flagged_good <= 1, (flagged_bad, flagged_good)
    reasons = json.loads(rows["acct_camp_b_1"]["reasons"])
    assert len(reasons) == 3
    assert {r["feature"] for r in reasons} & {"cot_share", "top_template_share", "n_exchanges"}

    # 4) A scheduler runs every step in its own process, from its own working directory:
    # the next process's `score` must find the champion in the lakehouse's store, not in a
    # fresh ./mlflow.db of MLflow's process default.
    elsewhere = world.lakehouse_root + "-cwd"
    os.makedirs(elsewhere, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "distillwatch.cli",
            "--lakehouse",
            world.lakehouse_root,
            "score",
            "--date",
            str(day),
        ],
        cwd=elsewhere,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "@champion (v1," in done.stdout, done.stdout
    assert not os.path.exists(os.path.join(elsewhere, "mlflow.db"))


@pytest.mark.slow
def test_challenger_below_the_floors_is_not_the_first_champion(world: JobContext) -> None:
    # Only the noise feature: a real model, registered, but below the PR-AUC floor.
    world.cfg = replace(
        world.cfg,
        models=replace(
            world.cfg.models,
            exclude_features=(
                "n_exchanges",
                "cot_share",
                "top_template_share",
                "top_capability",
                "signup_path",
            ),
            leave_one_campaign_out=False,
        ),
    )
    assert train_job.run(world, argparse.Namespace(as_of=AS_OF)) == 0
    name = world.cfg.models.registered_model
    client = MlflowClient(tracking_uri=world.mlflow_tracking_uri, registry_uri=world.mlflow_tracking_uri)
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "1"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(name, "champion")
    run = client.get_run(client.get_model_version(name, "1").run_id)
    assert run.data.tags["decision"] == "kept champion"
    assert "below the promotion floors" in run.data.tags["decision_reason"]
    assert "fallback scorer stays" in run.data.tags["decision_reason"]
    assert score_job.run(world, argparse.Namespace(date=AS_OF)) == 0
    versions = {r["model_version"] for r in world.lake.read(tables.ACCOUNT_SCORES).collect()}
    assert versions == {"fallback:anomaly+intel"}


def test_a_registry_apart_from_tracking_holds_the_versions_that_score(
    world: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on Databricks (tracking "databricks", registry "databricks-uc"): runs go to the
    # tracking store, versions and aliases to the registry, and scoring reads the registry.
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    registry = f"sqlite:///{Path(world.lakehouse_root).resolve().parent / 'registry.db'}"
    world.cfg = replace(
        world.cfg,
        paths=replace(world.cfg.paths, mlflow_registry_uri=registry),
        models=replace(world.cfg.models, leave_one_campaign_out=False),
    )
    tracking = world.mlflow_tracking_uri
    assert world.mlflow_registry_uri == registry != tracking
    assert train_job.run(world, argparse.Namespace(as_of=AS_OF)) == 0
    name = world.cfg.models.registered_model
    in_registry = MlflowClient(tracking_uri=tracking, registry_uri=registry)
    champion = in_registry.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == "1"
    assert in_registry.get_run(champion.run_id).info.experiment_id  # the run is in the tracking store
    assert MlflowClient(tracking_uri=tracking, registry_uri=tracking).search_registered_models() == []
    assert score_job.run(world, argparse.Namespace(date=AS_OF)) == 0
    versions = {r["model_version"] for r in world.lake.read(tables.ACCOUNT_SCORES).collect()}
    assert versions == {"1"}


def test_floors_name_each_miss() -> None:
    from distillwatch.models.registry import below_floors

    conf = replace(
        ModelsConf(), promote_min_pr_auc=0.9, promote_min_recall_at_target=0.5, promote_min_loco_recall=0.3
    )
    good = {"holdout_pr_auc": 0.95, "threshold_recall": 0.8, "threshold_meets_target": 1.0}
    assert below_floors(good, {"a": 0.9, "b": float("nan")}, conf) == []
    misses = below_floors({**good, "threshold_meets_target": 0.0}, {"a": 0.0}, conf)
    assert (
        len(misses) == 2
        and "recall at precision" in misses[0]
        and "leave-one-campaign-out recall a" in misses[1]
    )
    assert below_floors({**good, "holdout_pr_auc": 0.81}, {}, conf)[0].startswith("holdout PR-AUC 0.8100")


_ASKS = (
    "Explain step by step the reasoning behind answer {i}",
    "Walk me through your chain of thought for problem {i}",
    "Grade answer {i} against the rubric and justify the score",
    "Explica paso a paso el razonamiento de la respuesta {i}",
)
_REQUESTS = (
    "Write a haiku about season {i}",
    "Fix the bug in my loop number {i}",
    "Suggest a name for shop {i}",
    "What is the weather like in city {i}",
)


def test_intent_classifier_trains_with_the_detector_travels_with_its_version_and_scores(
    world: JobContext,
) -> None:
    # Every account-day has two prompts: campaign accounts ask for reasoning and grades,
    # benign ones make ordinary requests. The classifier is fitted in the same run, logged
    # with it, loaded with the champion, and its per account-day share reaches the scores.
    from distillwatch.jobs.train import tracking_of
    from distillwatch.models.registry import load_alias, train_and_register
    from distillwatch.models.scores import account_scores

    rng = random.Random(5)
    rows = []
    for d in range(DAYS):
        day = START + dt.timedelta(days=d)
        for acct, campaign in _accounts():
            pool = _ASKS if campaign else _REQUESTS
            rows += [(acct, day, rng.choice(pool).format(i=rng.randint(1, 999)), "en") for _ in range(2)]
    spark = world.spark
    exchanges = spark.createDataFrame(rows, "account_id string, event_date date, prompt string, lang string")
    conf = replace(world.cfg.models, leave_one_campaign_out=False)
    tracking = tracking_of(world)
    features = world.lake.read(tables.ACCOUNT_DAILY_FEATURES)
    outcome = train_and_register(
        features, world.lake.read(tables.LABELS), AS_OF, conf, tracking, exchanges=exchanges
    )
    assert outcome.promoted
    run = MlflowClient(tracking_uri=world.mlflow_tracking_uri).get_run(
        MlflowClient(tracking_uri=world.mlflow_tracking_uri, registry_uri=world.mlflow_tracking_uri)
        .get_model_version(conf.registered_model, "1")
        .run_id
    )
    assert run.data.params["intent_classifier"] != "none"
    assert run.data.metrics["intent_train_positives"] > 0
    assert "intent_holdout_recall" in run.data.metrics
    champion = load_alias(tracking, conf.registered_model, "champion")
    assert champion is not None and champion.intent is not None
    assert {"learned_intent_share", "learned_intent_mean"} <= set(champion.spec.numeric)
    day_features = features.where(F.col("event_date") == F.lit(AS_OF))
    scores, _ = account_scores(
        day_features, conf, champion, exchanges.where(F.col("event_date") == F.lit(AS_OF))
    )
    got = {r["account_id"]: r["learned_intent_share"] for r in scores.collect()}
    assert len(got) == 37
    bad = [got[a] for a, c in _accounts() if c and a != LATE]
    good = [got[a] for a, c in _accounts() if not c]
    assert min(bad) > max(good), (bad, good)


def test_anomaly_score_and_reasons_follow_the_formula(spark: SparkSession) -> None:
    from distillwatch.models.anomaly import anomaly_reasons, anomaly_score

    params = {
        "clip": 10.0,
        "features": {
            "a": {"median": 1.0, "scale": 2.0},
            "b.c": {"median": -0.5, "scale": 1e-05},  # a dotted name, a tiny scale (clipped)
            "d": {"median": 0.1, "scale": 0.3},
        },
    }
    schema = StructType([StructField(c, DoubleType()) for c in ("a", "b.c", "d")])
    rows = [(5.0, -0.5, 0.4), (None, 3.0, None), (None, None, None), (1.0, -0.5, 0.1)]
    df = spark.createDataFrame(rows, schema)
    got = df.select(anomaly_score(params).alias("s"), anomaly_reasons(params, 2).alias("r")).collect()

    def z(x: float | None, m: float, s: float) -> float | None:
        return None if x is None else min(abs(x - m) / s, 10.0)

    for row, out in zip(rows, got, strict=True):
        zs = [z(x, p["median"], p["scale"]) for x, p in zip(row, params["features"].values(), strict=True)]
        present = [v for v in zs if v is not None]
        expected = (sum(v * v for v in present) / len(present)) ** 0.5 / 10.0 if present else None
        assert (out["s"] is None) == (expected is None)
        if expected is not None:
            assert out["s"] == pytest.approx(expected, rel=1e-12)
        ranked = sorted(
            ((v or 0.0, name) for v, name in zip(zs, params["features"], strict=True)), reverse=True
        )[:2]
        assert json.loads(out["r"]) == [
            {"feature": name, "contribution": pytest.approx(round(v, 4))} for v, name in ranked
        ]
