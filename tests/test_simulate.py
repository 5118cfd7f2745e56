"""The synthetic world: deterministic, consistent with its truth, every campaign present
with its signature, noise present. One tiny world (scale 0.002, 3 days) is written once."""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillwatch.context import JobContext
from distillwatch.contract import EXCHANGE_TEXT_SCHEMA
from distillwatch.jobs import simulate as job
from distillwatch.jobs.features import load_patterns
from distillwatch.pipelines.intent import add_content_labels
from distillwatch.pipelines.ip import ip_prefix
from distillwatch.simulate.evasion import EVASIONS, Evasion, parse_switches
from distillwatch.simulate.populations import ACTORS, FREE_MAIL
from distillwatch.simulate.prompts import load_bank
from distillwatch.simulate.settings import SettingsError, WorldSettings
from distillwatch.simulate.world import NEW_MODEL, build_world, plan_world

START, DAYS, SCALE, SEED = "2026-02-01", 3, 0.002, 11
A, B, C, D = (ACTORS[k][0] for k in "ABCD")


@pytest.fixture(scope="module")
def world_dir(ctx: JobContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    args = argparse.Namespace(out=str(out), start=START, days=DAYS, scale=SCALE, seed=SEED)
    assert job.run(ctx, args) == 0
    return out


@pytest.fixture(scope="module")
def landing(spark: SparkSession, world_dir: Path) -> DataFrame:
    """Landing exchange lines with their folder date and parsed fields (null when unparseable)."""
    raw = spark.read.text(str(world_dir / "landing" / "exchanges"))  # date= folders become a column
    parsed = raw.select("date", "value", F.from_json("value", EXCHANGE_TEXT_SCHEMA).alias("r"))
    return parsed.select("date", "value", "r.*").cache()


@pytest.fixture(scope="module")
def truth(spark: SparkSession, world_dir: Path) -> DataFrame:
    return spark.read.parquet(str(world_dir / "truth" / "exchanges")).cache()


@pytest.fixture(scope="module")
def truth_accounts(spark: SparkSession, world_dir: Path) -> DataFrame:
    return spark.read.parquet(str(world_dir / "truth" / "accounts")).cache()


def _jsonl(spark: SparkSession, world_dir: Path, name: str) -> DataFrame:
    return spark.read.json(str(world_dir / "landing" / name))


def test_layout_follows_the_landing_contract(world_dir: Path) -> None:
    landing = world_dir / "landing"
    for name in ("exchanges", "accounts"):
        dates = sorted(p.name for p in (landing / name).glob("date=*"))
        assert dates == ["date=2026-02-01", "date=2026-02-02", "date=2026-02-03"]
        assert all(list(p.glob("part-*.jsonl.gz")) for p in (landing / name).glob("date=*"))
    for name in ("ip_intel", "threat_intel", "model_releases", "labels"):
        assert list((landing / name).glob("part-*.jsonl.gz")), name
    assert not (landing / "truth").exists() and (world_dir / "truth" / "world.json").is_file()
    world = json.loads((world_dir / "truth" / "world.json").read_text())
    assert world["seed"] == SEED and world["days"] == DAYS and world["new_model"] == NEW_MODEL
    assert set(world["actors"]) == {A, B, C, D}


@pytest.mark.slow
def test_same_seed_gives_identical_records_and_another_seed_does_not(
    spark: SparkSession, landing: DataFrame
) -> None:
    written = sorted(
        (r.date.isoformat() if hasattr(r.date, "isoformat") else str(r.date), r.value)
        for r in landing.select("date", "value").collect()
    )
    # regenerated at a different parallelism: records depend on the seed only
    again = build_world(spark, START, DAYS, SCALE, SEED).landing_exchanges.repartition(3)
    assert sorted((r.date, r.value) for r in again.select("date", "value").collect()) == written
    other = build_world(spark, START, DAYS, SCALE, SEED + 1).landing_exchanges
    other_ids = {r.request_id for r in other.select("request_id").collect()}
    assert not other_ids & {r.request_id for r in landing.select("request_id").collect()}


def test_every_unbroken_landing_record_is_in_the_truth(landing: DataFrame, truth: DataFrame) -> None:
    broken_ids = truth.where(F.col("noise") == "broken").select("request_id")
    ok = landing.where(F.col("request_id").isNotNull()).join(broken_ids, "request_id", "left_anti")
    missing = ok.join(truth, "request_id", "left_anti")
    assert ok.count() > 5000 and missing.count() == 0
    assert truth.count() == truth.select("request_id").distinct().count()


def test_noise_is_present_and_labelled(landing: DataFrame, truth: DataFrame) -> None:
    kinds = {r.noise: r["count"] for r in truth.groupBy("noise").count().collect()}
    total = sum(kinds.values())
    # 2% are late, except on the last day (nothing can be delivered after the window)
    assert 0.01 < kinds["late"] / total < 0.03 and 0.005 < kinds["duplicate"] / total < 0.02
    assert kinds["broken"] >= DAYS
    late = truth.where(F.col("noise") == "late").select(
        F.datediff("delivery_date", "event_date").alias("lag")
    )
    assert {r.lag for r in late.collect()} <= {1, 2, 3}
    # a duplicate is one request delivered twice, with the same line
    dup_ids = truth.where(F.col("noise") == "duplicate").select("request_id")
    per_id = (
        landing.join(dup_ids, "request_id")
        .groupBy("request_id")
        .agg(F.count("*").alias("n"), F.countDistinct("value").alias("lines"))
    )
    assert per_id.where((F.col("n") != 2) | (F.col("lines") != 1)).count() == 0
    # broken lines each day: unparseable, missing a required field, negative tokens, bad ts or IP
    bad = landing.where(
        F.col("request_id").isNull()
        | F.col("account_id").isNull()
        | F.col("ts").rlike("T2[4-9]")
        | F.col("input_tokens").startswith("-")
        | F.col("client_ip").startswith("999.")
    )
    assert bad.select("date").distinct().count() == DAYS


def test_campaign_accounts_are_in_every_account_snapshot(
    spark: SparkSession, world_dir: Path, truth_accounts: DataFrame
) -> None:
    snaps = _jsonl(spark, world_dir, "accounts")
    counts = {r.actor: r["count"] for r in truth_accounts.groupBy("actor").count().collect()}
    assert counts[A] >= 8 and counts[B] >= 30 and counts[C] >= 150 and counts[D] >= 4
    campaign = truth_accounts.where(F.col("campaign").isNotNull()).select("account_id")
    per_day = campaign.join(snaps, "account_id").groupBy("date").count().collect()
    assert len(per_day) == DAYS and all(r["count"] == campaign.count() for r in per_day)


def test_threat_intel_values_really_occur(spark: SparkSession, world_dir: Path, landing: DataFrame) -> None:
    intel = _jsonl(spark, world_dir, "threat_intel")
    accounts = _jsonl(spark, world_dir, "accounts")
    ip_intel = _jsonl(spark, world_dir, "ip_intel")
    assert {r.actor for r in intel.select("actor").distinct().collect()} == {A, B, C}
    traffic = {
        "ip_prefix": landing.select(ip_prefix(F.col("client_ip")).alias("v")),
        "tls_fp": landing.select(F.col("tls_fp").alias("v")),
        "user_agent": landing.select(F.col("user_agent").alias("v")),
        "prompt_example": landing.select(F.col("prompt").alias("v")),
        "payment_fp": accounts.select(F.col("payment_fp").alias("v")),
        "email_domain": accounts.select(F.col("email_domain").alias("v")),
        "asn": ip_intel.select(F.col("asn").cast("string").alias("v")),
    }
    types = {r.indicator_type for r in intel.select("indicator_type").distinct().collect()}
    assert types == set(traffic)
    for itype, seen in traffic.items():
        values = intel.where(F.col("indicator_type") == itype).select(F.col("value").alias("v"))
        assert values.join(seen.distinct(), "v", "left_anti").count() == 0, itype
    # the mis-listed indicator: a low-confidence prefix that students (legitimate) use
    weak = intel.where(F.col("confidence") < 0.35).select(F.col("value").alias("v"))
    students = (
        landing.join(spark.read.parquet(str(world_dir / "truth" / "exchanges")), "request_id")
        .where(F.col("population") == "student")
        .select(ip_prefix(F.col("client_ip")).alias("v"))
    )
    assert weak.join(students, "v").count() > 0


def test_actor_a_asks_for_reasoning_in_english_and_chinese(landing: DataFrame, truth: DataFrame) -> None:
    a = landing.join(truth.where(F.col("actor") == A).select("request_id"), "request_id").select(
        "prompt", "account_id"
    )
    prompts = [r.prompt for r in a.collect()]
    assert any("step-by-step reasoning" in p or "step by step" in p for p in prompts)
    assert any("推理过程" in p for p in prompts) and any("评分标准" in p for p in prompts)
    assert any("敏感问题" in p or "politically" in p for p in prompts)
    # round-robin: every account carries about the same load
    loads = [r["count"] for r in a.groupBy("account_id").count().collect()]
    assert max(loads) - min(loads) <= 2


def test_hydra_rotates_proxies_and_mixes_resold_traffic(
    spark: SparkSession, world_dir: Path, landing: DataFrame, truth: DataFrame
) -> None:
    ip_intel = _jsonl(spark, world_dir, "ip_intel")
    c = landing.join(
        truth.where(F.col("actor") == C).select("request_id", "is_campaign_traffic"), "request_id"
    ).select("account_id", "is_campaign_traffic", "model", ip_prefix(F.col("client_ip")).alias("prefix"))
    known = c.join(ip_intel, "prefix")
    assert known.where(~(F.col("is_proxy") | F.col("is_hosting"))).count() == 0 and known.count() > 0
    mixed = c.groupBy("account_id").agg(F.countDistinct("is_campaign_traffic").alias("kinds"))
    assert mixed.where(F.col("kinds") == 2).count() > 0
    assert c.where(~F.col("is_campaign_traffic")).count() > 0


def test_new_model_share_rises_after_release_fastest_for_the_hydra(
    landing: DataFrame, truth: DataFrame
) -> None:
    plan = plan_world(START, DAYS, SCALE, SEED)
    after = landing.where(F.col("ts") >= plan.release_ts).join(
        truth.select("request_id", "actor", "is_campaign_traffic"), "request_id"
    )
    before = landing.where(F.col("ts") < plan.release_ts)
    assert before.where(F.col("model") == NEW_MODEL).count() == 0

    def share(df: DataFrame) -> float:
        row = df.agg(F.avg((F.col("model") == NEW_MODEL).cast("double")).alias("s")).first()
        return float(row.s or 0.0)

    hydra = share(after.where(F.col("is_campaign_traffic") & (F.col("actor") == C)))
    legit = share(after.where(F.col("actor").isNull()))
    # the test window ends 8 h after the release: accounts switch 0-12 h after it
    assert hydra > 0.1 and legit < hydra / 2


def test_broad_and_quiet_campaigns_have_their_signatures(
    landing: DataFrame, truth: DataFrame, spark: SparkSession, world_dir: Path
) -> None:
    b = landing.join(truth.where(F.col("actor") == B), "request_id")
    assert b.where(F.col("n_tools").cast("int") > 0).count() > 0
    assert b.where(F.col("has_image") == "true").count() > 0
    d = landing.join(truth.where(F.col("actor") == D), "request_id")
    assert d.select("tls_fp").distinct().count() == 1
    ip_intel = _jsonl(spark, world_dir, "ip_intel")
    asns = (
        d.select(ip_prefix(F.col("client_ip")).alias("prefix"))
        .join(ip_intel, "prefix")
        .select("asn")
        .distinct()
    )
    assert asns.count() == 1
    labels = _jsonl(spark, world_dir, "labels")
    assert labels.where(F.col("actor") == D).count() == 0


def test_labels_cover_part_of_each_known_actor_and_some_hard_negatives(
    spark: SparkSession, world_dir: Path, truth_accounts: DataFrame
) -> None:
    labels = _jsonl(spark, world_dir, "labels")
    joined = truth_accounts.join(labels.select("account_id", "label"), "account_id", "left")
    for actor in (A, B, C):
        acts = joined.where(F.col("actor") == actor)
        share = acts.where(F.col("label") == "distillation").count() / acts.count()
        assert 0.2 <= share <= 0.6, (actor, share)
    benign = joined.where(F.col("label") == "benign").select("population").distinct().collect()
    assert {"enterprise", "student", "individual"} <= {r.population for r in benign}


def test_legitimate_traffic_dominates_and_the_hydra_is_the_largest_campaign(truth: DataFrame) -> None:
    total = truth.count()
    camp = {
        r.actor: r["count"]
        for r in truth.where(F.col("is_campaign_traffic")).groupBy("actor").count().collect()
    }
    legit_share = 1 - sum(camp.values()) / total
    assert 0.84 <= legit_share <= 0.91
    assert max(camp, key=camp.__getitem__) == C


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        plan_world(START, 1, SCALE, SEED)
    with pytest.raises(ValueError, match="scale"):
        plan_world(START, DAYS, 0.0, SEED)


# --- evasion switches ---------------------------------------------------------------------
CAMPAIGN_POPS = ("campaign_a", "campaign_b", "campaign_c", "campaign_d")


@pytest.fixture(scope="module")
def evasive(spark: SparkSession) -> dict[str, object]:
    """The world of the same seed with every switch on, generated (not written); its campaign
    exchanges, the ordinary clients' user agents and TLS fingerprints, and its intel, collected."""
    world = build_world(spark, START, DAYS, SCALE, SEED, evasion=Evasion.of(EVASIONS))
    ex = world.noisy_exchanges.select(
        "population", "actor", "campaign", "is_campaign_traffic", "day", "ts_ms", "account_id",
        "_net", "_prefix", "user_agent", "tls_fp", "prompt",
    ).cache()  # fmt: skip
    ordinary = ex.where(F.col("population").isin("individual", "student", "agent_dev"))
    return {
        "world": world,
        "campaign": [r.asDict() for r in ex.where(F.col("actor").isNotNull()).collect()],
        "ordinary_clients": {(r.user_agent, r.tls_fp) for r in ordinary.select("user_agent", "tls_fp").distinct().collect()},
        "truth_kinds": {tuple(r) for r in ex.select("population", "actor", "campaign", "is_campaign_traffic").distinct().collect()},
        "accounts": [r.asDict() for r in world.accounts.where(F.col("actor").isNotNull()).collect()],
        "intel": [r.asDict() for r in world.threat_intel().collect()],
    }  # fmt: skip


def test_evasion_keeps_the_truth_and_the_plain_world(
    spark: SparkSession, evasive: dict, truth: DataFrame
) -> None:  # type: ignore[type-arg]
    plain = plan_world(START, DAYS, SCALE, SEED)
    plan = evasive["world"].plan  # type: ignore[attr-defined]
    kinds = {
        tuple(r)
        for r in truth.select("population", "actor", "campaign", "is_campaign_traffic").distinct().collect()
    }
    assert evasive["truth_kinds"] == kinds  # the same populations, actors, campaigns and traffic kinds
    for pop in CAMPAIGN_POPS:  # slow: three times the accounts, the same volume
        assert plan.census.accounts[pop] == 3 * plain.census.accounts[pop]
        assert plan.census.volumes.get(pop) == plain.census.volumes[pop] or pop == "campaign_c"
    hydra = plan.census.volumes["campaign_c"] + plan.census.volumes["hydra_resold"]
    assert hydra == plain.census.volumes["campaign_c"] + plain.census.volumes["hydra_resold"]
    assert abs(plan.census.volumes["hydra_resold"] / hydra - 0.7) < 0.01  # mix at the default share
    assert json.loads(plan.world_json())["evasion"]["switches"] == list(EVASIONS)
    assert "evasion" not in json.loads(plain.world_json())  # the plain world's summary is unchanged


def test_paraphrase_escapes_the_keyword_rules_in_seven_languages(spark: SparkSession, evasive: dict) -> None:  # type: ignore[type-arg]
    patterns = load_patterns("v2")
    asks = [r for r in evasive["campaign"] if r["population"] == "campaign_a"]
    rows = spark.createDataFrame([(r["prompt"],) for r in asks], "prompt string").select(
        "prompt", F.lit(None).cast("string").alias("system_prompt"), F.lit(0).alias("n_tools"),
        F.lit(0).alias("tool_calls"), F.lit(False).alias("has_image"),
    )  # fmt: skip
    labelled = add_content_labels(rows, patterns).collect()
    assert not any(r.cot_elicitation or r.rubric_grading or r.sensitive_rewrite for r in labelled)
    assert {"en", "zh", "ja", "ko", "ru", "es", "de"} <= {r.lang for r in labelled}
    # fillers: the same template with different words around it across exchanges
    assert len({r["prompt"] for r in asks}) > 0.9 * len(asks)


def test_drift_moves_glass_heron_to_other_families_mid_window(evasive: dict) -> None:  # type: ignore[type-arg]
    bank = load_bank()
    para = [t for i in ("reasoning", "rubric", "sensitive") for t in bank.family(f"para_{i}")]
    plan = evasive["world"].plan  # type: ignore[attr-defined]

    def family(prompt: str) -> int:
        # a template's longest literal piece identifies it
        hits = [i for i, t in enumerate(para) if max(re.split(r"\{[A-Z0-9_]+\}", t), key=len) in prompt]
        assert len(hits) == 1, prompt
        return hits[0]

    asks = [r for r in evasive["campaign"] if r["population"] == "campaign_a"]
    early = {family(r["prompt"]) for r in asks if r["day"] < plan.days // 2}
    late = {family(r["prompt"]) for r in asks if r["day"] >= plan.days // 2}
    assert early and late and not early & late


def test_rotate_and_slow_hide_the_infrastructure_and_the_lockstep(evasive: dict) -> None:  # type: ignore[type-arg]
    plan = evasive["world"].plan  # type: ignore[attr-defined]
    net = plan.net
    residential = set(net.ids("res-"))
    camp = evasive["campaign"]
    assert {r["_net"] for r in camp} <= residential
    assert {(r["user_agent"], r["tls_fp"]) for r in camp} <= evasive["ordinary_clients"]
    accounts = evasive["accounts"]
    assert len({a["payment_fp"] for a in accounts}) == len(accounts)  # one card each
    assert {a["email_domain"] for a in accounts} <= set(FREE_MAIL)
    # the intel describes what the actors used before: none of it occurs any more
    seen = {
        "ip_prefix": {r["_prefix"] for r in camp},
        "tls_fp": {r["tls_fp"] for r in camp},
        "user_agent": {r["user_agent"] for r in camp},
        "payment_fp": {a["payment_fp"] for a in accounts},
        "email_domain": {a["email_domain"] for a in accounts},
    }
    intel = evasive["intel"]
    assert {i["indicator_type"] for i in intel} >= {"ip_prefix", "payment_fp", "tls_fp", "user_agent"}
    assert not [i for i in intel if i["value"] in seen.get(i["indicator_type"], set())]
    # slow: no round robin (loads differ), and the hours follow a diurnal curve, not a flat one
    loads = collections.Counter(r["account_id"] for r in camp if r["population"] == "campaign_a")
    assert (
        len(loads) > plan.census.accounts["campaign_a"] / 2 and max(loads.values()) - min(loads.values()) > 2
    )
    hours = collections.Counter((r["ts_ms"] // 3_600_000) % 24 for r in camp)
    assert max(hours.values()) > 3 * min(hours.get(h, 0) for h in range(24))


def test_evasion_settings_are_validated() -> None:
    assert parse_switches("paraphrase, rotate") == ("paraphrase", "rotate")
    assert parse_switches("all") == EVASIONS and parse_switches(None) == ()
    assert WorldSettings().override(evasion=("mix",), resold_share=0.1).evasion_plan().resold_share == 0.1
    with pytest.raises(SettingsError, match="unknown evasion"):
        WorldSettings(evasion=("stealth",))
    with pytest.raises(SettingsError, match="resold_share"):
        WorldSettings(evasion=("mix",), resold_share=1.5)
    with pytest.raises(ValueError, match="does not combine with prompts real"):
        plan_world(START, DAYS, SCALE, SEED, prompts="real", evasion=Evasion.of(["paraphrase"]))
    mixed = plan_world(START, DAYS, SCALE, SEED, evasion=Evasion.of(["mix"], resold_share=0.1)).census.volumes
    assert abs(mixed["hydra_resold"] / (mixed["hydra_resold"] + mixed["campaign_c"]) - 0.1) < 0.01
