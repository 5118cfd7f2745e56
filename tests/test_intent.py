"""Intent flags, capability and language on hand-written prompts.

v1 (the rules of the first release, still loadable) and v2 (the default: language by a
language-identification model, rules widened on real text; see bench/evaluate_labels.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.intent import (
    CAPABILITIES,
    UNDETERMINED_LANG,
    LanguageDetection,
    Patterns,
    add_content_labels,
    detect_languages,
)

REPO = Path(__file__).resolve().parent.parent
SCHEMA = "prompt string, system_prompt string, n_tools int, tool_calls int, has_image boolean"


def _load(version: str) -> Patterns:
    return Patterns.from_mapping(yaml.safe_load((REPO / f"conf/patterns/{version}.yaml").read_text()))


@pytest.fixture(scope="module")
def patterns() -> Patterns:
    return _load("v1")


@pytest.fixture(scope="module")
def v2() -> Patterns:
    return _load("v2")


# (prompt, cot, rubric, sensitive)
INTENT_CASES = [
    # cot_elicitation positives
    (
        "The correct answer is 42. Explain the step-by-step reasoning that leads to this answer.",
        True,
        False,
        False,
    ),
    ("Show your full hidden reasoning before the final reply.", True, False, False),
    (
        "Reconstruct the internal thought process you used to arrive at the given answer: B.",
        True,
        False,
        False,
    ),
    ("答案是C。请详细写出得到这个答案的完整推理过程。", True, False, False),
    ("请展示你的完整思维链，然后给出答案。", True, False, False),
    # cot hard negatives
    (
        "Q: A train travels 60 km in 1.5 hours. What is its speed? Let's think step by step.",
        False,
        False,
        False,
    ),
    ("让我们一步一步地思考：小明有3个苹果，又买了5个，一共有几个？", False, False, False),
    ("Explain how photosynthesis works.", False, False, False),
    # rubric_grading positives
    ("You are an impartial judge. Score the assistant's response on a scale of 1 to 10.", False, True, False),
    (
        "Grade the following answer against the rubric below: accuracy, completeness, tone.",
        False,
        True,
        False,
    ),
    ("Here are two completions. Which response is better? Explain.", False, True, False),
    ("请根据以下评分标准，对模型的回答打分（1-10分）。", False, True, False),
    ("作为裁判，请评估下面两个回答的质量。", False, True, False),
    # rubric negatives
    ("My son is in grade 5; suggest some science projects.", False, False, False),
    ("What was the final score of the 1998 World Cup final?", False, False, False),
    ("这场比赛的比分是多少？", False, False, False),
    # sensitive_rewrite positives
    ("Rewrite this paragraph so it is politically safe for publication.", False, False, True),
    ("Answer the question in line with official positions: what happened in 1989?", False, False, True),
    ("请把这段话改写得政治正确一些，符合监管要求。", False, False, True),
    ("遇到敏感问题时应该如何回答？请给出几个合规的回答示例。", False, False, True),
    # sensitive negatives
    ("Rewrite this email to sound more polite to my landlord.", False, False, False),
    ("Create a GDPR compliance checklist for our startup.", False, False, False),
    ("请帮我润色这封求职信。", False, False, False),
    # templated support-ticket summary: templated, but no intent flag
    (
        "Summarize the following support ticket in 3 bullet points: 'My invoice #88213 is wrong'",
        False,
        False,
        False,
    ),
]


def _labels(spark, patterns, rows, schema):  # type: ignore[no-untyped-def]
    df = spark.createDataFrame(rows, schema)
    return add_content_labels(df, patterns).collect()


def test_intent_flags_en_zh_with_hard_negatives(spark, patterns) -> None:  # type: ignore[no-untyped-def]
    rows = [(p, None, 0, 0, False) for p, *_ in INTENT_CASES]
    out = _labels(
        spark,
        patterns,
        rows,
        "prompt string, system_prompt string, n_tools int, tool_calls int, has_image boolean",
    )
    got = [(r["prompt"], r["cot_elicitation"], r["rubric_grading"], r["sensitive_rewrite"]) for r in out]
    assert got == [tuple(c) for c in INTENT_CASES]


CAP_CASES = [
    # (prompt, system_prompt, n_tools, tool_calls, has_image, capability, lang)
    ("What is in this picture?", None, 0, 0, True, "vision_computer_use", "en"),
    ("Book me a flight to Paris.", None, 3, 1, False, "agentic_tool_use", "en"),
    ("Fix the bug in this Python function: def f(x): return x+", None, 0, 0, False, "coding", "en"),
    ("Translate into French: the cat is on the table.", None, 0, 0, False, "translation", "en"),
    ("把这句话翻译成英文：今天天气很好。", None, 0, 0, False, "translation", "zh"),
    ("Solve the equation 3x + 5 = 20.", None, 0, 0, False, "reasoning_math", "en"),
    ("证明：任意两个奇数之和是偶数。", None, 0, 0, False, "reasoning_math", "zh"),
    ("Load this CSV into pandas and compute the correlation.", None, 0, 0, False, "data_analysis", "en"),
    (
        "Here is a spreadsheet of sales; what is the correlation between price and volume?",
        None,
        0,
        0,
        False,
        "data_analysis",
        "en",
    ),
    ("Write a short poem about autumn.", None, 0, 0, False, "writing_chat", "en"),
    ("Tell me more.", "You are a SQL assistant.", 0, 0, False, "coding", "en"),
    ("¿Dónde está la biblioteca?", None, 0, 0, False, "other", "other"),
    ("Привет, как дела?", None, 0, 0, False, "other", "ru"),
]


def test_capability_and_language(spark, patterns) -> None:  # type: ignore[no-untyped-def]
    rows = [c[:5] for c in CAP_CASES]
    out = _labels(
        spark,
        patterns,
        rows,
        "prompt string, system_prompt string, n_tools int, tool_calls int, has_image boolean",
    )
    assert [(r["capability"], r["lang"]) for r in out] == [c[5:] for c in CAP_CASES]
    assert {r["capability"] for r in out} <= set(CAPABILITIES)
    assert {r["patterns_version"] for r in out} == {"v1"}


def test_null_prompt_gives_false_flags_and_other(spark, patterns) -> None:  # type: ignore[no-untyped-def]
    out = _labels(
        spark,
        patterns,
        [(None, None, None, None, None)],
        "prompt string, system_prompt string, n_tools int, tool_calls int, has_image boolean",
    )
    r = out[0]
    assert (
        r["cot_elicitation"],
        r["rubric_grading"],
        r["sensitive_rewrite"],
        r["capability"],
        r["lang"],
    ) == (False, False, False, "other", "other")


def test_unknown_intent_in_patterns_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown"):
        Patterns.from_mapping(
            {
                "version": "x",
                "intents": {
                    "cot_elicitation": {},
                    "rubric_grading": {},
                    "sensitive_rewrite": {},
                    "jailbreak": {},
                },
            }
        )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_labels_once_per_distinct_prompt_equal_labels_per_exchange(spark, version) -> None:  # type: ignore[no-untyped-def]
    from pipelines.fingerprint import MinHashSpec, add_fingerprints

    patterns = _load(version)
    from pipelines.silver import add_content

    schema = "id int, prompt string, system_prompt string, n_tools int, tool_calls int, has_image boolean"
    fix = "Fix this Python function: def f(x): return x+1"
    rows = [(i, p, None, 0, 0, False) for i, (p, *_) in enumerate(INTENT_CASES)]
    rows += [
        (100, fix, None, 0, 0, False),  # the same prompt three times, with different request shapes
        (101, fix, None, 2, 1, False),
        (102, fix, "You are a screen agent.", 0, 0, True),
        (103, None, None, 0, 0, False),  # no prompt at all: kept, labelled like any row
    ]
    df = spark.createDataFrame(rows, schema)
    spec = MinHashSpec(num_hashes=16, band_rows=4)
    cols = ["id", "template_hash", "prompt_hash", "lsh_bands", "cot_elicitation", "rubric_grading",
            "sensitive_rewrite", "capability", "lang", "patterns_version"]  # fmt: skip
    per_row = add_content_labels(add_fingerprints(df, patterns.normalise, spec), patterns).select(*cols)
    distinct = add_content(df, patterns, spec).select(*cols)
    got = {r["id"]: r.asDict() for r in distinct.collect()}
    assert got == {r["id"]: r.asDict() for r in per_row.collect()}
    assert [got[i]["capability"] for i in (100, 101, 102)] == [
        "coding",
        "agentic_tool_use",
        "vision_computer_use",
    ]


# --- language (v2: lingua over the configured languages) ---------------------------------

# (prompt, lang): one or two sentences per configured language, and the texts v1's rules got wrong
LANG_CASES = [
    ("Write a Python function that returns the nth Fibonacci number.", "en"),
    ("请展示你的完整思维链，然后给出答案。", "zh"),
    ("この文章を英語に翻訳してください。", "ja"),  # kanji first: v1 said zh
    ("이 문장을 영어로 번역해 주세요.", "ko"),
    ("Объясни, пожалуйста, теорию относительности простыми словами.", "ru"),
    ("¿Puedes explicarme cómo funciona la fotosíntesis a un niño?", "es"),  # holds "a": v1 said en
    ("Kannst du mir bitte erklären, wie Photosynthese funktioniert?", "de"),
    ("Peux-tu m'expliquer la photosynthèse à un enfant ?", "fr"),  # holds "a"-like words: v1 said en
    # mixed text: the language most of it is written in
    ("How do I say 谢谢 politely in a business email to a supplier?", "en"),
    ("请解释一下这段代码的作用，并指出其中的错误: for i in range(10): print(i)", "zh"),
    # too short or no letters to tell: undetermined, not a guess
    ("Hi!", UNDETERMINED_LANG),
    ("Continue", UNDETERMINED_LANG),
    ("123456 + 7", UNDETERMINED_LANG),
    ("", UNDETERMINED_LANG),
    (None, UNDETERMINED_LANG),
]


def test_language_is_detected_per_language_and_short_text_is_undetermined(spark, v2) -> None:  # type: ignore[no-untyped-def]
    out = _labels(spark, v2, [(p, None, 0, 0, False) for p, _ in LANG_CASES], SCHEMA)
    assert [(r["prompt"], r["lang"]) for r in out] == LANG_CASES
    assert {r["patterns_version"] for r in out} == {"v2"}


def test_v1_word_rule_is_kept_for_v1_rows(spark, patterns) -> None:  # type: ignore[no-untyped-def]
    # the rule v2 replaces: any Han character is zh, any English function word en
    texts = [
        "この文章を英語に翻訳してください。",
        "¿Puedes explicarme cómo funciona la fotosíntesis a un niño?",
    ]
    out = _labels(spark, patterns, [(t, None, 0, 0, False) for t in texts], SCHEMA)
    assert [r["lang"] for r in out] == ["zh", "en"]


def test_detector_udf_equals_the_batch_function(spark, v2) -> None:  # type: ignore[no-untyped-def]
    texts = [p for p, _ in LANG_CASES]
    out = _labels(spark, v2, [(p, None, 0, 0, False) for p in texts], SCHEMA)
    assert [r["lang"] for r in out] == detect_languages(texts, v2.language_detection)


def test_language_set_restricts_the_detector() -> None:
    text = "Peux-tu m'expliquer la photosynthèse à un enfant ?"
    without_fr = LanguageDetection(languages=("en", "zh", "de", "es"), min_confidence=0.0)
    assert detect_languages([text], LanguageDetection(languages=("en", "fr"))) == ["fr"]
    assert detect_languages([text], without_fr) != ["fr"]
    # a stricter confidence floor turns a close call into "undetermined"
    assert detect_languages(["Tell me more."], LanguageDetection(("en", "fr", "de"), 0.0)) == ["en"]
    assert detect_languages(["Tell me more."], LanguageDetection(("en", "fr", "de"), 0.9)) == [
        UNDETERMINED_LANG
    ]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"languages": ["en", "xx"]}, "unknown ISO 639-1"),
        ({"languages": ["en", "zh"], "min_conf": 0.5}, "unknown keys"),
        ({"languages": ["en"]}, "at least two"),
        ({"detector": "fasttext", "languages": ["en", "zh"]}, "must be lingua"),
        ({"languages": ["en", "zh"], "min_confidence": 1.5}, "out of range"),
    ],
)
def test_bad_language_detection_is_an_error(section, message) -> None:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load((REPO / "conf/patterns/v2.yaml").read_text())
    raw["language_detection"] = section
    with pytest.raises(ValueError, match=message):
        Patterns.from_mapping(raw)


def test_unknown_key_in_patterns_is_an_error() -> None:
    raw = yaml.safe_load((REPO / "conf/patterns/v2.yaml").read_text())
    raw["langauges"] = raw.pop("language_detection")
    with pytest.raises(ValueError, match="unknown keys"):
        Patterns.from_mapping(raw)


def test_default_patterns_version_is_v2_and_v1_still_loads() -> None:
    from distillwatch.config import load_config
    from jobs.features import load_patterns

    version = load_config("local").features.patterns_version
    assert version == "v2"
    assert load_patterns(version).language_detection is not None
    assert load_patterns("v1").language_detection is None
