"""Analyst decisions bind later runs: a dismissed campaign stays dismissed (also when it comes
back after a gap and on a rerun), a cannot-link splits a campaign, a confirmed actor overrides
intel, an expired partner indicator stops attributing, confirmations become point-in-time
training labels; STIX bundles round-trip; enforcement never acts on dismissed accounts.

Three days of the tiny world of ``test_attribution`` through the real ``attribute`` job,
with decisions recorded by the real ``review`` command between day 1 and day 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import stix2
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from test_attribution import CONF, FEATURES, SCORES, _silver, _world

from distillwatch import tables
from distillwatch.context import JobContext
from distillwatch.jobs import attribute, enforce, review, sharing
from distillwatch.jobs.ingest import _ingest_partner_stix
from distillwatch.jobs.train import training_labels_of
from distillwatch.models.registry import TableLineage
from distillwatch.models.training import training_set
from distillwatch.pipelines.sharing import intel_in_force

D1, D2, D3 = dt.date(2026, 2, 3), dt.date(2026, 2, 4), dt.date(2026, 2, 5)
KESTREL = [f"k{i}" for i in range(1, 7)]
HYDRA = ["h1", "h2", "h3"]
DECIDED = dt.datetime(2026, 2, 4, 6, 0)  # the morning after day 1
# identity looks back one day: without its dismissal, the hydra coming back on day 3 after a
# quiet day 2 would be a new campaign under a new id
REVIEW_CONF = dataclasses.replace(CONF, identity_lookback_days=1)


def _day_rows(day: dt.date, hydra: list[str]) -> tuple[list[dict[str, Any]], list[tuple], list[tuple]]:
    rows, scores, features = _world(day, KESTREL, hydra)
    for r in rows:  # kestrel runs two client stacks: k1-k3 on tls-K, k4-k6 on tls-J
        if r["account_id"] in ("k4", "k5", "k6"):
            r["tls_fp"] = "tls-J"
    return rows, scores, features


def _intel(spark: Any) -> DataFrame:
    schema = tables.schema(tables.THREAT_INTEL)
    return spark.createDataFrame(
        [
            ("payment_fp", "pay-K", "kestrel", "feed-a", 0.7, D1, None, None),
            ("tls_fp", "tls-K", "kestrel", "feed-b", 0.6, D1, None, None),
        ],
        schema,
    )


def _partner_bundle() -> str:
    """A partner's bundle: the N group's client fingerprint is PARTNER-X's, until day 2."""
    who = stix2.Identity(name="partner-cert", identity_class="organization")
    actor = stix2.ThreatActor(name="PARTNER-X", created_by_ref=who.id)
    ind = stix2.Indicator(
        pattern="[x-distillwatch-tls:fingerprint = 'tls-N']",
        pattern_type="stix",
        valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        valid_until=dt.datetime(2026, 2, 4, tzinfo=dt.timezone.utc),
        confidence=95,
        created_by_ref=who.id,
    )
    rel = stix2.Relationship(ind, "indicates", actor, created_by_ref=who.id)
    return str(stix2.Bundle(who, actor, ind, rel).serialize())


def _review(ctx: JobContext, *argv: str) -> str:
    parser = argparse.ArgumentParser()
    review.add_arguments(parser)
    args = parser.parse_args([*argv, "--analyst", "ana", "--decided-at", DECIDED.isoformat()])
    return review.record(ctx, args)


def _daily(ctx: JobContext, day: dt.date) -> dict[str, Any]:
    rows = ctx.lake.read(tables.CAMPAIGN_ATTRIBUTION_DAILY).where(F.col("event_date") == day).collect()
    members = ctx.lake.read(tables.CAMPAIGN_MEMBERS).where(F.col("event_date") == day).collect()
    by_id: dict[str, set[str]] = {}
    for m in members:
        by_id.setdefault(m.campaign_id, set()).add(m.account_id)
    return {r.campaign_id: (r, by_id.get(r.campaign_id, set())) for r in rows}


@pytest.fixture(scope="module")
def world(ctx: JobContext, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("review")
    job_ctx = JobContext(
        cfg=dataclasses.replace(ctx.cfg, database="t_" + os.urandom(4).hex(), attribution=REVIEW_CONF),
        landing=str(root / "landing"),
        lakehouse_root=str(root / "lakehouse"),
    )
    job_ctx.__dict__["spark"] = ctx.spark
    spark, lake = ctx.spark, job_ctx.lake
    days = [_day_rows(D1, HYDRA), _day_rows(D2, []), _day_rows(D3, ["h1", "h2", "h3", "h4"])]
    silver = _silver(spark, [r for d in days for r in d[0]])
    silver = silver.withColumn("input_tokens", F.lit(100).cast("bigint")).withColumn(
        "output_tokens", F.lit(1000).cast("bigint")
    )
    lake.append(silver, tables.SILVER_EXCHANGES, ("event_date",))
    lake.append(spark.createDataFrame([f for d in days for f in d[2]], FEATURES).withColumn(
        "n_exchanges", F.lit(4).cast("bigint")).withColumn("verified", F.lit(0.0)),
        tables.ACCOUNT_DAILY_FEATURES, ("event_date",))  # fmt: skip
    lake.append(
        spark.createDataFrame([s for d in days for s in d[1]], SCORES), tables.ACCOUNT_SCORES, ("event_date",)
    )
    lake.overwrite(_intel(spark), tables.THREAT_INTEL)
    stix_dir = root / "landing" / job_ctx.cfg.sharing.landing_dir
    stix_dir.mkdir(parents=True)
    (stix_dir / "partner.json").write_text(_partner_bundle())
    _ingest_partner_stix(job_ctx)
    lake.overwrite(spark.createDataFrame([], tables.schema(tables.LABELS)), tables.LABELS)

    assert attribute.run(job_ctx, argparse.Namespace(date=D1)) == 0
    day1 = _daily(job_ctx, D1)
    ids = {frozenset(m): cid for cid, (_, m) in day1.items()}
    hydra, kestrel = ids[frozenset(HYDRA)], ids[frozenset(KESTREL)]
    decisions = {
        "dismiss": _review(job_ctx, "dismiss", "--campaign", hydra, "--reason", "a reseller we tolerate"),
        "cannot": _review(
            job_ctx, "cannot-link", "--account", "k1", "--account", "k4", "--reason", "two operators"
        ),
        "confirm": _review(
            job_ctx, "confirm", "--campaign", kestrel, "--actor", "OSPREY", "--reason", "case 17"
        ),
    }
    out: dict[str, Any] = {
        "ctx": job_ctx,
        "hydra": hydra,
        "kestrel": kestrel,
        "decisions": decisions,
        1: day1,
    }
    for n, day in ((2, D2), (3, D3)):
        assert attribute.run(job_ctx, argparse.Namespace(date=day)) == 0
        out[n] = _daily(job_ctx, day)
    assert attribute.run(job_ctx, argparse.Namespace(date=D3)) == 0  # the rerun
    out["rerun"] = _daily(job_ctx, D3)
    yield out


def _members_of(day: dict[str, Any]) -> set[frozenset[str]]:
    return {frozenset(m) for _, m in day.values()}


@pytest.mark.slow
def test_decisions_are_appended_with_who_when_why_and_the_campaigns_scope(world: dict[str, Any]) -> None:
    rows = {r.decision_id: r for r in world["ctx"].lake.read(tables.ANALYST_DECISIONS).collect()}
    d = rows[world["decisions"]["dismiss"]]
    assert (d.action, d.analyst, d.decided_at, d.reason) == (
        "dismiss",
        "ana",
        DECIDED,
        "a reseller we tolerate",
    )
    assert d.scope_accounts == HYDRA and "tls_fp:tls-H" in d.scope_indicators
    assert rows[world["decisions"]["cannot"]].other_account_id == "k4"


@pytest.mark.slow
def test_a_dismissed_campaign_stays_dismissed_across_two_days_and_a_rerun(world: dict[str, Any]) -> None:
    assert frozenset(HYDRA) in _members_of(world[1])
    for day in (2, 3, "rerun"):  # day 3: back after a quiet day, it would be new under a new id
        assert not any(m & {"h1", "h2", "h3", "h4"} for m in _members_of(world[day])), day
        assert world["hydra"] not in world[day]
    camps = {r.campaign_id: r for r in world["ctx"].lake.read(tables.CAMPAIGNS).collect()}
    assert camps[world["hydra"]].status == "dismissed"
    assert not any(r.status == "new" and r.first_seen == D3 for r in camps.values())


@pytest.mark.slow
def test_a_cannot_link_splits_the_campaign_the_next_day(world: dict[str, Any]) -> None:
    kestrel = world["kestrel"]
    assert world[1][kestrel][1] == set(KESTREL)
    day2 = world[2]
    assert day2[kestrel][1] == {"k1", "k2", "k3"}  # the id stays with the first side
    (split,) = [cid for cid, (_, m) in day2.items() if m == {"k4", "k5", "k6"}]
    assert json.loads(day2[split][0].evidence)["lineage"]["split_from"] == kestrel
    assert not any({"k1", "k4"} <= m for m in _members_of(world[3]))


@pytest.mark.slow
def test_a_confirmed_actor_overrides_intel(world: dict[str, Any]) -> None:
    row1, row2 = world[1][world["kestrel"]][0], world[2][world["kestrel"]][0]
    assert (row1.actor, row1.confidence) == ("kestrel", 0.88)
    assert (row2.actor, row2.confidence) == ("OSPREY", 1.0)
    assert json.loads(row2.evidence)["confirmed_by"] == world["decisions"]["confirm"]


@pytest.mark.slow
def test_an_expired_partner_indicator_no_longer_attributes(world: dict[str, Any]) -> None:
    n_id = next(cid for cid, (_, m) in world[1].items() if m == {"n1", "n2", "n3"})
    row1 = world[1][n_id][0]
    assert (row1.actor, row1.confidence) == ("PARTNER-X", 0.95)  # listed until day 2 00:00
    row2 = world[2][n_id][0]
    assert row2.actor is None  # expired: found, no longer attributed
    assert "tls-N" not in row2.evidence
    intel = world["ctx"].lake.read(tables.THREAT_INTEL)
    stix_row = intel.where(F.col("source") == "stix:partner-cert").first()
    assert stix_row.source_ref.startswith("indicator--") and stix_row.valid_until == dt.datetime(2026, 2, 4)
    assert {r.value for r in intel_in_force(intel, D1).collect()} == {"pay-K", "tls-K", "tls-N"}
    assert {r.value for r in intel_in_force(intel, D2).collect()} == {"pay-K", "tls-K"}


@pytest.mark.slow
def test_a_confirmation_becomes_a_training_label_from_its_timestamp_on(world: dict[str, Any]) -> None:
    ctx = world["ctx"]
    lake = ctx.lake
    lineage = [
        TableLineage(
            tables.LABELS, lake.path(tables.LABELS), lake.version(tables.LABELS), lake.read(tables.LABELS)
        )
    ]
    labels = training_labels_of(ctx, lineage[0].df, lineage)
    assert [t.name for t in lineage] == [tables.LABELS, tables.ANALYST_DECISIONS]
    features = lake.read(tables.ACCOUNT_DAILY_FEATURES)

    def labelled(as_of: dt.date) -> dict[str, tuple[float, str | None]]:
        rows = training_set(features, labels, as_of).where(F.col("event_date") == D1).collect()
        return {r.account_id: (r.label, r.campaign) for r in rows}

    assert labelled(D1) == {}  # decided on the morning of day 2: not known at the end of day 1
    after = labelled(D2)
    kestrel = world["kestrel"]
    assert {a: v for a, v in after.items() if a.startswith("k")} == {a: (1.0, kestrel) for a in KESTREL}
    assert {a: v for a, v in after.items() if a.startswith("h")} == {a: (0.0, None) for a in HYDRA}
    # later members are candidates for review, with the decision that spread them; not trained on
    cand = review.refresh_labels(ctx)
    spread = {(r.account_id, r.provenance) for r in cand.where("candidate").collect()}
    assert spread == set()  # kestrel kept its accounts; the split side left under another id
    direct = {r.provenance for r in cand.where("NOT candidate").collect()}
    assert direct == {f"confirm:{kestrel}", f"dismiss:{world['hydra']}"}


@pytest.mark.slow
def test_a_stix_bundle_exported_and_reingested_round_trips_and_validates(
    world: dict[str, Any], tmp_path: Any
) -> None:
    ctx = world["ctx"]
    kestrel = world["kestrel"]
    text = sharing.export_bundle(ctx, kestrel, D1)
    assert sharing.validation_errors(text) == []
    assert sharing.validation_errors(text.replace('"pattern": "[', '"pattern": "[[', 1)) != []
    bundle = json.loads(text)
    types = {o["type"] for o in bundle["objects"]}
    assert types == {"identity", "campaign", "threat-actor", "relationship", "indicator"}
    ours = next(o for o in bundle["objects"] if o["type"] == "identity")
    indicators = [o for o in bundle["objects"] if o["type"] == "indicator"]
    assert all(o["created_by_ref"] == ours["id"] and o["confidence"] == 88 for o in indicators)
    assert {o["valid_until"][:10] for o in indicators} == {"2026-03-05"}
    assert sharing.export_bundle(ctx, kestrel, D1) == text  # same objects, same ids

    back_ctx = dataclasses.replace(ctx, landing=str(tmp_path))
    back_ctx.__dict__["spark"] = ctx.spark
    folder = tmp_path / ctx.cfg.sharing.landing_dir
    folder.mkdir()
    (folder / "ours.json").write_text(text)
    back = sharing.partner_threat_intel(back_ctx).collect()
    want = {
        (r.ind_type, r.ind_value)
        for r in ctx.lake.read(tables.CAMPAIGN_INDICATORS)
        .where((F.col("campaign_id") == kestrel) & (F.col("event_date") == D1))
        .where(F.col("ind_type").isin(*ctx.cfg.sharing.export_types))
        .collect()
    }
    assert {(r.indicator_type, r.value) for r in back} == want and ("payment_fp", "pay-K") in want
    assert {(r.actor, r.source, r.confidence, r.first_seen) for r in back} == {
        ("kestrel", "stix:distillwatch", 0.88, D1)
    }


@pytest.mark.slow
def test_enforcement_never_acts_on_a_dismissed_campaigns_accounts(world: dict[str, Any]) -> None:
    ctx = world["ctx"]
    assert enforce.run(ctx, argparse.Namespace(date=D3)) == 0
    rows = {r.account_id: r for r in ctx.lake.read(tables.ENFORCEMENT_ACTIONS).collect()}
    assert not {"h1", "h2", "h3"} & set(rows)  # flagged, but their campaign was dismissed
    # h4 joined the dismissed cluster after the review: no campaign member, only its own flag
    assert "campaign_member" not in rows["h4"].reason_codes and rows["h4"].campaign_id is None
    k1 = rows["k1"]
    assert (k1.action, k1.actor, k1.campaign_confidence) == ("suspend", "OSPREY", 1.0)
    assert {"campaign_member", "confirmed_campaign"} <= set(k1.reason_codes)
    assert rows["e1"].action in ("monitor", "require_verification", "rate_limit")  # flagged, no campaign


@pytest.mark.slow
def test_impact_counts_each_day_and_the_total_since_first_seen(world: dict[str, Any]) -> None:
    lake = world["ctx"].lake
    rows = lake.read(tables.CAMPAIGN_IMPACT_DAILY).where(F.col("campaign_id") == world["kestrel"]).collect()
    by_day = {r.event_date: r for r in rows if r.capability == "reasoning_math"}
    assert (by_day[D1].n_exchanges, by_day[D1].total_exchanges) == (24, 24)  # 6 accounts x 4
    assert (by_day[D2].n_exchanges, by_day[D2].total_exchanges) == (12, 36)  # after the split: 3 x 4
    assert by_day[D3].total_output_tokens == 48 * 1000 and by_day[D3].first_seen == D1


def test_decision_labels_spread_to_linked_accounts_as_candidates(spark: Any) -> None:
    from distillwatch.pipelines.decisions import decision_labels, in_force

    schema = tables.schema(tables.ANALYST_DECISIONS)
    t0, t1, t2 = (dt.datetime(2026, 2, d, 9) for d in (1, 2, 3))
    none: list[str] = []
    decisions = spark.createDataFrame(
        [
            ("l1", t0, "ana", "label", None, "a1", None, None, "distillation", "r", None, none, none),
            ("m1", t0, "ana", "must_link", None, "a1", "a2", None, None, "r", None, none, none),
            ("c1", t0, "ana", "confirm", "C-1", None, None, "KESTREL", None, "r", None, ["b1"], none),
            ("d1", t1, "bob", "dismiss", "C-1", None, None, None, None, "r", None, ["b1"], none),
            ("x1", t2, "bob", "revoke", None, None, None, None, None, "r", "d1", none, none),
        ],
        schema,
    )
    members = spark.createDataFrame(
        [(dt.date(2026, 2, 1), "C-1", "b1", 0.9, 0.9, []), (dt.date(2026, 2, 2), "C-1", "b2", 0.9, 0.9, [])],
        tables.schema(tables.CAMPAIGN_MEMBERS),
    )
    # the dismissal of C-1 was revoked: its confirmation is in force again
    assert {r.decision_id for r in in_force(decisions).collect()} == {"l1", "m1", "c1"}
    got = {
        (r.account_id, r.label, r.campaign, r.provenance, r.candidate)
        for r in decision_labels(decisions, members).collect()
    }
    assert got == {
        ("a1", "distillation", None, "label", False),
        ("b1", "distillation", "C-1", "confirm:C-1", False),
        ("a2", "distillation", None, "must_link:m1", True),
        ("b2", "distillation", "C-1", "member_of:C-1", True),
    }


def test_report_lists_every_suite_and_the_review_sections() -> None:
    from distillwatch.render import ReportData, render_report

    camp = {"campaign_id": "C-1", "actor": None, "confidence": None, "status": "new", "n_accounts": 3,
            "n_exchanges": 9, "new_model_share": 0.0, "population_new_model_share": 0.0}  # fmt: skip
    dq = [{"table_name": "account_scores", "run_id": "r1", "expectation": "x", "column_name": None,
           "critical": True, "success": True, "observed_value": None}]  # fmt: skip
    page = render_report(
        ReportData(
            D1, [camp], [{"event_date": D1, "campaign_id": "C-1", "n_exchanges": 9}], dq=dq,
            suites=["account_scores", "enforcement_actions", "silver_exchanges"], pending=[camp],
            decisions=[{"decided_at": DECIDED, "analyst": "ana", "action": "dismiss", "campaign_id": "C-9",
                        "reason": "reseller"}],
            action_counts=[{"action": "suspend", "n_accounts": 2, "collateral_exchanges": 0}],
            actions=[{"account_id": "k1", "action": "suspend", "reason_codes": ["campaign_member", "flagged"]}],
        )
    )  # fmt: skip
    assert "<td>enforcement_actions</td><td class='note'>not validated this day</td>" in page
    assert "<td>silver_exchanges</td><td class='note'>not validated this day</td>" in page
    assert "<td>account_scores</td><td class='ok'>passed</td>" in page
    assert "pending review<b>1</b>" in page and "suspensions<b>2</b>" in page
    assert "<td>reseller</td>" in page and "<td>campaign_member, flagged</td>" in page
