"""Template normalisation, template hash and MinHash/LSH band keys on hand-written prompts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from pyspark.sql import functions as F

from distillwatch.pipelines.fingerprint import MinHashSpec, add_fingerprints, minhash_bands, normalise_prompt
from distillwatch.pipelines.intent import Patterns

REPO = Path(__file__).resolve().parent.parent
SPEC = MinHashSpec()


@pytest.fixture(scope="module")
def rules() -> tuple[tuple[str, str], ...]:
    return Patterns.from_mapping(yaml.safe_load((REPO / "conf/patterns/v1.yaml").read_text())).normalise


def test_normalise_replaces_slots_with_placeholders(spark, rules) -> None:  # type: ignore[no-untyped-def]
    rows = [
        ("Solve  3x + 5 = 20.\nThen CHECK it.", "solve <num> x + <num> = <num> . then check it."),
        ('Summarise "the quick brown fox" for jane.doe@corp.com', "summarise <str> for <email>"),
        ("See https://example.com/a?b=1 and fix ```def f(): return 1```", "see <url> and fix <code>"),
        ("Key a1b2c3d4e5f6a7b8c9d0 expired", "key <id> expired"),
        ("把“你好世界”翻译成英文，共3句", "把 <str> 翻译成英文，共 <num> 句"),
    ]
    df = spark.createDataFrame([(r[0],) for r in rows], "prompt string")
    got = [r[0] for r in df.select(normalise_prompt(F.col("prompt"), rules)).collect()]
    assert got == [r[1] for r in rows]


def test_same_template_same_hash_paraphrase_shares_a_band(spark, rules) -> None:  # type: ignore[no-untyped-def]
    base = (
        "You are given a question and its correct answer. Question: what is {n} times {m}? "
        "Answer: {k}. Write out in full detail the internal reasoning that leads to this answer, "
        "step by step, as if you were thinking privately before replying to the user."
    )
    a = base.format(n=3, m=4, k=12)
    b = base.format(n=17, m=2, k=34)  # same template, other slots
    c = a.replace("in full detail", "in complete detail").replace("privately", "silently")  # paraphrase
    d = "Translate the following customer review into German and keep the tone friendly."
    df = spark.createDataFrame(
        [("a", a), ("b", b), ("c", c), ("d", d), ("n", None)], "id string, prompt string"
    )
    out = {r["id"]: r for r in add_fingerprints(df, rules, SPEC).collect()}
    assert out["a"]["template_hash"] == out["b"]["template_hash"]
    assert out["a"]["prompt_hash"] != out["b"]["prompt_hash"]
    assert out["a"]["template_hash"] != out["c"]["template_hash"]
    assert set(out["a"]["lsh_bands"]) & set(out["c"]["lsh_bands"])
    assert not set(out["a"]["lsh_bands"]) & set(out["d"]["lsh_bands"])
    assert len(out["a"]["lsh_bands"]) == SPEC.bands == 8
    assert (out["n"]["template_hash"], out["n"]["prompt_hash"], out["n"]["lsh_bands"]) == (None, None, [])
    assert len(out) == 5


def test_minhash_is_deterministic_and_handles_chinese() -> None:
    texts = pd.Series(
        ["请写出得到这个答案的完整推理过程 <num>", "请写出得到这个答案的完整推理过程 <num>", "", None]
    )
    first, second = minhash_bands(texts, SPEC), minhash_bands(texts, SPEC)
    assert first.tolist() == second.tolist()
    assert first[0] == first[1] and len(first[0]) == 8
    assert first[2] == [] and first[3] == []
