"""Data-quality suites: YAML files under ``conf/expectations/`` turned into Great
Expectations 1.x suites, plus the run-time parameters a suite may use (volume bounds,
day boundaries, known actors).

Pure: no Spark session, no table I/O (GX itself is imported only by :func:`to_gx_suite`).
:mod:`distillwatch.quality.gate` runs these suites on a day, records and publishes.

Suite file format (one per table)::

    table: account_scores
    date_column: event_date
    columns:                     # expands to exist + of-type expectations (critical)
      event_date: DateType
    expectations:
      - name: account_id_not_null
        type: expect_column_values_to_not_be_null
        kwargs: {column: account_id}
        severity: critical       # critical blocks publication; warning is recorded only

A kwarg value written ``$name`` is a run-time parameter (GX ``$PARAMETER``), filled in
by :func:`run_parameters`: ``day``, ``day_start``, ``day_end``, ``fresh_after``,
``volume_min``, ``volume_max``, ``known_actors``.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from distillwatch.config import ConfigError, QualityConf

if TYPE_CHECKING:  # pragma: no cover
    import great_expectations as gx

SEVERITIES = ("critical", "warning")
RUN_PARAMETERS = ("day", "day_start", "day_end", "fresh_after", "volume_min", "volume_max", "known_actors")
# Expectations that can never put a redacted column's values into a result.
_SAFE_ON_REDACTED = frozenset(
    {"expect_column_to_exist", "expect_column_values_to_be_of_type", "expect_column_values_to_not_be_null"}
)


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite file: GX type, its kwargs (``$x`` = parameter), severity."""

    name: str
    type: str
    kwargs: Mapping[str, Any]
    severity: str

    @property
    def critical(self) -> bool:
        return self.severity == "critical"

    @property
    def parameters(self) -> frozenset[str]:
        return frozenset(v[1:] for v in self.kwargs.values() if _is_param(v))

    @property
    def column(self) -> str | None:
        col = self.kwargs.get("column")
        if col is None and "column_list" in self.kwargs:
            col = ",".join(self.kwargs["column_list"])
        if col is None and "column_A" in self.kwargs:
            col = f"{self.kwargs['column_A']},{self.kwargs['column_B']}"
        return str(col) if col is not None else None


@dataclass(frozen=True)
class SuiteSpec:
    """A table's suite: the expectations a published day of ``table`` must meet."""

    table: str
    date_column: str
    expectations: tuple[ExpectationSpec, ...]
    source: str = ""

    @property
    def parameters(self) -> frozenset[str]:
        return frozenset().union(*(e.parameters for e in self.expectations))


# -- suite files ------------------------------------------------------------------
def _is_param(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$") and len(value) > 1


def _camel(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.split("_"))


def suite_path(conf_dir: Path, table: str) -> Path:
    return conf_dir / "expectations" / f"{table}.yaml"


def available_suites(conf_dir: Path) -> list[str]:
    return sorted(p.stem for p in (conf_dir / "expectations").glob("*.yaml"))


def parse_suite(raw: Mapping[str, Any], redacted: Iterable[str] = (), source: str = "") -> SuiteSpec:
    """Validate a suite mapping (as read from YAML) into a :class:`SuiteSpec`.

    Fails fast on unknown keys, severities, GX types and parameters, and on any
    expectation that could copy a redacted column's values (raw prompt text) into a result.
    """
    where = source or "suite"
    unknown = sorted(set(raw) - {"table", "date_column", "columns", "expectations"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}")
    if "table" not in raw:
        raise ConfigError(f"{where}: missing 'table'")
    specs: list[ExpectationSpec] = []
    for col, spark_type in (raw.get("columns") or {}).items():
        specs.append(ExpectationSpec(f"{col}_exists", "expect_column_to_exist", {"column": col}, "critical"))
        specs.append(
            ExpectationSpec(
                f"{col}_is_{spark_type}",
                "expect_column_values_to_be_of_type",
                {"column": col, "type_": str(spark_type)},
                "critical",
            )
        )
    redacted = set(redacted)
    for i, item in enumerate(raw.get("expectations") or []):
        here = f"{where}: expectations[{i}]"
        bad = sorted(set(item) - {"name", "type", "kwargs", "severity"})
        if bad:
            raise ConfigError(f"{here}: unknown key(s) {bad}")
        severity = item.get("severity", "critical")
        if severity not in SEVERITIES:
            raise ConfigError(f"{here}: severity must be one of {SEVERITIES}, got {severity!r}")
        etype = str(item.get("type", ""))
        if not etype.startswith("expect_"):
            raise ConfigError(f"{here}: type must be a GX expectation type (expect_...), got {etype!r}")
        kwargs = dict(item.get("kwargs") or {})
        spec = ExpectationSpec(str(item.get("name") or f"{etype}_{i}"), etype, kwargs, severity)
        unknown_params = sorted(spec.parameters - set(RUN_PARAMETERS))
        if unknown_params:
            raise ConfigError(f"{here}: unknown parameter(s) {unknown_params}; known: {list(RUN_PARAMETERS)}")
        cols = {
            kwargs.get("column"),
            kwargs.get("column_A"),
            kwargs.get("column_B"),
            *kwargs.get("column_list", ()),
        }
        if cols & redacted and etype not in _SAFE_ON_REDACTED:
            raise ConfigError(f"{here}: {etype} on a redacted column would copy its values into results")
        specs.append(spec)
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where}: duplicate expectation name(s) {dupes}")
    return SuiteSpec(str(raw["table"]), str(raw.get("date_column", "event_date")), tuple(specs), source)


def load_suite(conf_dir: Path, table: str, redacted: Iterable[str] = ()) -> SuiteSpec:
    """Read ``conf/expectations/<table>.yaml``."""
    path = suite_path(conf_dir, table)
    if not path.is_file():
        raise ConfigError(
            f"no expectation suite for table {table!r}: {path} (known: {available_suites(conf_dir)})"
        )
    spec = parse_suite(yaml.safe_load(path.read_text()) or {}, redacted, source=str(path))
    if spec.table != table:
        raise ConfigError(f"{path}: declares table {spec.table!r}, expected {table!r}")
    return spec


def to_gx_suite(spec: SuiteSpec, suite_name: str) -> gx.ExpectationSuite:
    """Translate a suite spec into GX expectation objects (``$x`` -> ``{"$PARAMETER": x}``).

    Each expectation carries its name and severity in ``meta`` so results map back.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    expectations = []
    for e in spec.expectations:
        cls = getattr(gxe, _camel(e.type), None)
        if cls is None:
            raise ConfigError(f"{spec.source}: {e.name}: GX has no expectation {e.type!r}")
        kwargs = {k: ({"$PARAMETER": v[1:]} if _is_param(v) else v) for k, v in e.kwargs.items()}
        try:
            expectations.append(cls(**kwargs, meta={"name": e.name, "severity": e.severity}))
        except Exception as exc:  # pydantic validation of kwargs
            raise ConfigError(f"{spec.source}: {e.name}: invalid kwargs for {e.type}: {exc}") from exc
    return gx.ExpectationSuite(name=suite_name, expectations=expectations)


# -- run-time parameters --------------------------------------------------------------
@dataclass(frozen=True)
class VolumeBaseline:
    """The trailing published days' row counts a day is compared with."""

    counts: tuple[int, ...]
    median: float | None
    volume_min: int
    volume_max: int | None

    def describe(self) -> str:
        if self.median is None:
            return f"no baseline ({len(self.counts)} prior day(s))"
        return f"trailing median {self.median:g} over {len(self.counts)} day(s): allowed [{self.volume_min}, {self.volume_max}]"


def volume_baseline(daily_counts: Sequence[int], conf: QualityConf) -> VolumeBaseline:
    """Row-count bounds from the trailing days' counts (at most ``volume_window_days``).

    With fewer than ``volume_min_history_days`` days there is no baseline: any count passes.
    """
    counts = tuple(int(c) for c in daily_counts)
    if len(counts) < conf.volume_min_history_days:
        return VolumeBaseline(counts, None, 0, None)
    median = float(statistics.median(counts))
    return VolumeBaseline(
        counts,
        median,
        int(math.ceil(median * conf.volume_min_ratio)),
        int(math.floor(median * conf.volume_max_ratio)),
    )


def run_parameters(
    day: dt.date, conf: QualityConf, baseline: VolumeBaseline, known_actors: Sequence[str] = ()
) -> dict[str, Any]:
    """The values of every ``$parameter`` a suite may use, for one day."""
    start = dt.datetime.combine(day, dt.time())
    end = start + dt.timedelta(days=1)
    return {
        "day": day.isoformat(),
        "day_start": start,
        "day_end": end,
        "fresh_after": end - dt.timedelta(hours=conf.freshness_lag_hours),
        "volume_min": baseline.volume_min,
        "volume_max": baseline.volume_max,
        "known_actors": sorted(set(known_actors)),
    }
