"""The benchmark summary: which runs are picked, and the fitted scaling exponent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.summarise import PAIR_ONLY, fit_exponent, load, render


def _rows(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_bench_ids_select_whole_benches_or_one_size_or_variant(tmp_path: Path) -> None:
    rows = [
        {
            "bench_id": "A",
            "run": f"n{n}-{v}-r0",
            "size_target": n,
            "variant": v,
            "step": "ingest",
            "wall_s": 1.0,
        }
        for n in (1000, 3000)
        for v in ("base", "hub")
    ] + [{"bench_id": "B", "run": "n1000-base-r0", "size_target": 1000, "variant": "base", "step": "ingest"}]
    _rows(tmp_path / "results.jsonl", rows)
    assert len(load(tmp_path, "A")[1]) == 4
    assert load(tmp_path, None)[0] == "B"  # the latest bench by default
    hub = load(tmp_path, "A:hub")[1]
    assert {r["run"] for r in hub if not r.get(PAIR_ONLY)} == {"n1000-hub-r0", "n3000-hub-r0"}
    assert {r["run"] for r in hub if r.get(PAIR_ONLY)} == {"n1000-base-r0", "n3000-base-r0"}
    picked = load(tmp_path, "A:3000,B")[1]
    assert sorted((r["bench_id"], r["run"]) for r in picked) == [
        ("A", "n3000-base-r0"),
        ("A", "n3000-hub-r0"),
        ("B", "n1000-base-r0"),
    ]


def test_a_bench_picked_for_its_hub_runs_brings_its_plain_runs_for_the_comparison_only(
    tmp_path: Path,
) -> None:
    def row(bench: str, variant: str, wall: float) -> dict[str, object]:
        return {
            "bench_id": bench,
            "run": f"n1000-{variant}-r0",
            "size_target": 1000,
            "variant": variant,
            "kind": "daily",
            "step": "attribute",
            "status": "ok",
            "wall_s": wall,
            "exchanges": 1000,
            "cores": 2,
        }

    _rows(
        tmp_path / "results.jsonl",
        [row("OLD", "base", 10.0), row("OLD", "hub", 11.0), row("NEW", "base", 5.0)],
    )
    _, rows = load(tmp_path, "NEW,OLD:hub")
    md = render("NEW,OLD:hub", rows, tmp_path, ".")
    per_step = [line for line in md.splitlines() if line.startswith("| base | 1,000 | attribute |")]
    assert len(per_step) == 1 and "| 5.0 |" in per_step[0]  # the old plain run is not a repeat of the new one
    assert "| 1,000 | — | attribute | 10.0 | 11.0 | 1.10 ✓ |" in md  # but it is the hub's reference


def test_exponent_of_linear_and_quadratic_costs() -> None:
    assert fit_exponent([(1e6, 10.0), (3e6, 30.0), (1e7, 100.0)]) == pytest.approx(1.0)
    assert fit_exponent([(1e6, 1.0), (1e7, 100.0)]) == pytest.approx(2.0)


def test_day_totals_are_per_run_of_each_bench_even_when_run_names_repeat(tmp_path: Path) -> None:
    rows = [
        {
            "bench_id": bench,
            "run": "n1000-base-r0",
            "size_target": 1000,
            "variant": "base",
            "kind": "daily",
            "step": step,
            "status": "ok",
            "wall_s": wall,
            "exchanges": 1000,
            "cores": 2,
        }
        for bench, scale in (("A", 1.0), ("B", 2.0))
        for step, wall in (("ingest", 10.0 * scale), ("features", 30.0 * scale))
    ]
    _rows(tmp_path / "results.jsonl", rows)
    md = render("A,B", load(tmp_path, "A,B")[1], tmp_path, ".")
    total = next(line for line in md.splitlines() if line.startswith("| base | 1,000 | daily_total |"))
    assert "| 2/2 | 60.0 | 40.0–80.0 |" in total


def test_event_log_profile_groups_a_steps_jobs_by_label(tmp_path: Path) -> None:
    from bench.profile import by_label, parse_event_log

    def job(jid: int, stages: list[int], **props: str) -> dict[str, object]:
        return {"Event": "SparkListenerJobStart", "Job ID": jid, "Stage IDs": stages, "Properties": props}

    def stage(sid: int, run_ms: int) -> dict[str, object]:
        acc = [{"Name": "internal.metrics.executorRunTime", "Value": run_ms}]
        return {"Event": "SparkListenerStageCompleted", "Stage Info": {"Stage ID": sid, "Accumulables": acc}}

    events = [
        job(0, [0, 1], **{"spark.jobGroup.id": "attribute", "spark.job.description": "attribute",
                          "callSite.short": "count at /x/y/jobs/attribute.py:147"}),  # fmt: skip
        job(1, [2], **{"spark.jobGroup.id": "attribute", "spark.job.description": "checkpoint: labels"}),
        job(2, [3], **{"spark.jobGroup.id": "attribute", "spark.job.description": "checkpoint: labels"}),
        job(3, [4], **{"spark.jobGroup.id": "features", "callSite.short": "save at /x/pipelines/a.py:1"}),
        job(4, [5], **{"spark.jobGroup.id": "features", "spark.sql.execution.id": "7"}),
        stage(0, 1000), stage(1, 500), stage(2, 2000), stage(3, 3000), stage(4, 9000), stage(5, 100),
    ]  # fmt: skip
    log = tmp_path / "app"
    log.write_text("".join(json.dumps(e) + "\n" for e in events) + "not json\n")
    parsed = parse_event_log(log)
    assert parsed["by_step"]["attribute"]["run_ms"] == 6500
    ranked = by_label(parsed["stages"], "attribute")
    assert [(label, a["run_ms"], a["stages"]) for label, a in ranked] == [
        ("checkpoint: labels", 5000, 2),
        ("count at jobs/attribute.py:147", 1500, 2),
    ]
    assert [label for label, _ in by_label(parsed["stages"], "features")] == [
        "save at pipelines/a.py:1",
        "SQL execution 7 (unlabelled)",
    ]
