"""Configuration (no Spark): the dataclasses are the one place defaults live, every
environment loads, unknown keys are an error, and the simulator's settings are apart."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from distillwatch.config import (
    BASE_LAYER,
    Config,
    ConfigError,
    environments,
    from_mapping,
    load_config,
    repo_conf_dir,
)
from distillwatch.errors import UserError
from distillwatch.simulate.settings import WorldSettings, load_settings, settings_file


def _repeated_defaults(cls: typing.Any, raw: dict[str, typing.Any], where: str) -> list[str]:
    """Keys of ``raw`` whose value, parsed, equals the dataclass default of ``cls``."""
    default = cls()
    hints = typing.get_type_hints(cls)
    out = []
    for key, value in raw.items():
        if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            out += _repeated_defaults(hints[key], value, f"{where}.{key}")
        elif from_mapping(cls, {key: value}, where) == default:
            out.append(f"{where}.{key}")
    return out


def test_base_layer_never_repeats_a_default() -> None:
    base = repo_conf_dir() / f"{BASE_LAYER}.yaml"
    if not base.is_file():
        return  # no value differs from the defaults in every environment
    raw = yaml.safe_load(base.read_text()) or {}
    assert _repeated_defaults(Config, raw, "base") == [], "base.yaml repeats dataclass defaults"


def test_simulator_settings_file_never_repeats_a_default() -> None:
    file = settings_file()
    assert file.is_file()
    raw = yaml.safe_load(file.read_text()) or {}
    assert _repeated_defaults(WorldSettings, raw, file.name) == []


def test_repeated_default_is_detected() -> None:
    assert _repeated_defaults(
        Config, {"database": "distillwatch", "models": {"seed": 7, "max_depth": 5}}, "b"
    ) == [
        "b.database",
        "b.models.seed",
    ]


@pytest.mark.parametrize("env", ["local", "databricks"])
def test_each_environment_loads(env: str) -> None:
    assert env in environments()
    cfg = load_config(env)
    assert cfg.env == env and cfg.database == "distillwatch"
    assert not hasattr(cfg, "simulate")
    # the one default that used to be in base.yaml only
    assert "coding" in cfg.models.categorical_levels["top_capability"]


def test_environments_override_only_their_keys() -> None:
    local, dbx = load_config("local"), load_config("databricks")
    assert local.spark.jars_dir == ".jars" and local.spark.shuffle_partitions == 8
    assert dbx.spark.master is None and dbx.spark.shuffle_partitions == 400
    assert dbx.paths.mlflow_tracking_uri == "databricks" and dbx.paths.mlflow_registry_uri == "databricks-uc"
    # Unity Catalog: three-level table and model names, the experiment under a workspace path
    assert (dbx.catalog, dbx.database) == ("main", "distillwatch") and local.catalog is None
    assert dbx.models.registered_model == "main.distillwatch.distillwatch_account_detector"
    assert dbx.models.experiment.startswith("/")
    assert not dbx.paths.lakehouse.startswith("/Volumes/")
    named = {"registered_model", "experiment"}
    assert dataclasses.replace(dbx.models, **{k: getattr(local.models, k) for k in named}) == local.models


def test_unknown_keys_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "dev.yaml").write_text("models:\n  holdout_dayz: 2\n")
    with pytest.raises(ConfigError, match=r"conf\.models: unknown key\(s\) \['holdout_dayz'\]"):
        load_config("dev", tmp_path)
    (tmp_path / "dev.yaml").write_text("simulate:\n  days: 2\n")  # no longer production config
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['simulate'\]"):
        load_config("dev", tmp_path)


def test_wrong_types_and_unknown_environments_are_errors(tmp_path: Path) -> None:
    (tmp_path / "dev.yaml").write_text("spark:\n  shuffle_partitions: many\n")
    with pytest.raises(ConfigError, match="shuffle_partitions: expected int"):
        load_config("dev", tmp_path)
    with pytest.raises(ConfigError, match=r"unknown environment 'prod'.*known: \['dev'\]"):
        load_config("prod", tmp_path)
    with pytest.raises(ConfigError, match="unknown environment 'base'"):
        load_config("base", tmp_path)


def test_an_optional_base_layer_sits_under_the_environment(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("database: dw\nmodels:\n  seed: 3\n  max_depth: 6\n")
    (tmp_path / "dev.yaml").write_text("models:\n  max_depth: 8\n")
    cfg = load_config("dev", tmp_path)
    assert (cfg.database, cfg.models.seed, cfg.models.max_depth) == ("dw", 3, 8)
    assert environments(tmp_path) == ["dev"]


def test_simulator_settings_defaults_file_and_overrides(tmp_path: Path) -> None:
    assert load_settings() == WorldSettings()
    file = tmp_path / "world.yaml"
    file.write_text("days: 3\nscale: 1\n")
    got = load_settings(file)
    assert got == WorldSettings(days=3, scale=1.0)
    assert got.override(days=None, seed=11) == WorldSettings(days=3, scale=1.0, seed=11)
    file.write_text("dayz: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['dayz'\]") as err:
        load_settings(file)
    assert isinstance(err.value, UserError)  # the CLI prints it without a traceback
    with pytest.raises(ConfigError, match="missing"):
        load_settings(tmp_path / "nope.yaml")


def test_simulator_settings_follow_the_conf_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLWATCH_CONF_DIR", str(tmp_path))
    assert load_settings() == WorldSettings()  # no conf/simulate/world.yaml: the defaults
    (tmp_path / "simulate").mkdir()
    (tmp_path / "simulate" / "world.yaml").write_text("start: '2026-03-01'\n")
    assert load_settings().start == "2026-03-01"
