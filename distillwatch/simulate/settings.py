"""The simulator's settings: which world ``distillwatch simulate`` writes by default.

Not production configuration (``distillwatch.config``): the pipelines never read them.
The defaults live here, in :class:`WorldSettings`; ``conf/simulate/world.yaml`` (where it
exists, under ``$DISTILLWATCH_CONF_DIR`` when that is set) overrides some of them, and the
command line's ``--start/--days/--scale/--seed/--evasion/--resold-share`` override both.
Unknown keys are an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from distillwatch.config import ConfigError, from_mapping, repo_conf_dir
from distillwatch.errors import UserError
from distillwatch.simulate.evasion import Evasion


class SettingsError(ConfigError, UserError):
    """A malformed simulator settings file: the CLI prints the message, no traceback."""


@dataclass(frozen=True)
class WorldSettings:
    # First simulated day, YYYY-MM-DD.
    start: str = "2026-02-01"
    # Number of days.
    days: int = 14
    # 1.0 is about 1M exchanges a day.
    scale: float = 0.01
    # The one random seed: the same settings always give the same records.
    seed: int = 7
    # Evasion switches of the campaigns (distillwatch.simulate.evasion.EVASIONS): none is the
    # plain world; any of paraphrase, rotate, slow, mix, drift, combinable.
    evasion: tuple[str, ...] = ()
    # mix: the hydra's resold share of its traffic (the plain world resells ~29%).
    resold_share: float = 0.7
    # slow: each campaign's volume over this many times its accounts.
    slow_factor: int = 3

    def __post_init__(self) -> None:
        self.evasion_plan()  # unknown switches and out-of-range parameters fail here

    def evasion_plan(self) -> Evasion:
        """The switches and their parameters, validated."""
        try:
            return Evasion.of(self.evasion, self.resold_share, self.slow_factor)
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc

    def override(self, **values: Any) -> WorldSettings:
        """These settings with the given values, except those that are None (not given)."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})


def settings_file() -> Path:
    return repo_conf_dir() / "simulate" / "world.yaml"


def load_settings(path: str | Path | None = None) -> WorldSettings:
    """:class:`WorldSettings` defaults overridden by ``path`` (default :func:`settings_file`)
    where that file exists; a ``path`` given explicitly must exist."""
    file = Path(path) if path else settings_file()
    if not file.is_file():
        if path:
            raise SettingsError(f"missing simulator settings file {file}")
        return WorldSettings()
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        settings: WorldSettings = from_mapping(WorldSettings, raw, str(file))
        return settings
    except yaml.YAMLError as exc:
        raise SettingsError(f"{file}: not valid YAML: {exc}") from exc
    except ConfigError as exc:
        raise SettingsError(str(exc)) from exc
