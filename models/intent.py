"""The learned content-intent classifier: how much an exchange's prompt reads like a harvesting ask.

The content rules (``conf/patterns/``) flag the phrasings they were written for; an
operator that paraphrases its asks, in other languages and with random fillers, walks
past them. This classifier learns the asks from the traffic itself: hashed character
n-grams (2-4 characters inside word boundaries, so any script and any language, no
tokeniser) and a linear model, trained as of a day from

- positives: prompts of accounts labelled ``distillation`` by then, plus the partner
  ``prompt_example`` indicators (text an operator was seen sending);
- negatives: prompts of accounts labelled ``benign`` and a sample of everyone else's
  (unlabelled traffic is overwhelmingly legitimate; the few campaign accounts in it are
  label noise the linear model averages over).

It is part of the account detector's version (trained in the same ``train`` run, logged
with it, promoted with it): ``score`` applies the champion's classifier to the day's
prompts and the booster reads the per account-day aggregates ``learned_intent_share``
(share of the account's exchanges scoring at least ``threshold``) and
``learned_intent_mean``. In the training set those two columns come from cross-fitting
(each fold's accounts scored by a classifier that never saw them), so the booster does
not learn to trust a classifier that memorised its own training accounts.

Scale: training reads a bounded sample (``max_texts_per_class`` per class) to the
driver, as the booster's holdout scoring does; scoring is a vectorised ``mapInPandas``
over Arrow batches (the classifier's bytes travel in the closure), so it scales out with
the partitions of the day's exchanges. The prompt text it reads lives in
``silver_exchanges`` only (``retention.raw_text_days``); training never reaches further back.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from distillwatch.config import IntentConf

log = logging.getLogger(__name__)

INTENT_FEATURES = ("learned_intent_share", "learned_intent_mean")


def _vectorizer(n_features: int):  # noqa: ANN202 - sklearn type
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(2, 4),
        n_features=n_features,
        alternate_sign=False,
        norm="l2",
        lowercase=True,
    )


def prepared_text(prompt: F.Column, max_chars: int) -> F.Column:
    """What the classifier reads: the prompt's first ``max_chars`` characters, digits as 0
    (a number is not a phrasing), whitespace collapsed."""
    head = F.substring(F.coalesce(prompt, F.lit("")), 1, max_chars)
    return F.regexp_replace(F.regexp_replace(head, r"[0-9]", "0"), r"\s+", " ")


@dataclass(frozen=True)
class IntentModel:
    """A trained classifier: the hashing space and the linear model's weights."""

    n_features: int
    coef: np.ndarray  # (n_features,), float32
    intercept: float
    threshold: float
    max_chars: int

    def predict(self, texts: pd.Series) -> np.ndarray:
        x = _vectorizer(self.n_features).transform(texts.fillna("").astype(str))
        z = x @ self.coef.astype(np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            coef=self.coef.astype(np.float32),
            meta=np.array(
                [self.n_features, self.intercept, self.threshold, self.max_chars], dtype=np.float64
            ),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> IntentModel:
        z = np.load(io.BytesIO(raw))
        n, b, t, m = z["meta"].tolist()
        return cls(int(n), z["coef"], float(b), float(t), int(m))


def fit_intent(
    texts: pd.Series, y: np.ndarray, conf: IntentConf, threshold: float | None = None
) -> IntentModel:
    """Fit the linear model (logistic loss, L2, balanced classes) on hashed n-grams."""
    from sklearn.linear_model import LogisticRegression

    x = _vectorizer(conf.n_features).transform(texts.fillna("").astype(str))
    # liblinear shuffles the rows: seeded, so one sample fits one classifier
    clf = LogisticRegression(
        C=conf.c, class_weight="balanced", max_iter=conf.max_iter, solver="liblinear", random_state=conf.seed
    )
    clf.fit(x, y)
    return IntentModel(
        conf.n_features,
        clf.coef_[0].astype(np.float32),
        float(clf.intercept_[0]),
        conf.threshold if threshold is None else threshold,
        conf.max_chars,
    )


def calibrated_threshold(texts: pd.DataFrame, conf: IntentConf) -> float:
    """The exchange-level decision threshold: the ``1 - target_false_positive_rate`` quantile
    of the negatives' out-of-fold scores (each account fold scored by the classifier fitted
    on the other), so ``learned_intent_share`` of ordinary traffic stays near that rate
    whatever the calibration of the linear model. ``conf.threshold`` when the rate is 0 or a
    fold lacks a class."""
    if conf.target_false_positive_rate <= 0:
        return conf.threshold
    scored = []
    for fold in (0, 1):
        train = texts[texts["fold"] != fold]
        negatives = texts[(texts["fold"] == fold) & (texts["label"] == 0)]
        if train["label"].nunique() < 2 or negatives.empty:
            return conf.threshold
        scored.append(fit_intent(train["text"], train["label"].to_numpy(), conf).predict(negatives["text"]))
    return float(np.quantile(np.concatenate(scored), 1.0 - conf.target_false_positive_rate))


# --- training data -----------------------------------------------------------------------


_DRAW_BUCKETS = 1_000_003  # resolution of a row's sampling draw (a prime)


def _in_order(pdf: pd.DataFrame) -> pd.DataFrame:
    """The sample sorted by its content, so the classifier fitted on it does not depend on the
    order Spark's partitions arrived in."""
    keys = ["label", "account_id", "event_date", "text"]
    return pdf.sort_values(keys, kind="mergesort", na_position="first").reset_index(drop=True)


def labelled_texts(
    exchanges: DataFrame, known: DataFrame, threat_intel: DataFrame | None, as_of: dt.date, conf: IntentConf
) -> pd.DataFrame:
    """The bounded training sample: columns text, label (1/0), account_id (null for an
    intel example), event_date, lang, fold (0/1 by account; intel examples in both folds: -1).

    ``exchanges``: silver rows (account_id, event_date, prompt, lang); ``known``: one label per
    account as of the training time (``models.training.labels_as_of``). Days are those up to
    ``as_of`` and within ``conf.lookback_days``.
    """
    lo = as_of - dt.timedelta(days=conf.lookback_days - 1)
    rows = (
        exchanges.where(F.col("event_date").between(F.lit(lo), F.lit(as_of)) & F.col("prompt").isNotNull())
        .join(
            F.broadcast(known.select("account_id", F.col("label").alias("_acc_label"))), "account_id", "left"
        )
        .select(
            prepared_text(F.col("prompt"), conf.max_chars).alias("text"),
            F.coalesce(F.col("_acc_label"), F.lit(0.0)).alias("label"),
            F.col("_acc_label").isNull().alias("_unlabelled"),
            "account_id",
            "event_date",
            F.coalesce(F.col("lang"), F.lit("other")).alias("lang"),
            (F.abs(F.xxhash64("account_id")) % 2).cast("int").alias("fold"),
        )
    )
    counts = {
        (r["label"], r["_unlabelled"]): r["n"]
        for r in rows.groupBy("label", "_unlabelled").agg(F.count(F.lit(1)).alias("n")).collect()
    }
    cap = conf.max_texts_per_class
    pos = counts.get((1.0, False), 0)
    benign = counts.get((0.0, False), 0)
    unlabelled = counts.get((0.0, True), 0)
    # Benign-labelled texts first, then unlabelled ones to fill the negative class up to the cap.
    frac_pos = min(1.0, cap / pos) if pos else 0.0
    frac_benign = min(1.0, cap / benign) if benign else 0.0
    room = max(0, cap - min(cap, benign))
    frac_unl = min(1.0, max(room, conf.min_unlabelled_negatives) / unlabelled) if unlabelled else 0.0

    # Each row's draw is a hash of what it is, not F.rand: rand follows the partitioning, so a
    # retrain on a cluster and on local[*] sampled (and fitted) differently from one lakehouse.
    def draw(salt: int) -> Column:
        key = F.xxhash64("account_id", "event_date", "text", F.lit(conf.seed + salt))
        return F.abs(key % F.lit(_DRAW_BUCKETS)).cast("double") / _DRAW_BUCKETS

    sampled = rows.where(
        ((F.col("label") == 1.0) & (draw(0) < F.lit(frac_pos)))
        | ((F.col("label") == 0.0) & ~F.col("_unlabelled") & (draw(1) < F.lit(frac_benign)))
        | (F.col("_unlabelled") & (draw(2) < F.lit(frac_unl)))
    ).drop("_unlabelled")
    # bounded: at most ~3 x max_texts_per_class rows; in one order whatever the partitioning
    pdf = _in_order(sampled.toPandas())
    if threat_intel is not None:
        examples: pd.DataFrame = (
            threat_intel.where(
                (F.col("indicator_type") == "prompt_example")
                & (F.col("first_seen").isNull() | (F.col("first_seen") <= F.lit(as_of)))
            )
            .select(prepared_text(F.col("value"), conf.max_chars).alias("text"))
            .orderBy("text")
            .limit(cap)
            .toPandas()
        )
        if len(examples):
            examples = examples.assign(label=1.0, account_id=None, event_date=None, lang="intel", fold=-1)
            pdf = pd.concat([pdf, examples], ignore_index=True)
    return pdf


# --- scoring -----------------------------------------------------------------------------

_SCORED = StructType(
    [
        StructField("account_id", StringType()),
        StructField("event_date", StringType()),
        StructField("p", DoubleType()),
    ]
)


def exchange_intent(exchanges: DataFrame, model: IntentModel) -> DataFrame:
    """account_id, event_date (string), p: the classifier's probability per exchange (vectorised)."""
    raw = model.to_bytes()
    src = exchanges.select(
        "account_id",
        F.col("event_date").cast("string").alias("event_date"),
        prepared_text(F.col("prompt"), model.max_chars).alias("text"),
    )

    def _score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        m = IntentModel.from_bytes(raw)  # once per partition
        for pdf in batches:
            if pdf.empty:
                continue
            yield pd.DataFrame(
                {
                    "account_id": pdf["account_id"],
                    "event_date": pdf["event_date"],
                    "p": m.predict(pdf["text"]),
                }
            )

    return src.mapInPandas(_score, _SCORED)  # type: ignore[arg-type]


def account_intent(exchanges: DataFrame, model: IntentModel) -> DataFrame:
    """event_date, account_id, learned_intent_share, learned_intent_mean: per account-day."""
    p = exchange_intent(exchanges, model)
    return (
        p.groupBy("event_date", "account_id")
        .agg(
            F.avg((F.col("p") >= F.lit(model.threshold)).cast("double")).alias("learned_intent_share"),
            F.avg("p").alias("learned_intent_mean"),
        )
        .withColumn("event_date", F.col("event_date").cast("date"))
    )


def cross_fitted_intent(exchanges: DataFrame, texts: pd.DataFrame, conf: IntentConf) -> DataFrame:
    """Per account-day intent of ``exchanges`` where each account is scored by the classifier
    fitted without its fold (``texts``' fold -1 rows, intel examples, train both)."""
    parts = []
    for fold in (0, 1):
        train = texts[texts["fold"] != fold]
        if train["label"].nunique() < 2:
            continue
        model = fit_intent(train["text"], train["label"].to_numpy(), conf)
        mine = exchanges.where((F.abs(F.xxhash64("account_id")) % 2).cast("int") == F.lit(fold))
        parts.append(account_intent(mine, model))
    if not parts:
        return exchanges.sparkSession.createDataFrame(
            [], "event_date date, account_id string, learned_intent_share double, learned_intent_mean double"
        )
    return parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])


def intent_metrics(texts: pd.DataFrame, as_of: dt.date, conf: IntentConf) -> dict[str, float]:
    """Generalisation of the classifier, logged with the run:

    - ``intent_holdout_*``: fitted on texts up to ``as_of - holdout_days``, measured on the later ones;
    - ``intent_lolo_recall_<lang>``: recall on the positives of one language of a classifier
      fitted without any positive text in that language (how it does on a phrasing family in
      a language it never saw), for each language with enough positives.
    """
    from sklearn.metrics import average_precision_score

    out: dict[str, float] = {}
    cut = as_of - dt.timedelta(days=conf.holdout_days)
    dated = texts[texts["event_date"].notna()]
    days = pd.to_datetime(dated["event_date"]).dt.date
    tr = pd.concat([dated[days <= cut], texts[texts["event_date"].isna()]])
    ho = dated[days > cut]
    if tr["label"].nunique() == 2 and ho["label"].nunique() == 2:
        m = fit_intent(tr["text"], tr["label"].to_numpy(), conf)
        p = m.predict(ho["text"])
        y = ho["label"].to_numpy()
        hit = p >= m.threshold
        out["intent_holdout_pr_auc"] = float(average_precision_score(y, p))
        out["intent_holdout_recall"] = float(hit[y == 1].mean())
        out["intent_holdout_false_positive_rate"] = float(hit[y == 0].mean())
        out["intent_holdout_precision"] = float(y[hit].mean()) if hit.any() else float("nan")
    pos = texts[(texts["label"] == 1) & (texts["lang"] != "intel")]
    for lang, n in pos["lang"].value_counts().items():
        if n < conf.min_texts_per_language or lang == "other":
            continue
        train = texts[~((texts["label"] == 1) & (texts["lang"] == lang))]
        if train["label"].nunique() < 2:
            continue
        m = fit_intent(train["text"], train["label"].to_numpy(), conf)
        out[f"intent_lolo_recall_{lang}"] = float(
            (m.predict(pos[pos["lang"] == lang]["text"]) >= m.threshold).mean()
        )
    return out
