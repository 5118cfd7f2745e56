"""Data quality: every daily table's Great Expectations suite and the gate it goes through.

Two modules, one direction (``gate`` uses ``suites``, never the reverse):

- :mod:`distillwatch.quality.suites`: the suite files ``conf/expectations/<table>.yaml``
  read, checked and turned into GX expectation suites, and the run-time ``$parameters``
  they may use (volume bounds from the trailing days, day boundaries...). Pure: no Spark.
- :mod:`distillwatch.quality.gate`: write–audit–publish. Runs a suite on a day's
  DataFrame, records every expectation in ``dq_results`` (schema in the table catalog) and
  the Data Docs site, and publishes the day only when no critical expectation failed.

Callers use the names below: ``publish_day`` (jobs writing a gated table), ``StagedDay``
(several tables of a day published all or none),
``validate_table`` (``distillwatch validate``), ``available_suites`` / ``load_suite``.
"""

from __future__ import annotations

from distillwatch.quality.gate import (
    ExpectationOutcome,
    GateResult,
    QualityGateFailed,
    StagedDay,
    publish_day,
    staging_format,
    validate_table,
)
from distillwatch.quality.suites import (
    ExpectationSpec,
    SuiteSpec,
    VolumeBaseline,
    available_suites,
    load_suite,
    parse_suite,
    run_parameters,
    to_gx_suite,
    volume_baseline,
)

__all__ = [
    "ExpectationOutcome",
    "ExpectationSpec",
    "GateResult",
    "QualityGateFailed",
    "StagedDay",
    "SuiteSpec",
    "VolumeBaseline",
    "available_suites",
    "load_suite",
    "parse_suite",
    "publish_day",
    "run_parameters",
    "staging_format",
    "to_gx_suite",
    "validate_table",
    "volume_baseline",
]
