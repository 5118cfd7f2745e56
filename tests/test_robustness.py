"""bench.robustness: configuration names, simulate arguments and the section's targets, on
literal metrics (no Spark, no world)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import robustness as rb


def test_configuration_names_give_the_simulate_arguments() -> None:
    assert rb.evasion_args("plain") == []
    assert rb.evasion_args("rotate") == ["--evasion", "rotate"]
    assert rb.evasion_args("mix-0.3") == ["--evasion", "mix", "--resold-share", "0.3"]
    # switches joined by + come out in their canonical order
    assert rb.evasion_args("mix+rotate+slow") == ["--evasion", "rotate,slow,mix"]
    assert rb.evasion_args("all") == ["--evasion", ",".join(rb.EVASIONS)]
    # on real prompts `all` is every switch that leaves the prompt text alone
    assert rb.evasion_args("all", "real") == ["--prompts", "real", "--evasion", "rotate,slow,mix"]
    assert rb.evasion_args("plain", "real") == ["--prompts", "real"]


@pytest.mark.parametrize("config", ["paraphrase", "drift+rotate"])
def test_text_switches_are_refused_on_real_prompts(config: str) -> None:
    with pytest.raises(SystemExit, match="not with --prompts real"):
        rb.evasion_args(config, "real")


def test_unknown_switches_are_refused() -> None:
    with pytest.raises(SystemExit, match="unknown configuration"):
        rb.evasion_args("rotate+teleport")


def _metrics(found: int, precision: float = 1.0, prompts: str | None = None) -> dict[str, Any]:
    world: dict[str, Any] = {"days": 6, "scale": 0.005, "seed": 7, "train_after": 4}
    if prompts:
        world["prompts"] = prompts
    return {
        "campaign_day_recall": found / 24,
        "campaign_days_found": found,
        "campaign_days_active": 24,
        "campaign_day_recall_after_training": 1.0,
        "actor_accuracy": 1.0,
        "account_precision": precision,
        "account_recall": 0.9,
        "hydra_exchange_precision": 0.99,
        "mostly_legitimate_campaign_days": 0,
        "pivot": [],
        "per_campaign": {"c": {"days_found": found // 4, "days_active": 6, "days_right_actor": found // 4}},
        "world": world,
        "code": "abc1234",
        "measured_at": "2026-12-06 10:00 UTC",
    }


def test_a_combination_is_held_to_the_all_target_and_precision_is_checked() -> None:
    # 2 campaign-days lost (8.3 points): over the single-switch limit, within the combined one
    results = {
        "plain": _metrics(24, prompts="real"),
        "rotate": _metrics(22, prompts="real"),
        "rotate+slow+mix": _metrics(22, prompts="real"),
        "slow": _metrics(24, precision=0.97, prompts="real"),
    }
    body = rb.section(results)
    assert body.startswith(rb.REAL_BEGIN) and body.endswith(rb.REAL_END)
    head = body.split("Days found")[0]  # the headline table, not the per-campaign one
    rows = {line.split("|")[1].strip(): line for line in head.splitlines() if line.startswith("| `")}
    assert "MISSED: recall drop 8.3 pts > 5" in rows["`rotate`"]
    assert rows["`rotate+slow+mix`"].rstrip(" |").endswith("met")
    assert "account precision < 0.98" in rows["`slow`"]
    # what was not measured is said, and the text switches are not expected on real prompts
    assert "Not measured at this code version: `mix`, `all`." in body


def test_template_worlds_keep_their_section_and_old_metrics_read_as_templates() -> None:
    body = rb.section({"plain": _metrics(24), "all": _metrics(12)})
    assert body.startswith(rb.BEGIN) and body.endswith(rb.END)
    assert "MISSED: recall drop 50.0 pts > 10" in body
    assert "`paraphrase`" in body.split("Not measured")[1]


def test_warm_started_worlds_get_their_own_section_naming_the_model_they_started_with() -> None:
    warm = {"world": "/tmp/robust_s11/plain", "seed": 11, "as_of": "2026-02-04", "code": "abc1234"}
    results = {"rotate": _metrics(23) | {"warm_from": warm}, "all": _metrics(20) | {"warm_from": warm}}
    assert {rb.kind_of(m) for m in results.values()} == {"templates-warm"}
    body = rb.section(results)
    begin, end = rb.markers("templates-warm")
    assert body.startswith(begin) and body.endswith(end) and begin != rb.BEGIN
    assert "trained before they adapted" in body and "`plain` of seed 11" in body
    # without a warm plain world the drop is not computed, and the section says so
    assert "the drop is not computed" in body
    assert rb.markers("real") == (rb.REAL_BEGIN, rb.REAL_END)
    assert rb.mix_plot("templates") == "robustness-mix.png" and rb.mix_plot("real") == "robustness-mix-real.png"


def test_the_hydra_precision_target_holds_every_world_up_to_the_resold_share_it_covers() -> None:
    low = {"hydra_exchange_precision": 0.9}
    results = {"plain": _metrics(24), "all": _metrics(24) | low, "rotate+mix": _metrics(24) | low,
               "rotate": _metrics(24) | low, "mix-0.9": _metrics(24) | low}  # fmt: skip
    rows = {line.split("|")[1].strip(): line for line in rb.section(results).split("Days found")[0].splitlines()
            if line.startswith("| `")}  # fmt: skip
    # mix at its default share (0.7), and no mix at all (the plain world's ~0.3), are covered
    for world in ("`all`", "`rotate+mix`", "`rotate`"):
        assert "hydra precision < 0.95" in rows[world]
    # a resold share past the 0.7 the target covers is not
    assert rows["`mix-0.9`"].rstrip(" |").endswith("met")
