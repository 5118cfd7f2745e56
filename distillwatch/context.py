"""What every job receives: configuration, the two folders, and (lazily) Spark."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pyspark.sql import SparkSession

from distillwatch.config import Config
from distillwatch.lakehouse import Lakehouse
from distillwatch.spark import build_spark


@dataclass
class JobContext:
    cfg: Config
    landing: str
    lakehouse_root: str
    spark_extra: dict[str, str] = field(default_factory=dict)

    @cached_property
    def spark(self) -> SparkSession:
        return build_spark(self.cfg, self.lakehouse_root, self.spark_extra)

    @cached_property
    def lake(self) -> Lakehouse:
        return Lakehouse(self.spark, self.lakehouse_root, self.cfg.database)

    @property
    def mlflow_tracking_uri(self) -> str:
        """``$MLFLOW_TRACKING_URI``, else the configured URI, else SQLite under the lakehouse."""
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        if self.cfg.paths.mlflow_tracking_uri:
            return self.cfg.paths.mlflow_tracking_uri
        folder = Path(self.lakehouse_root).resolve() / "mlflow"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'mlflow.db'}"

    @property
    def mlflow_registry_uri(self) -> str:
        """``$MLFLOW_REGISTRY_URI``, else the configured registry, else the tracking store."""
        return (
            os.environ.get("MLFLOW_REGISTRY_URI")
            or self.cfg.paths.mlflow_registry_uri
            or self.mlflow_tracking_uri
        )

    @property
    def mlflow_artifact_root(self) -> str:
        return str(Path(self.lakehouse_root).resolve() / "mlflow" / "artifacts")
