"""run-local (make run): the demo window it shows, and a lakehouse of another world refused.

The whole demo run (simulate, two days, train, a day) is what tests/test_e2e.py runs on a
smaller world; these tests cover what run-local adds around it, without Spark."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from distillwatch import tables
from distillwatch.config import Config
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.jobs import run_local


def test_the_demo_is_a_short_window_of_the_default_world(tmp_path: Path) -> None:
    demo = run_local.load_demo()
    assert (demo.days, demo.train_after, demo.holdout_days) == (3, 2, 1)
    (tmp_path / "simulate").mkdir()
    (tmp_path / "simulate" / "demo.yaml").write_text("days: 3\ntrain_after: 3\n")
    with pytest.raises(UserError, match="train_after < days"):
        run_local.load_demo(tmp_path)
    (tmp_path / "simulate" / "demo.yaml").write_text("dayz: 3\n")
    with pytest.raises(UserError, match="unknown keys"):
        run_local.load_demo(tmp_path)


def test_a_lakehouse_of_another_world_is_refused_before_anything_runs(cfg: Config, tmp_path: Path) -> None:
    lake = tmp_path / "lakehouse"
    (lake / tables.BRONZE_EXCHANGES / "_delta_log").mkdir(parents=True)
    ctx = JobContext(cfg=cfg, landing=str(tmp_path / "world" / "landing"), lakehouse_root=str(lake))
    args = argparse.Namespace(full=False, days=None, scale=None, train_after=None)
    with pytest.raises(UserError, match="another simulated world.*make clean"):
        run_local.run(ctx, args)
    assert "spark" not in ctx.__dict__  # refused before Spark started
    assert not (tmp_path / "world").exists()  # and nothing was simulated
    # The demo's short training window holds out its last day only.
    assert ctx.cfg.models.holdout_days == 1
