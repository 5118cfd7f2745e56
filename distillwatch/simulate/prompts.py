"""Prompt banks (``conf/simulate/prompts.yaml``) rendered as Spark column expressions.

A family is a list of paraphrased templates with ``{SLOT}`` markers; rendering picks a
template and every slot value from hashes of the exchange, so text is varied but
reproducible, and no Python runs per row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pyspark import SparkContext
from pyspark.sql import Column
from pyspark.sql import functions as F

from distillwatch.config import repo_conf_dir

_SLOT_RE = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
_NUMBER_SLOT_RE = re.compile(r"^N[0-9]$")


@dataclass(frozen=True)
class PromptBank:
    """Template families, slot banks and fixed system prompts."""

    families: dict[str, tuple[str, ...]]
    slots: dict[str, tuple[str, ...]]
    linked: dict[str, str]
    system_prompts: dict[str, tuple[str, ...]]

    def family(self, name: str) -> tuple[str, ...]:
        if name not in self.families:
            raise KeyError(f"unknown prompt family {name!r}; known: {sorted(self.families)}")
        return self.families[name]


@lru_cache(maxsize=4)
def load_bank(path: str | None = None) -> PromptBank:
    """Parse the prompt bank; every slot a template uses must have a bank."""
    file = Path(path) if path else repo_conf_dir() / "simulate" / "prompts.yaml"
    raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    bank = PromptBank(
        families={k: tuple(v) for k, v in raw["families"].items()},
        slots={k: tuple(v) for k, v in raw["slots"].items()},
        linked=dict(raw.get("linked", {})),
        system_prompts={k: tuple(v) for k, v in raw.get("system_prompts", {}).items()},
    )
    texts = [t for fam in bank.families.values() for t in fam] + [v for vs in bank.slots.values() for v in vs]
    for text in texts:
        for slot in _SLOT_RE.findall(text):
            if not _NUMBER_SLOT_RE.match(slot) and slot not in bank.slots:
                raise ValueError(f"{file}: slot {{{slot}}} has no bank (in {text[:60]!r})")
    for slot, partner in bank.linked.items():
        if len(bank.slots[slot]) != len(bank.slots[partner]):
            raise ValueError(f"{file}: linked slots {slot} and {partner} differ in length")
    return bank


_ARRAYS: dict[tuple[int, tuple[object, ...]], Column] = {}


def literal_array(values: Sequence[object]) -> Column:
    """``array(lit, lit, ...)``, built once per Spark context and list of values.

    A world uses the same banks in hundreds of expressions; building each literal anew
    costs one driver-to-JVM call per value, which dominated generation time.
    """
    sc = SparkContext._active_spark_context
    key = (id(sc), tuple(values))
    if key not in _ARRAYS:
        _ARRAYS[key] = F.array(*[F.lit(v) for v in values])
    return _ARRAYS[key]


def pick(values: Sequence[str], h: Column) -> Column:
    """One of ``values`` chosen by the hash column ``h`` (a literal array lookup)."""
    if len(values) == 1:
        return F.lit(values[0])
    arr = literal_array(values)
    return F.element_at(arr, (F.pmod(h, F.lit(len(values))) + 1).cast("int"))


def render(bank: PromptBank, templates: Sequence[str], h: Column, seed: int, key: Sequence[Column]) -> Column:
    """A prompt from ``templates`` with every slot filled.

    ``h`` picks the template; each slot's value is picked by ``xxhash64(seed, *key, slot)``
    (a linked slot uses its partner's hash). Nested slots (a CSV holding ``{N1}``) work
    because banks are substituted before numbers.
    """
    text = pick(templates, h)
    used = sorted({s for t in templates for s in _SLOT_RE.findall(t)})
    nested = sorted(
        {s for name in used if name in bank.slots for v in bank.slots[name] for s in _SLOT_RE.findall(v)}
    )
    names = [s for s in used if not _NUMBER_SLOT_RE.match(s)]
    numbers = sorted({s for s in used + nested if _NUMBER_SLOT_RE.match(s)})
    for slot in names:
        salt = bank.linked.get(slot, slot)
        value = pick(bank.slots[slot], F.xxhash64(F.lit(seed), *key, F.lit(salt)))
        text = F.replace(text, F.lit("{" + slot + "}"), value)
    for slot in numbers:
        value = (F.pmod(F.xxhash64(F.lit(seed), *key, F.lit(slot)), F.lit(997)) + 3).cast("string")
        text = F.replace(text, F.lit("{" + slot + "}"), value)
    return text
