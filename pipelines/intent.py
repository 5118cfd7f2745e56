"""Rule-based content labels of one exchange: intent flags, capability and language.

The rules are versioned data (``conf/patterns/<version>.yaml``), parsed into
:class:`Patterns`; the functions here turn them into Spark ``rlike`` expressions (no
Python UDFs). A learned classifier can later replace a rule set behind the same columns;
the ``patterns_version`` column says which produced a row.

Hard negatives are deliberate: "let's think step by step" asks for visible reasoning on
a new problem, not the model's hidden reasoning behind a given answer, so it is not
``cot_elicitation``; a templated support-ticket summary is templated (see
``pipelines.fingerprint``) but carries no intent flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

INTENT_FLAGS = ("cot_elicitation", "rubric_grading", "sensitive_rewrite")
CAPABILITIES = (
    "coding",
    "agentic_tool_use",
    "reasoning_math",
    "data_analysis",
    "vision_computer_use",
    "writing_chat",
    "translation",
    "other",
)


@dataclass(frozen=True)
class Patterns:
    """One version of the content rules (see ``conf/patterns/v1.yaml``)."""

    version: str
    normalise: tuple[tuple[str, str], ...]
    intents: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]  # flag -> (positive, negative)
    capabilities: tuple[tuple[str, str], ...]
    languages: tuple[tuple[str, str], ...]
    free_mail_domains: frozenset[str]

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Patterns:
        """Validate a parsed YAML mapping; unknown flags or capabilities are an error."""
        intents = raw.get("intents") or {}
        unknown = set(intents) - set(INTENT_FLAGS)
        missing = set(INTENT_FLAGS) - set(intents)
        if unknown or missing:
            raise ValueError(f"patterns: intents unknown {sorted(unknown)}, missing {sorted(missing)}")
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
        )


def _any_match(text: Column, patterns: tuple[str, ...]) -> Column:
    if not patterns:
        return F.lit(False)
    return F.coalesce(text.rlike("|".join(f"(?:{p})" for p in patterns)), F.lit(False))


def intent_flag(text: Column, positive: tuple[str, ...], negative: tuple[str, ...]) -> Column:
    """True when a positive rule matches and no negative one does (never null)."""
    return _any_match(text, positive) & ~_any_match(text, negative)


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


def language(text: Column, patterns: Patterns) -> Column:
    """ISO-like language code of the first matching script/word rule, else ``other``."""
    return _first_match(text, patterns.languages)


def add_content_labels(df: DataFrame, patterns: Patterns) -> DataFrame:
    """Add the three intent flags, ``capability``, ``lang`` and ``patterns_version``.

    Flags and language read the prompt; capability reads prompt plus system prompt
    and the request shape (``n_tools``, ``tool_calls``, ``has_image``).
    """
    prompt = F.coalesce(F.col("prompt"), F.lit(""))
    both = F.concat_ws("\n", F.col("system_prompt"), prompt)
    cols = {flag: intent_flag(prompt, *patterns.intents[flag]) for flag in INTENT_FLAGS}
    cols["capability"] = capability(both, F.col("n_tools"), F.col("tool_calls"), F.col("has_image"), patterns)
    cols["lang"] = language(prompt, patterns)
    cols["patterns_version"] = F.lit(patterns.version)
    return df.withColumns(cols)
