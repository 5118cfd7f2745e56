"""Evasion switches: campaigns that adapt their surface once they know they are watched.

Each switch changes how the campaigns' traffic looks, never who sends it: the truth
(``truth/exchanges``, ``truth/accounts``: population, actor, campaign, campaign traffic or
not) is the same kind of record with or without them, and a world without switches is
byte for byte the world of the same seed before the switches existed.

- ``paraphrase``: the elicitation (reasoning behind a given answer, a full chain of thought),
  grading and censorship-rewrite prompts of GLASS-HERON and COPPER-MANTIS come from the
  paraphrase families of ``conf/simulate/prompts.yaml`` (``para_*``: en, zh, ja, ko, ru, es,
  de, written to avoid the keywords the content rules look for), with random fillers before
  and after, so no exact template repeats across accounts.
- ``rotate``: every campaign account on residential prefixes of ordinary ISPs (a few per
  account), browser or SDK user agents and TLS fingerprints that ordinary users send, one
  payment card of its own, a free-mail domain. The partner intel still lists the
  infrastructure, cards, domains and fingerprints the actors used before the rotation, so it
  misses.
- ``slow``: each campaign's daily volume spread over ``slow_factor`` times the accounts,
  each account drawn at random (no round robin), at diurnal hours of its own time zone.
- ``mix``: the hydra's resold share of its traffic set to ``resold_share`` (the plain world
  resells ~29%), its total volume unchanged.
- ``drift``: GLASS-HERON changes its template families in the middle of the window (from
  day ``days // 2``): new phrasings of the same three asks (``a_*_drift``), or, with
  ``paraphrase``, the other half of the paraphrase families.

The release pivot (the hydra moving to the new model within hours) stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EVASIONS = ("paraphrase", "rotate", "slow", "mix", "drift")
# switches that change prompt text, so they do not combine with --prompts real
TEXT_EVASIONS = frozenset({"paraphrase", "drift"})


@dataclass(frozen=True)
class Evasion:
    """The switches of one world and their parameters (defaults: :class:`WorldSettings`)."""

    switches: frozenset[str] = frozenset()
    resold_share: float = 0.7
    slow_factor: int = 3

    def __post_init__(self) -> None:
        unknown = sorted(set(self.switches) - set(EVASIONS))
        if unknown:
            raise ValueError(f"unknown evasion switch(es) {unknown}; known: {', '.join(EVASIONS)}")
        if not 0.0 < self.resold_share < 1.0:
            raise ValueError(f"resold_share must be in (0, 1), got {self.resold_share}")
        if self.slow_factor < 1:
            raise ValueError(f"slow_factor must be >= 1, got {self.slow_factor}")

    @classmethod
    def of(cls, switches: Iterable[str] = (), resold_share: float = 0.7, slow_factor: int = 3) -> Evasion:
        names = frozenset(s.strip() for s in switches if s and s.strip())
        return cls(names, float(resold_share), int(slow_factor))

    def __contains__(self, name: object) -> bool:
        return name in self.switches

    @property
    def names(self) -> list[str]:
        """The switches in their canonical order (``EVASIONS``)."""
        return [e for e in EVASIONS if e in self.switches]

    def summary(self) -> dict[str, object]:
        """What ``truth/world.json`` records (parameters only for the switches that use them)."""
        body: dict[str, object] = {"switches": self.names}
        if "mix" in self:
            body["resold_share"] = self.resold_share
        if "slow" in self:
            body["slow_factor"] = self.slow_factor
        return body


def parse_switches(text: str | None) -> tuple[str, ...]:
    """``"paraphrase,rotate"`` (the command line) as names; ``all`` is every switch."""
    if not text:
        return ()
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    if "all" in names:
        return EVASIONS
    return names


# The plain world: no switch on.
PLAIN = Evasion()
