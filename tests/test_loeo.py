"""Leave-one-evasion-out (bench.loeo): which worlds a held-out switch may learn from, and the
fit-calibrate-score path on literal rows (xgboost, no Spark)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from bench.loeo import _at, _model, _score, section, training_worlds
from distillwatch.config import load_config

WORLDS = ["all", "mix-0.3", "paraphrase", "plain", "rotate", "slow"]


def test_a_held_out_switch_trains_on_worlds_without_it_and_never_on_all() -> None:
    assert training_worlds("slow", WORLDS) == ["mix-0.3", "paraphrase", "plain", "rotate"]
    assert training_worlds("mix-0.3", WORLDS) == ["paraphrase", "plain", "rotate", "slow"]
    # all has seen every switch alone, never together
    assert training_worlds("all", WORLDS) == ["mix-0.3", "paraphrase", "plain", "rotate", "slow"]
    assert training_worlds("slow", ["plain", "slow", "all"]) == ["plain"]
    # a world of switches together is no training world for any of them
    assert training_worlds("rotate", [*WORLDS, "rotate+slow"]) == ["mix-0.3", "paraphrase", "plain", "slow"]


def test_a_model_fitted_on_other_worlds_is_calibrated_on_their_holdout_and_scores_the_held_out_one() -> None:
    conf = load_config("local").models
    rng = np.random.default_rng(3)
    start = dt.date(2026, 2, 1)

    def world(n: int, shift: float) -> pd.DataFrame:
        y = (rng.random(n) < 0.2).astype(float)
        return pd.DataFrame(
            {
                "event_date": [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 6, n)],
                "y": y,
                "signal": y * 3.0 + shift + rng.normal(0, 0.3, n),
                "noise": rng.normal(0, 1, n),
            }
        )

    cols = ["signal", "noise"]
    as_of = start + dt.timedelta(days=3)
    booster, threshold = _model([(world(600, 0.0), as_of)], cols, conf)
    held = world(400, 0.0)
    got = _at(held["y"].to_numpy(), _score(booster, held, cols), threshold)
    assert got["recall"] is not None and got["recall"] > 0.9 and got["precision"] > 0.9
    moved = world(400, -3.0)  # the evasion moved the signal below what training saw
    lost = _at(moved["y"].to_numpy(), _score(booster, moved, cols), threshold)
    assert lost["recall"] is not None and lost["recall"] < 0.2
    text = section([{"world": "slow", "trained_on": ["plain"], "positives": 5, "negatives": 9,
                     "unseen": lost, "seen": got}], "abc1234", "2026-12-04", "def5678")  # fmt: skip
    assert "| `slow` | `plain` | 5 / 9 |" in text and "(processed at code abc1234)" in text
    assert "at code def5678" in text
