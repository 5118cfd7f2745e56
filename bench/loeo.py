"""Leave-one-evasion-out: does the account detector carry to an evasion it was never trained on?

    .venv/bin/python -m bench.loeo --out /tmp/robust [--doc docs/evaluation.md]

Reads the worlds ``bench.robustness run`` processed under ``--out`` (each ``OUT/<config>/``
with its ``world/truth`` and ``lake``). For every evasion world ``W`` (not ``plain``), the
booster of ``models.training`` (same hyperparameters, ``conf.models``) is fitted on the
account-days of the *other* worlds that do not contain W's switch: ``plain`` and the other
single-switch worlds for a single switch (``mix-<share>`` counts as ``mix``), ``plain`` and
every single-switch world for ``all`` (it has seen each switch alone, never together). The
threshold is calibrated on the training worlds' last ``holdout_days`` up to the training
day (``conf.models.target_precision``), and the model scores W's account-days after that
day. The same booster fitted on W's own days (its evasion seen) is the comparison.

Labels are the worlds' truth (every campaign account positive, every other account
negative), not the analysts' labels a deployment trains on: the figures bound what the
account features carry, and they leave out the learned content-intent classifier, whose
inputs are prompt text. The worlds are bench-sized (a few thousand account-days each), so
the feature rows are collected to pandas here; nothing of this runs in the pipeline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from pyspark.sql import functions as F

from bench.robustness import code_of, code_version, place, switches_of
from distillwatch import tables
from distillwatch.config import ModelsConf, load_config
from distillwatch.context import JobContext
from distillwatch.models.encoding import encode, feature_spec_from_schema
from distillwatch.models.evaluation import calibrate_threshold, detection_metrics

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- loeo begin -->", "<!-- loeo end -->"


def training_worlds(held_out: str, worlds: Sequence[str]) -> list[str]:
    """The worlds a model for ``held_out`` may learn from: none with one of its switches,
    and (for a single switch) not ``all`` either, which contains it."""
    others = [w for w in worlds if w not in (held_out, "all")]
    if held_out == "all" or "+" in held_out:  # the switches together are what it has not seen
        return sorted(others)
    unseen = set(switches_of(held_out))
    return sorted(w for w in others if not unseen.intersection(switches_of(w)))


def _rows(out: Path, config: str, conf: ModelsConf) -> tuple[pd.DataFrame, list[str], dt.date]:
    root = out / config
    truth = root / "world" / "truth"
    metrics = json.loads((root / "metrics.json").read_text())
    start = dt.date.fromisoformat(json.loads((truth / "world.json").read_text())["start"])
    as_of = start + dt.timedelta(days=int(metrics["world"]["train_after"]) - 1)
    c = JobContext(cfg=load_config("local"), landing=str(root / "world" / "landing"), lakehouse_root=str(root / "lake"))  # fmt: skip
    features = c.lake.read(tables.ACCOUNT_DAILY_FEATURES)
    spec = feature_spec_from_schema(features.schema, conf.categorical_levels, conf.exclude_features)
    labels = c.spark.read.parquet(str(truth / "accounts")).select(
        "account_id", F.col("campaign").isNotNull().cast("double").alias("y")
    )
    enc = encode(features.join(labels, "account_id", "left"), spec, keep=("event_date", "y"))
    return enc.fillna({"y": 0.0}).toPandas(), spec.columns, as_of


def _fit(train: pd.DataFrame, cols: list[str], conf: ModelsConf) -> xgb.Booster:
    params = {
        "objective": "binary:logistic",
        "max_depth": conf.max_depth,
        "eta": conf.learning_rate,
        "seed": conf.seed,
        "nthread": 2,
    }
    d = xgb.DMatrix(train[cols].to_numpy(dtype=float), label=train["y"].to_numpy(), missing=np.nan)
    return xgb.train(params, d, num_boost_round=conf.n_estimators)


def _score(booster: xgb.Booster, df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    return booster.predict(xgb.DMatrix(df[cols].to_numpy(dtype=float), missing=np.nan))


def _at(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float | None]:
    hit = s >= threshold
    tp = float((hit & (y == 1)).sum())
    return {
        "recall": tp / y.sum() if y.sum() else None,
        "precision": tp / hit.sum() if hit.sum() else None,
        "pr_auc": detection_metrics(y, s)["pr_auc"],
    }


def _model(parts: Sequence[tuple[pd.DataFrame, dt.date]], cols: list[str], conf: ModelsConf) -> tuple[xgb.Booster, float]:  # fmt: skip
    """Fit on the days up to each world's training day minus the holdout; threshold on the holdout."""
    fit, hold = [], []
    for df, as_of in parts:
        cutoff = as_of - dt.timedelta(days=conf.holdout_days)
        fit.append(df[df["event_date"] <= cutoff])
        hold.append(df[(df["event_date"] > cutoff) & (df["event_date"] <= as_of)])
    booster = _fit(pd.concat(fit), cols, conf)
    h = pd.concat(hold)
    y = h["y"].to_numpy()
    return booster, calibrate_threshold(y, _score(booster, h, cols), conf.target_precision).value


def evaluate(out: Path) -> list[dict[str, Any]]:
    conf = load_config("local").models
    worlds = sorted(p.parent.name for p in out.glob("*/metrics.json") if (p.parent / "lake").is_dir())
    data = {w: _rows(out, w, conf) for w in worlds}
    results = []
    for held in worlds:
        if held == "plain":
            continue
        train = training_worlds(held, worlds)
        df, cols, as_of = data[held]
        test = df[df["event_date"] > as_of]
        y = test["y"].to_numpy()
        row: dict[str, Any] = {"world": held, "trained_on": train, "positives": int(y.sum()), "negatives": int((1 - y).sum())}  # fmt: skip
        seen, t_seen = _model([(df, as_of)], cols, conf)
        row["seen"] = {**_at(y, _score(seen, test, cols), t_seen), "threshold": t_seen}
        if train and all(data[w][1] == cols for w in train):
            unseen, t_unseen = _model([(data[w][0], data[w][2]) for w in train], cols, conf)
            row["unseen"] = {**_at(y, _score(unseen, test, cols), t_unseen), "threshold": t_unseen}
        results.append(row)
    return results


def _f(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{float(v):.3f}"


def section(results: Sequence[Mapping[str, Any]], code: str, day: str, fitted: str) -> str:
    """The section; ``code``: the worlds' code versions, ``fitted``: the code that fits and calibrates."""
    lines = [
        BEGIN,
        "### Leave one evasion out (account features)",
        "",
        f"Measured {day} by `python -m bench.loeo` at code {fitted} on the worlds of the table above "
        f"(processed at code {code}): the "
        "account detector's booster fitted on worlds without the held-out switch (truth labels, no content-"
        "intent classifier; see the module) scores the held-out world's account-days after its training day. "
        "`seen`: the same booster fitted on the held-out world's own earlier days.",
        "",
        "| held-out world | trained on | campaign / other account-days | recall unseen | precision unseen | PR-AUC unseen | recall seen | precision seen | PR-AUC seen |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        u, s = r.get("unseen") or {}, r["seen"]
        lines.append(
            f"| `{r['world']}` | {', '.join(f'`{w}`' for w in r['trained_on']) or 'nothing to train on'} | "
            f"{r['positives']} / {r['negatives']} | {_f(u.get('recall'))} | {_f(u.get('precision'))} | "
            f"{_f(u.get('pr_auc'))} | {_f(s['recall'])} | {_f(s['precision'])} | {_f(s['pr_auc'])} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--doc", default=str(REPO / "docs" / "evaluation.md"))
    a = p.parse_args()
    results = evaluate(Path(a.out))
    (Path(a.out) / "loeo.json").write_text(json.dumps(results, indent=2, default=str))
    metrics = [json.loads(f.read_text()) for f in sorted(Path(a.out).glob("*/metrics.json"))]
    code = ", ".join(sorted({code_of(m) for m in metrics}))
    doc = Path(a.doc)
    doc.write_text(place(doc.read_text(), section(results, code, dt.date.today().isoformat(), code_version()), BEGIN, END))
    for r in results:
        u = r.get("unseen") or {}
        print(f"{r['world']}: recall unseen {_f(u.get('recall'))} (trained on {r['trained_on']}), seen {_f(r['seen']['recall'])}")  # fmt: skip


if __name__ == "__main__":
    main()
