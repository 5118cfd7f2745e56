"""The benchmark summary: which runs are picked, and the fitted scaling exponent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.summarise import fit_exponent, load


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
    assert {r["run"] for r in load(tmp_path, "A:hub")[1]} == {"n1000-hub-r0", "n3000-hub-r0"}
    picked = load(tmp_path, "A:3000,B")[1]
    assert sorted((r["bench_id"], r["run"]) for r in picked) == [
        ("A", "n3000-base-r0"),
        ("A", "n3000-hub-r0"),
        ("B", "n1000-base-r0"),
    ]


def test_exponent_of_linear_and_quadratic_costs() -> None:
    assert fit_exponent([(1e6, 10.0), (3e6, 30.0), (1e7, 100.0)]) == pytest.approx(1.0)
    assert fit_exponent([(1e6, 1.0), (1e7, 100.0)]) == pytest.approx(2.0)
