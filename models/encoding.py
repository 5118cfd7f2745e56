"""The model's view of ``account_daily_features``: which columns are features and how
string features become numbers.

The feature list is discovered from the table schema (every numeric column except the
keys), so new feature columns flow in without code changes. String features are one-hot
encoded against fixed vocabularies from ``conf/`` (not learned from data), so training
and scoring always agree on the columns, and an unseen value lands in ``<name>=other``.
The resulting :class:`FeatureSpec` is stored with every model version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, StringType, StructType

KEYS = ("event_date", "account_id")
LABEL_COL = "label"
# Columns a training set carries besides features; never features themselves.
NON_FEATURES = (*KEYS, LABEL_COL, "campaign", "actor", "decided_at")


@dataclass(frozen=True)
class FeatureSpec:
    """Ordered numeric features plus one-hot vocabularies: the model's input contract."""

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Model input column names, in order (one-hot columns as ``name=value``)."""
        cols = list(self.numeric)
        # Sorted by name: the spec round-trips through MLmodel YAML, which reorders keys.
        for name in sorted(self.categorical):
            cols.extend(f"{name}={v}" for v in (*_known(self.categorical[name]), "other"))
        return cols

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {
            "numeric": list(d["numeric"]),
            "categorical": {k: list(v) for k, v in d["categorical"].items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSpec:
        return cls(
            numeric=tuple(d["numeric"]),
            categorical={k: tuple(v) for k, v in dict(d.get("categorical", {})).items()},
        )


def feature_spec_from_schema(
    schema: StructType,
    levels: Mapping[str, Sequence[str]],
    exclude: Sequence[str] = (),
) -> FeatureSpec:
    """Numeric columns minus keys and ``exclude``; string columns with a vocabulary in ``levels``.

    A string column without a configured vocabulary is ignored (it cannot be encoded
    consistently between training and scoring).
    """
    skip = set(NON_FEATURES) | set(exclude)
    numeric = tuple(
        f.name for f in schema.fields if isinstance(f.dataType, NumericType) and f.name not in skip
    )
    categorical = {
        f.name: tuple(levels[f.name])
        for f in schema.fields
        if isinstance(f.dataType, StringType) and f.name in levels and f.name not in skip
    }
    if not numeric and not categorical:
        raise ValueError(f"no feature columns in schema {schema.simpleString()}")
    return FeatureSpec(numeric=numeric, categorical=categorical)


def encode(df: DataFrame, spec: FeatureSpec, keep: Sequence[str] = ()) -> DataFrame:
    """``keep`` columns plus one double column per ``spec.columns`` entry.

    Missing numeric values stay null (xgboost treats them as missing, the anomaly scorer
    ignores them). A numeric feature absent from ``df`` is an error: a model cannot
    score a table that lost one of its inputs.
    """
    missing = [c for c in (*spec.numeric, *spec.categorical) if c not in df.columns]
    if missing:
        raise ValueError(f"feature columns missing from the input: {missing}")
    cols = [F.col(c) for c in keep]
    cols += [F.col(c).cast("double").alias(c) for c in spec.numeric]
    for name in sorted(spec.categorical):
        value = F.col(name)
        known = _known(spec.categorical[name])
        for level in known:
            cols.append(F.when(value == level, 1.0).otherwise(0.0).alias(f"{name}={level}"))
        # "other" collects unseen values, nulls and a configured "other" level alike.
        in_known = F.coalesce(value.isin(*known), F.lit(False)) if known else F.lit(False)
        cols.append(F.when(in_known, 0.0).otherwise(1.0).alias(f"{name}=other"))
    return df.select(*cols)


def _known(levels: Sequence[str]) -> tuple[str, ...]:
    """The vocabulary without "other" (which is always the last, catch-all column)."""
    return tuple(v for v in levels if v != "other")
