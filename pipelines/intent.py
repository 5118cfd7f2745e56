"""Rule-based content labels of one exchange: intent flags, capability and language.

The rules are versioned data (``conf/patterns/<version>.yaml``), parsed into
:class:`Patterns`; the functions here turn them into Spark ``rlike`` expressions (no
Python UDFs). A learned classifier can later replace a rule set behind the same columns;
the ``patterns_version`` column says which produced a row.

Language is the one label no regex gets right (v1's word rule called any text holding
"a" or "is" English, and any text with a Han character Chinese, Japanese included). From
v2 a pattern set names a language-identification model instead (:class:`LanguageDetection`,
the ``lingua`` library restricted to a configured set of languages), run as a vectorised
pandas UDF over distinct texts, one detector per Python worker.

Hard negatives are deliberate: "let's think step by step" asks for visible reasoning on
a new problem, not the model's hidden reasoning behind a given answer, so it is not
``cot_elicitation``; a templated support-ticket summary is templated (see
``pipelines.fingerprint``) but carries no intent flag.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from distillwatch.vocabulary import CAPABILITIES

if TYPE_CHECKING:
    from lingua import LanguageDetector

INTENT_FLAGS = ("cot_elicitation", "rubric_grading", "sensitive_rewrite")
# ``lang`` of a text no language is confidently detected in (too short, no letters, a
# language outside the configured set), as v1's rules already wrote it.
UNDETERMINED_LANG = "other"

_PATTERN_KEYS = frozenset(
    {
        "version",
        "normalise",
        "intents",
        "capabilities",
        "languages",
        "language_detection",
        "free_mail_domains",
    }
)


@dataclass(frozen=True)
class LanguageDetection:
    """``lang`` from a language-identification model (``language_detection`` in a pattern set).

    ``languages`` are the ISO 639-1 codes the detector chooses among: restricting it to the
    languages the traffic is written in keeps short texts from landing on a rare language
    that shares their letters. A text is :data:`UNDETERMINED_LANG` when it has no letters,
    when its best language's confidence is below ``min_confidence`` (the confidences of the
    configured languages sum to 1), or when the runner-up is within ``min_margin`` of it (a
    one-word greeting, "Continue": French 0.32, English 0.31). Only the first ``max_chars``
    characters are read.
    """

    languages: tuple[str, ...]
    min_confidence: float = 0.3
    min_margin: float = 0.15
    max_chars: int = 1000

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> LanguageDetection:
        """Validate ``language_detection``: unknown keys and codes lingua does not know are errors."""
        from lingua import IsoCode639_1

        known = {"detector", "languages", "min_confidence", "min_margin", "max_chars"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"patterns: language_detection unknown keys {sorted(unknown)}")
        if raw.get("detector", "lingua") != "lingua":
            raise ValueError(f"patterns: language_detection.detector must be lingua, got {raw['detector']!r}")
        codes = tuple(str(c).lower() for c in raw.get("languages") or ())
        if len(codes) < 2:
            raise ValueError("patterns: language_detection needs at least two languages")
        bad = sorted(c for c in codes if not hasattr(IsoCode639_1, c.upper()))
        if bad or UNDETERMINED_LANG in codes:
            raise ValueError(
                f"patterns: language_detection unknown ISO 639-1 codes {bad or [UNDETERMINED_LANG]}"
            )
        spec = cls(
            languages=codes,
            min_confidence=float(raw.get("min_confidence", cls.min_confidence)),
            min_margin=float(raw.get("min_margin", cls.min_margin)),
            max_chars=int(raw.get("max_chars", cls.max_chars)),
        )
        if not (0.0 <= spec.min_confidence <= 1.0 and 0.0 <= spec.min_margin <= 1.0) or spec.max_chars < 1:
            raise ValueError(f"patterns: language_detection out of range: {spec}")
        return spec


@dataclass(frozen=True)
class Patterns:
    """One version of the content rules (see ``conf/patterns/v2.yaml``).

    ``lang`` comes from ``language_detection`` when the set has one, else from the
    first matching ``languages`` rule (v1).
    """

    version: str
    normalise: tuple[tuple[str, str], ...]
    intents: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]  # flag -> (positive, negative)
    capabilities: tuple[tuple[str, str], ...]
    languages: tuple[tuple[str, str], ...]
    free_mail_domains: frozenset[str]
    language_detection: LanguageDetection | None = None
    # flag -> lowercase substrings one of which every positive rule needs (empty: no gate)
    intent_gates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Patterns:
        """Validate a parsed YAML mapping; unknown keys, flags or capabilities are an error."""
        unknown_keys = set(raw) - _PATTERN_KEYS
        if unknown_keys:
            raise ValueError(f"patterns: unknown keys {sorted(unknown_keys)}")
        if raw.get("languages") and raw.get("language_detection"):
            raise ValueError("patterns: languages (rules) and language_detection are exclusive")
        detection = raw.get("language_detection")
        intents = raw.get("intents") or {}
        unknown = set(intents) - set(INTENT_FLAGS)
        missing = set(INTENT_FLAGS) - set(intents)
        if unknown or missing:
            raise ValueError(f"patterns: intents unknown {sorted(unknown)}, missing {sorted(missing)}")
        for flag, spec in intents.items():
            bad_keys = set(spec) - {"positive", "negative", "gate"}
            bad_gate = [g for g in spec.get("gate") or () if not g or str(g) != str(g).lower()]
            if bad_keys or bad_gate:
                raise ValueError(
                    f"patterns: intents.{flag}: unknown keys {sorted(bad_keys)}, gate not lowercase {bad_gate}"
                )
        caps = tuple((str(c), str(p)) for c, p in raw.get("capabilities") or ())
        bad_caps = {c for c, _ in caps} - set(CAPABILITIES)
        if bad_caps:
            raise ValueError(f"patterns: unknown capabilities {sorted(bad_caps)}")
        return cls(
            version=str(raw["version"]),
            normalise=tuple((str(p), str(r)) for p, r in raw.get("normalise") or ()),
            intents={
                k: (tuple(v.get("positive") or ()), tuple(v.get("negative") or ()))
                for k, v in intents.items()
            },
            capabilities=caps,
            languages=tuple((str(c), str(p)) for c, p in raw.get("languages") or ()),
            free_mail_domains=frozenset(d.lower() for d in raw.get("free_mail_domains") or ()),
            language_detection=LanguageDetection.from_mapping(detection) if detection else None,
            intent_gates={k: tuple(str(g) for g in v.get("gate") or ()) for k, v in intents.items()},
        )


def _any_match(text: Column, patterns: tuple[str, ...]) -> Column:
    if not patterns:
        return F.lit(False)
    return F.coalesce(text.rlike("|".join(f"(?:{p})" for p in patterns)), F.lit(False))


def _contains_any(lowered: Column, parts: tuple[str, ...]) -> Column:
    return F.coalesce(reduce(lambda a, b: a | b, [lowered.contains(p) for p in parts]), F.lit(False))


def intent_flag(
    text: Column,
    positive: tuple[str, ...],
    negative: tuple[str, ...],
    gate: tuple[str, ...] = (),
    lowered: Column | None = None,
) -> Column:
    """True when a positive rule matches and no negative one does (never null).

    ``gate``: lowercase substrings one of which every positive rule needs ("reason",
    "思考", ...), looked for in ``lowered`` (the text in lower case; computed here if not
    given). A substring search is cheaper than the rules' alternations, and Spark evaluates
    ``&`` left to right, so most texts never reach the regular expressions.
    """
    flag = _any_match(text, positive) & ~_any_match(text, negative)
    if not gate:
        return flag
    return _contains_any(F.lower(text) if lowered is None else lowered, gate) & flag


def shape_capability(n_tools: Column, tool_calls: Column, has_image: Column, otherwise: Column) -> Column:
    """The request shape decides first (an image, tools offered or called), else ``otherwise``."""
    return (
        F.when(F.coalesce(has_image, F.lit(False)), F.lit("vision_computer_use"))
        .when(
            (F.coalesce(n_tools, F.lit(0)) > 0) | (F.coalesce(tool_calls, F.lit(0)) > 0),
            F.lit("agentic_tool_use"),
        )
        .otherwise(otherwise)
    )


def _first_match(text: Column, rules: tuple[tuple[str, str], ...]) -> Column:
    """The name of the first ``(name, regex)`` rule that matches the text, else ``other``."""
    expr = None
    for name, pattern in rules:
        cond = F.coalesce(text.rlike(pattern), F.lit(False))
        expr = F.when(cond, F.lit(name)) if expr is None else expr.when(cond, F.lit(name))
    return F.lit("other") if expr is None else expr.otherwise(F.lit("other"))


def text_capability(text: Column, patterns: Patterns) -> Column:
    """The first capability rule that matches the text, else ``other``."""
    return _first_match(text, patterns.capabilities)


def capability(
    text: Column, n_tools: Column, tool_calls: Column, has_image: Column, patterns: Patterns
) -> Column:
    """The exchange's capability: request shape first (images, tools), then the first rule that matches."""
    return shape_capability(n_tools, tool_calls, has_image, text_capability(text, patterns))


@functools.lru_cache(maxsize=4)
def _detector(codes: tuple[str, ...]) -> LanguageDetector:
    """One lingua detector per Python worker and language set (models load lazily, ~20 MB a language)."""
    # A Spark task owns one core: without this lingua's batch calls start a thread per core
    # in every Python worker, one worker per task slot.
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_iso_codes_639_1(
        *(getattr(IsoCode639_1, c.upper()) for c in codes)
    ).build()


def detect_languages(texts: Sequence[str | None], spec: LanguageDetection) -> list[str]:
    """The ``lang`` of each text, in one batch call of the detector (see :class:`LanguageDetection`)."""
    detector = _detector(spec.languages)
    clipped = [(t or "")[: spec.max_chars] for t in texts]
    out = []
    for values in detector.compute_language_confidence_values_in_parallel(clipped):
        best = values[0].value if values else 0.0
        runner_up = values[1].value if len(values) > 1 else 0.0
        if best <= 0.0 or best < spec.min_confidence or best - runner_up < spec.min_margin:
            out.append(UNDETERMINED_LANG)
        else:
            out.append(values[0].language.iso_code_639_1.name.lower())
    return out


def detected_language(text: Column, spec: LanguageDetection) -> Column:
    """``lang`` by the detector, as a vectorised pandas UDF (one batch of texts per Arrow batch).

    Apply it to distinct texts (:func:`pipelines.silver.add_content` does): the detector is
    the costliest label, ~0.1 ms a text on one core.
    """

    @F.pandas_udf("string")  # type: ignore[call-overload]
    def _detect(texts: pd.Series) -> pd.Series:
        return pd.Series(detect_languages(texts.where(texts.notna(), None).tolist(), spec), index=texts.index)

    return _detect(F.substring(F.coalesce(text, F.lit("")), 1, spec.max_chars))


def language(text: Column, patterns: Patterns) -> Column:
    """ISO 639-1 code of the text's language, else ``other``: from the detector when the
    pattern set configures one, else from the first matching script/word rule (v1)."""
    if patterns.language_detection is not None:
        return detected_language(text, patterns.language_detection)
    return _first_match(text, patterns.languages)


def add_content_labels(df: DataFrame, patterns: Patterns) -> DataFrame:
    """Add the three intent flags, ``capability``, ``lang`` and ``patterns_version``.

    Flags and language read the prompt; capability reads prompt plus system prompt
    and the request shape (``n_tools``, ``tool_calls``, ``has_image``).
    """
    prompt = F.coalesce(F.col("prompt"), F.lit(""))
    both = F.concat_ws("\n", F.col("system_prompt"), prompt)
    # the gates read the prompt in lower case: one column, not one lower() per gate
    df = df.withColumn("_lprompt", F.lower(prompt))
    cols = {
        flag: intent_flag(
            prompt, *patterns.intents[flag], patterns.intent_gates.get(flag, ()), F.col("_lprompt")
        )
        for flag in INTENT_FLAGS
    }
    cols["capability"] = capability(both, F.col("n_tools"), F.col("tool_calls"), F.col("has_image"), patterns)
    cols["lang"] = language(prompt, patterns)
    cols["patterns_version"] = F.lit(patterns.version)
    return df.withColumns(cols).drop("_lprompt")
