"""What every job receives: configuration, the two folders, and (lazily) Spark."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

from pyspark.sql import SparkSession

from distillwatch.config import Config
from distillwatch.errors import UserError
from distillwatch.lakehouse import Lakehouse
from distillwatch.spark import build_spark
from distillwatch.storage import Layout, resolve_layout


@dataclass
class JobContext:
    cfg: Config
    landing: str
    lakehouse_root: str
    spark_extra: dict[str, str] = field(default_factory=dict)

    @property
    def layout(self) -> Layout:
        """Where each artifact goes; a :class:`UserError` naming the setting when one has no
        valid place (checked before Spark starts). Resolved on each use: cheap, and it follows
        ``cfg`` and ``$MLFLOW_TRACKING_URI`` as they are now."""
        return resolve_layout(self.cfg, self.lakehouse_root)

    @cached_property
    def spark(self) -> SparkSession:
        self.layout  # noqa: B018  (refuse an invalid layout before starting Spark)
        return build_spark(self.cfg, self.lakehouse_root, self.spark_extra)

    @cached_property
    def lake(self) -> Lakehouse:
        return Lakehouse(self.spark, self.lakehouse_root, self.cfg.database, self.cfg.catalog)

    @property
    def mlflow_tracking_uri(self) -> str:
        """``$MLFLOW_TRACKING_URI``, else the configured URI, else SQLite in the state folder
        (the lakehouse, when local: ``distillwatch.storage``)."""
        layout = self.layout
        if layout.default_tracking and layout.state is not None:
            (layout.state / "mlflow").mkdir(parents=True, exist_ok=True)
        return layout.mlflow_tracking_uri

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
        """``paths.mlflow_artifact_root``, else ``<state>/mlflow/artifacts``."""
        root = self.layout.mlflow_artifact_root
        if root is None:
            raise UserError(
                "paths.mlflow_artifact_root: a 'databricks' tracking store keeps artifacts itself"
            )
        return root
