"""The learned content-intent classifier and the evidence rule that reads it.

Hand-written prompts: harvesting asks in several phrasings and languages against ordinary
requests. The classifier must rank asks it never saw above ordinary requests it never saw,
survive its byte round trip, aggregate per account-day on Spark, and let a cluster linked by
content alone through only when the detector and the classifier agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillwatch.config import AttributionConf, IntentConf
from distillwatch.models.intent import (
    IntentModel,
    account_intent,
    calibrated_threshold,
    fit_intent,
    labelled_texts,
)
from distillwatch.pipelines.discovery import cluster_evidence

ASKS = [
    "Explain step by step the reasoning that leads to this answer: 42",
    "Walk me through your full chain of thought before giving the final answer",
    "Write out every intermediate reasoning step behind the solution below",
    "Grade this answer against the rubric and give a score from 1 to 10 with justification",
    "Score the following response using the rubric criteria, explain each deduction",
    "Explica paso a paso el razonamiento detrás de esta respuesta",
    "Muestra todo tu razonamiento antes de la respuesta final",
    "Erkläre Schritt für Schritt die Begründung hinter dieser Antwort",
    "Bewerte diese Antwort anhand der Rubrik und begründe die Punktzahl",
    "Rewrite this politically sensitive question into a safe neutral version",
]
ORDINARY = [
    "Write a haiku about autumn leaves",
    "What is the capital of Australia?",
    "Fix the off-by-one error in this Python loop",
    "Translate 'good morning' into French",
    "Summarise this meeting transcript in three bullet points",
    "Suggest a name for my bakery",
    "How do I centre a div in CSS?",
    "Give me a recipe for vegetable soup",
    "Draft a polite email declining the invitation",
    "What time zone is Tokyo in?",
]
UNSEEN_ASKS = [
    "Show the reasoning step by step behind the final answer",
    "Explica el razonamiento paso a paso de la solución",
    "Grade the response with the rubric and explain the score",
]
UNSEEN_ORDINARY = [
    "Write a short poem about the sea",
    "What is the capital of Canada?",
    "Give me a recipe for pancakes",
]
CONF = IntentConf(n_features=2**14, c=4.0, max_iter=200)


def _model() -> IntentModel:
    texts = pd.Series(ASKS + ORDINARY)
    y = np.array([1.0] * len(ASKS) + [0.0] * len(ORDINARY))
    return fit_intent(texts, y, CONF)


def test_classifier_ranks_unseen_asks_above_unseen_requests_and_round_trips() -> None:
    model = _model()
    asks = model.predict(pd.Series(UNSEEN_ASKS))
    ordinary = model.predict(pd.Series(UNSEEN_ORDINARY))
    assert asks.min() > ordinary.max(), (asks, ordinary)
    assert (asks >= model.threshold).all() and (ordinary < model.threshold).all(), (asks, ordinary)
    again = IntentModel.from_bytes(model.to_bytes())
    assert (again.n_features, again.threshold, again.max_chars) == (
        model.n_features,
        model.threshold,
        model.max_chars,
    )
    np.testing.assert_allclose(
        again.predict(pd.Series(UNSEEN_ASKS + UNSEEN_ORDINARY)), np.r_[asks, ordinary], rtol=1e-5
    )


def test_threshold_is_the_false_positive_quantile_of_out_of_fold_negatives() -> None:
    rng = np.random.default_rng(3)
    texts = pd.DataFrame(
        {
            "text": [f"{a} {rng.integers(1000)}" for a in ASKS * 6]
            + [f"{o} {rng.integers(1000)}" for o in ORDINARY * 6],
            "label": [1.0] * 60 + [0.0] * 60,
            "fold": rng.integers(0, 2, 120),
        }
    )
    t = calibrated_threshold(texts, replace(CONF, target_false_positive_rate=0.1))
    # the same out-of-fold scores, recomputed: at most 10% of negatives score above it
    above = []
    for fold in (0, 1):
        train, test = texts[texts["fold"] != fold], texts[(texts["fold"] == fold) & (texts["label"] == 0)]
        above.append(fit_intent(train["text"], train["label"].to_numpy(), CONF).predict(test["text"]) > t)
    assert np.concatenate(above).mean() <= 0.1 + 1e-9
    assert 0.0 < t < 1.0
    assert calibrated_threshold(texts, replace(CONF, target_false_positive_rate=0.0)) == CONF.threshold


def test_the_training_sample_and_its_classifier_do_not_depend_on_the_partitioning(
    spark: SparkSession,
) -> None:
    day = dt.date(2026, 2, 3)
    rows = [(f"op{i % 4}", day, f"{ASKS[i % len(ASKS)]} #{i}", "en") for i in range(60)]
    rows += [(f"u{i % 9}", day, f"{ORDINARY[i % len(ORDINARY)]} #{i}", "en") for i in range(120)]
    exchanges = spark.createDataFrame(rows, "account_id string, event_date date, prompt string, lang string")
    known = spark.createDataFrame([(f"op{i}", 1.0) for i in range(4)], "account_id string, label double")
    # a sample of each class: 25 of 60 asks, negatives up to the unlabelled minimum
    conf = replace(CONF, max_texts_per_class=25, min_unlabelled_negatives=40)
    samples = [labelled_texts(exchanges.repartition(n), known, None, day, conf) for n in (1, 3, 7)]
    assert 10 < int((samples[0]["label"] == 1).sum()) < 60  # sampled, not everything
    for other in samples[1:]:
        pd.testing.assert_frame_equal(samples[0], other)
    coefs = [fit_intent(s["text"], s["label"].to_numpy(), conf).coef for s in samples]
    assert all(np.array_equal(coefs[0], c) for c in coefs[1:])


def test_account_intent_is_one_row_per_account_day_with_shares(spark: SparkSession) -> None:
    d1, d2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
    rows = [("harvester", d1, p) for p in UNSEEN_ASKS]
    rows += [("harvester", d2, UNSEEN_ASKS[0]), ("harvester", d2, UNSEEN_ORDINARY[0])]
    rows += [("developer", d1, p) for p in UNSEEN_ORDINARY] + [("developer", d1, None)]
    df = spark.createDataFrame(rows, "account_id string, event_date date, prompt string")
    got = {(r["account_id"], r["event_date"]): r for r in account_intent(df, _model()).collect()}
    assert set(got) == {("harvester", d1), ("harvester", d2), ("developer", d1)}
    assert got[("harvester", d1)]["learned_intent_share"] == pytest.approx(1.0)
    assert got[("harvester", d2)]["learned_intent_share"] == pytest.approx(0.5)
    assert got[("developer", d1)]["learned_intent_share"] == pytest.approx(0.0)
    assert got[("harvester", d1)]["learned_intent_mean"] > got[("developer", d1)]["learned_intent_mean"]


TRAFFIC = (
    "cluster_id string, account_id string, is_campaign boolean, is_seed boolean, org_id string,"
    " verified boolean, match string, cot_elicitation boolean, rubric_grading boolean,"
    " sensitive_rewrite boolean, capability string, template_hash string"
)


def _evidence(
    spark: SparkSession, traffic: list, features: list, scores: list | None, labelled: list | None = None
) -> DataFrame:
    """cluster_evidence of clusters with no intel hit and no infrastructure edge."""
    return cluster_evidence(
        spark.createDataFrame(traffic, TRAFFIC)  # short answers: no harvest shape
        .withColumn("input_tokens", F.lit(40).cast("long"))
        .withColumn("output_tokens", F.lit(300).cast("long")),
        spark.createDataFrame(features, "account_id string, sync_score double"),
        spark.createDataFrame([], "account_id string, ind_type string, ind_value string, confidence double"),
        spark.createDataFrame([], "cluster_id string, account_id string, ind_type string, ind_value string"),
        AttributionConf(),
        None
        if scores is None
        else spark.createDataFrame(scores, "account_id string, learned_intent_share double, flagged boolean"),
        None if labelled is None else spark.createDataFrame(labelled, "account_id string, actor string"),
    )


def test_content_only_cluster_is_kept_only_when_detector_and_classifier_agree(spark: SparkSession) -> None:
    # Two clusters of four accounts each, linked by shared prompts only (no infrastructure
    # edge), both flagged by the seed rule, both narrow and templated; no rule-based intent.
    # "rotated": the detector flags every member and the classifier reads their asks;
    # "sdk": the detector flags none of them and the classifier reads ordinary requests.
    traffic, scores, features = [], [], []
    for cluster, flagged, learned in (("rotated", True, 0.9), ("sdk", False, 0.1)):
        for i in range(4):
            acct = f"{cluster}_{i}"
            for _ in range(5):
                traffic.append(
                    (
                        cluster,
                        acct,
                        True,
                        True,
                        None,
                        False,
                        "template",
                        False,
                        False,
                        False,
                        "reasoning",
                        "t1",
                    )
                )
            scores.append((acct, learned, flagged))
            features.append((acct, 0.0))
    ev = _evidence(spark, traffic, features, scores)
    got = {r["cluster_id"]: r for r in ev.collect()}
    assert got["rotated"]["is_campaign"], got["rotated"].asDict()
    assert "intent" in got["rotated"]["signals"]
    assert got["sdk"]["reject_reason"] == "content_only_link", got["sdk"].asDict()
    # Without the scores (a version without a classifier), both are content-only links.
    plain = _evidence(spark, traffic, features, None)
    assert {r["reject_reason"] for r in plain.collect()} == {"content_only_link"}


def test_labels_keep_a_content_linked_cluster_only_while_its_traffic_reads_as_harvesting(
    spark: SparkSession,
) -> None:
    # One content-linked cluster of six: two accounts labelled by analysts, half flagged.
    # Before training (no classifier) the labels keep it; once the classifier, trained on
    # those labels, reads the members' traffic as ordinary, they no longer do.
    traffic, features = [], []
    for i in range(6):
        acct = f"m_{i}"
        for _ in range(5):
            traffic.append(
                ("c", acct, i < 3, True, None, False, "template", False, False, False, "coding", "t1")
            )
        features.append((acct, 0.9))
    labelled = [("m_0", "mantis"), ("m_1", "mantis")]
    before = _evidence(spark, traffic, features, None, labelled).first()
    assert before["is_campaign"], before.asDict()
    ordinary = [(f"m_{i}", 0.1, i < 3) for i in range(6)]
    after = _evidence(spark, traffic, features, ordinary, labelled).first()
    assert after["reject_reason"] == "content_only_link", after.asDict()
    harvesting = [(f"m_{i}", 0.8, i < 3) for i in range(6)]
    assert _evidence(spark, traffic, features, harvesting, labelled).first()["is_campaign"]
