"""Unsupervised anomaly scorer: robust z-scores per feature, combined.

It needs no labels, so it covers tactics no analyst has labelled yet. Fitting is one
``approxQuantile`` pass over all accounts (a Greenwald-Khanna sketch per column: bounded
memory, scales to billions of rows); the fitted parameters are a small dict (median and
scale per feature) stored with the model. Scoring is built-in column arithmetic.

One row's score: ``sqrt(mean_f(min(|x_f - median_f| / scale_f, clip)^2)) / clip`` in
[0, 1]; features that are null on the row are left out of the mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# IQR of a normal distribution in standard deviations: makes the scale comparable to a sd.
_IQR_TO_SD = 1.349


def fit_anomaly(df: DataFrame, columns: Sequence[str], clip: float, rel_error: float) -> dict[str, Any]:
    """Median and robust scale of each numeric column of ``df`` (all accounts, no labels).

    A column with zero IQR (mostly constant) uses its mean absolute deviation from the
    median instead, and 1.0 if that is zero too, so one rare non-zero value still scores.
    """
    cols = list(columns)
    if not cols:
        raise ValueError("anomaly scorer needs at least one numeric feature")
    data = df.select(*[F.col(c).cast("double").alias(c) for c in cols])
    quantiles = data.approxQuantile(cols, [0.25, 0.5, 0.75], rel_error)
    medians = {c: q[1] if q else 0.0 for c, q in zip(cols, quantiles, strict=True)}
    mad_row = data.agg(*[F.avg(F.abs(F.col(c) - F.lit(medians[c]))).alias(c) for c in cols]).first()
    params: dict[str, dict[str, float]] = {}
    for c, q in zip(cols, quantiles, strict=True):
        iqr = (q[2] - q[0]) if q else 0.0
        scale = iqr / _IQR_TO_SD
        if scale <= 0:
            scale = float(mad_row[c] or 0.0) * 1.2533  # mean abs deviation -> sd for a normal
        if scale <= 0:
            scale = 1.0
        params[c] = {"median": float(medians[c]), "scale": float(scale)}
    return {"features": params, "clip": float(clip)}


def _z(col: str, p: Mapping[str, float], clip: float) -> Column:
    raw = F.abs(F.col(f"`{col}`").cast("double") - F.lit(p["median"])) / F.lit(p["scale"])
    return F.least(raw, F.lit(clip))


def anomaly_score(params: Mapping[str, Any]) -> Column:
    """The anomaly score column of a row (null only if every feature is null)."""
    clip = float(params["clip"])
    feats = params["features"]
    zs = [_z(c, p, clip) for c, p in feats.items()]
    sq_sum = sum((F.coalesce(z * z, F.lit(0.0)) for z in zs), F.lit(0.0))
    n = sum((F.when(z.isNotNull(), 1.0).otherwise(0.0) for z in zs), F.lit(0.0))
    return F.when(n > 0, F.sqrt(sq_sum / n) / F.lit(clip))


def anomaly_reasons(params: Mapping[str, Any], top: int) -> Column:
    """JSON list of the ``top`` features with the largest robust z on the row: the
    analyst-readable why of an anomaly score ({feature, contribution} with z as contribution)."""
    clip = float(params["clip"])
    pairs = [
        F.struct(F.coalesce(_z(c, p, clip), F.lit(0.0)).alias("contribution"), F.lit(c).alias("feature"))
        for c, p in params["features"].items()
    ]
    ranked = F.slice(F.sort_array(F.array(*pairs), asc=False), 1, top)
    tidy = F.transform(
        ranked,
        lambda s: F.struct(
            s["feature"].alias("feature"), F.round(s["contribution"], 4).alias("contribution")
        ),
    )
    return F.to_json(tidy)
